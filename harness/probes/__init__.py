"""Small measurements of a running deployment, through its public endpoints."""
