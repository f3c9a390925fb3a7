"""The ALT_LAS gateway reference service."""
