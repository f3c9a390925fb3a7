"""Chaos Toolkit actions: inject and heal faults, publish a poison message, run the workload.

Process actions (kill, stop, start, pause, resume) act on whichever target the state file
names: processes of the local stack, containers of the docker target. Network partitions are
Toxiproxy links on the local stack and network disconnects on the docker target; resource
limits exist on the docker target only.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

from harness.chaos._runtime import run, run_dir, settings
from harness.checkers.pipeline import check
from harness.faults import container, network
from harness.faults.targets import TargetFaults, for_target
from harness.settings import HarnessSettings
from harness.stack.state import load_state, nats_access
from harness.workload.pipeline import Workload, WorkloadConfig

__all__ = [
    "add_toxic",
    "disconnect_service",
    "heal_all",
    "heal_link",
    "kill_service",
    "limit_resources",
    "partition",
    "pause_service",
    "publish_poison",
    "reconnect_service",
    "restart_dependency",
    "restart_service",
    "resume_service",
    "run_workload",
    "start_service",
    "stop_dependency",
    "unlimit_resources",
]


def _faults(s: HarnessSettings) -> TargetFaults:
    """The fault primitives of the stack's target: processes, or containers."""
    return for_target(load_state(s).target)


def kill_service(name: str, signal: str = "SIGKILL") -> str:
    """Kill a service or dependency (SIGKILL or SIGTERM). Heal with start_service."""
    s = settings()
    run(_faults(s).kill(s, name, signal))
    return f"{name} killed with {signal}"


def start_service(name: str, timeout_s: float = 120) -> str:
    """Start a killed or stopped component again and wait until it is healthy."""
    s = settings()
    run(_faults(s).start(s, name, float(timeout_s)))
    return f"{name} started and healthy"


def restart_service(name: str, signal: str = "SIGTERM", timeout_s: float = 120) -> str:
    kill_service(name, signal)
    return start_service(name, timeout_s)


def stop_dependency(name: str) -> str:
    """A clean outage of NATS, PostgreSQL or OpenSearch (data kept). Heal with start_service."""
    s = settings()
    run(_faults(s).stop(s, name))
    return f"{name} stopped"


def restart_dependency(name: str, down_for_s: float = 0, timeout_s: float = 120) -> str:
    """Stop a dependency, keep it down `down_for_s` seconds (the fault), start it again."""
    stop_dependency(name)
    time.sleep(float(down_for_s))  # the outage's planned length, not a readiness wait
    return start_service(name, timeout_s)


def pause_service(name: str, seconds: float = 0) -> str:
    """SIGSTOP a component; with `seconds`, SIGCONT it after that long (else resume_service)."""
    s = settings()
    run(_faults(s).pause(s, name))
    if seconds:
        time.sleep(seconds)  # the pause's planned length
        resume_service(name)
    return f"{name} paused"


def resume_service(name: str) -> str:
    s = settings()
    run(_faults(s).resume(s, name))
    return f"{name} resumed"


def add_toxic(link: str, kind: str, stream: str = "downstream", **attributes: Any) -> str:
    run(network.add_toxic(settings(), link, kind, stream=stream, **attributes))  # type: ignore[arg-type]
    return f"{kind} {attributes} on {link}"


def partition(link: str) -> str:
    run(network.partition(settings(), link))
    return f"{link} cut"


def heal_link(link: str) -> str:
    run(network.heal(settings(), link))
    return f"{link} healed"


def heal_all() -> str:
    """Rollback: every link healed, every paused component resumed, every dead one started."""
    s = settings()
    state = load_state(s)
    if "toxiproxy" in state.endpoints:
        run(network.heal_all(s))
    healed = run(_faults(s).heal_all(s))
    return f"healed; restarted: {healed or 'none'}"


def disconnect_service(name: str) -> str:
    """Partition a container from the stack's network (docker target). Heal with
    reconnect_service."""
    run(container.disconnect(settings(), name))
    return f"{name} disconnected"


def reconnect_service(name: str, timeout_s: float = 60) -> str:
    run(container.reconnect(settings(), name, float(timeout_s)))
    return f"{name} reconnected"


def limit_resources(name: str, cpus: float | None = None, memory_mb: int | None = None) -> str:
    """Throttle a container's CPU and/or memory (docker target). Heal with unlimit_resources."""
    cpu = float(cpus) if cpus is not None else None
    memory = int(memory_mb) if memory_mb is not None else None
    run(container.limit(settings(), name, cpus=cpu, memory_mb=memory))
    return f"{name} limited to cpus={cpu} memory_mb={memory}"


def unlimit_resources(name: str) -> str:
    run(container.unlimit(settings(), name))
    return f"{name} unlimited"


def publish_poison(subject: str = "altlas.command.submitted") -> str:
    """Publish a message that is not a valid event straight to JetStream."""
    access = nats_access(load_state(settings()))
    marker = "poison-" + secrets.token_hex(4)

    async def _publish() -> None:
        nc = await access.connect()
        try:
            await nc.jetstream().publish(
                subject, f"{{not an event {marker}".encode(), headers={"Nats-Msg-Id": marker}
            )
        finally:
            await nc.close()

    run(_publish())
    return marker


def run_workload(
    name: str, duration_s: float = 30, rate_per_s: float = 3, recovery_s: float = 120
) -> dict[str, Any]:
    """Run the pipeline workload (meant as a background activity), then recover, final-read,
    check, and write `<state>/chaos/<name>.verdict.json` for the `history_verdict` probe."""
    # Values from the experiment's configuration arrive as strings.
    duration_s, rate_per_s, recovery_s = float(duration_s), float(rate_per_s), float(recovery_s)
    folder = run_dir()
    (folder / f"{name}.started").write_text(str(time.time()))
    state = load_state(settings())

    async def _run() -> dict[str, Any]:
        workload = Workload(state, WorkloadConfig(rate_per_s=rate_per_s, recovery_s=recovery_s))
        # How the history's clock maps to wall time (a restore's recovery point is a wall time).
        clock = {"wall": time.time(), "mono": time.monotonic(), "start": workload.history.started}
        (folder / f"{name}.clock.json").write_text(json.dumps(clock))
        stop = asyncio.Event()
        task = asyncio.create_task(workload.run(stop))
        await asyncio.sleep(duration_s)  # how long the workload runs: its planned length
        stop.set()
        await task
        await workload.finish()
        await workload.aclose()
        workload.history.to_jsonl(folder / f"{name}.history.jsonl")
        verdict = check(workload.history.ops, recovery_window_s=recovery_s)
        result: dict[str, Any] = verdict.to_json()
        result["summary"] = str(verdict)
        return result

    result = run(_run())
    (folder / f"{name}.verdict.json").write_text(json.dumps(result, indent=2, default=str))
    return {"valid": result["valid"], "by_kind": result["by_kind"], "counts": result["counts"]}
