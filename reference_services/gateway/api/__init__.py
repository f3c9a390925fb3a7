"""The gateway's routers under /api/v1 (auth, commands, archive), each on its own module; what
they share — the per-app services and the authentication dependencies — is in `deps`."""
