"""Process faults on the local stack, driven by the state file (any process can inject them).

Every fault has its heal: `kill`/`stop` → `start`; `pause` → `resume`. `start` brings a
component back with the command, data dir and port it had, and waits until it is healthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Literal

from harness.errors import HarnessError
from harness.infra._process import ManagedProcess, pid_alive, poll, terminate_pid
from harness.infra.postgres import clear_stale_lock, fast_shutdown
from harness.settings import HarnessSettings
from harness.stack.health import check_stack
from harness.stack.state import StackState, load_state

Signal = Literal["SIGKILL", "SIGTERM"]


def _local(settings: HarnessSettings) -> StackState:
    state = load_state(settings)
    if state.target != "local":
        raise HarnessError(f"process faults need the local stack, not {state.target!r}")
    return state


def _pid(state: StackState, name: str) -> int:
    record = state.processes.get(name)
    if record is None:
        known = ", ".join(sorted(state.processes))
        raise HarnessError(f"no process named {name!r}; known: {known}")
    return record.pid


async def kill(settings: HarnessSettings, name: str, sig: Signal = "SIGKILL") -> None:
    """Kill a component (its whole process group). Heal with `start`."""
    state = _local(settings)
    pid = _pid(state, name)
    if sig == "SIGTERM":
        await terminate_pid(pid, name)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)

    async def _dead() -> bool:
        return not pid_alive(pid)

    await poll(_dead, 10, f"{name} (pid {pid}) to die after SIGKILL")


async def stop(settings: HarnessSettings, name: str) -> None:
    """A clean outage: stop and wait (data kept). Heal with `start`."""
    if name != "postgres":
        await kill(settings, name, "SIGTERM")
        return
    await fast_shutdown(_pid(_local(settings), name), 30)


async def start(settings: HarnessSettings, name: str, timeout_s: float = 120.0) -> None:
    """Start a stopped or killed component again, exactly as it ran, and wait until healthy."""
    await wait_healthy(settings, launch(settings, name), timeout_s)


def launch(settings: HarnessSettings, name: str) -> ManagedProcess:
    """Start it again and record its new pid; no wait (`wait_healthy`)."""
    state = _local(settings)
    record = state.processes[name] if name in state.processes else None
    if record is None:
        raise HarnessError(f"no process named {name!r}")
    if pid_alive(record.pid):
        raise HarnessError(f"{name} is still running (pid {record.pid}); kill or stop it first")
    if name == "postgres":
        clear_stale_lock(record.argv)
    process = ManagedProcess.from_record(record)
    process.start()
    state.processes[name] = process.record(**record.extra)
    state.save(settings.state_file)
    return process


async def wait_healthy(
    settings: HarnessSettings, process: ManagedProcess, timeout_s: float = 120.0
) -> None:
    """Until a component `launch` started is healthy (ComponentFailed if it exits)."""
    name = process.name
    state = _local(settings)

    async def _healthy() -> bool:
        process.check_alive()
        health = {h.name: h for h in await check_stack(state)}
        return health[name].healthy

    await poll(_healthy, timeout_s, f"{name} to be healthy after it was started again")


async def pause(settings: HarnessSettings, name: str) -> None:
    """Freeze a component (SIGSTOP to its process group): it holds its sockets but answers
    nothing, like a long GC pause or a hung host. Heal with `resume`."""
    state = _local(settings)
    os.killpg(_pid(state, name), signal.SIGSTOP)


async def resume(settings: HarnessSettings, name: str) -> None:
    state = _local(settings)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(_pid(state, name), signal.SIGCONT)


async def running(settings: HarnessSettings, name: str) -> bool:
    return pid_alive(_pid(_local(settings), name))


async def heal_all(settings: HarnessSettings, timeout_s: float = 120.0) -> list[str]:
    """Resume every paused component and start every dead one; returns what was healed."""
    state = _local(settings)
    healed = []
    for name, record in state.processes.items():
        if pid_alive(record.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pid, signal.SIGCONT)
        else:
            healed.append(name)
    # Dependencies first, so services reconnect to something that is up; Toxiproxy before
    # NATS, since a cluster's routes run through it.
    order = ["toxiproxy", "postgres", "opensearch", "archive", "runner", "segmentation", "gateway"]
    # A cluster's dead nodes start together: one alone never reaches a quorum, so it would
    # never be healthy (its /healthz wants a meta leader).
    nodes = [n for n in healed if n == "nats" or n.startswith("nats-")]
    rest = sorted(
        (n for n in healed if n not in nodes),
        key=lambda n: order.index(n) if n in order else len(order),
    )
    for name in [n for n in rest if n == "toxiproxy"]:
        await start(settings, name, timeout_s)
    # Launched one at a time (each records its pid in the state file), then awaited together.
    launched = [launch(settings, n) for n in nodes]
    await asyncio.gather(*(wait_healthy(settings, p, timeout_s) for p in launched))
    for name in [n for n in rest if n != "toxiproxy"]:
        await start(settings, name, timeout_s)
    return healed
