"""Launchers for the stack's infrastructure: NATS, PostgreSQL, OpenSearch, service processes."""
