"""Attacks on the gateway's perimeter that must all be refused (`harness attack`,
scenarios/security)."""
