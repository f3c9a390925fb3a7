"""Clients that talk to a deployment through its public endpoints only."""
