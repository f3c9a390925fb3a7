"""The ALT_LAS segmentation reference service."""
