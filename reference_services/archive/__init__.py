"""The ALT_LAS archive reference service."""
