"""The ALT_LAS runner reference service."""
