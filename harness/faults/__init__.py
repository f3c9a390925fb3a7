"""Fault primitives: each fault has an explicit heal.

`process` — SIGKILL, SIGTERM, pause/resume (SIGSTOP/SIGCONT) and restart of any component of the
local stack, and dependency outages (stop now, start later on the same data).
`network` — Toxiproxy faults on every link of the local stack (partition, latency, resets, …).
`container` — the docker target's containers: kill, stop/start, pause, network disconnect,
CPU and memory limits.
"""
