"""Stack targets: bring ALT_LAS up, describe it (the state file), check it, tear it down."""
