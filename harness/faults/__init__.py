"""Fault primitives: each fault has an explicit heal.

`process` — SIGKILL, SIGTERM, pause/resume (SIGSTOP/SIGCONT) and restart of any component of the
local stack, and dependency outages (stop now, start later on the same data).
"""
