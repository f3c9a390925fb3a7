"""Container faults on the docker target, driven by the state file (any process can inject them).

Every fault has its heal: `kill`/`stop` → `start`; `pause` → `resume`; `disconnect` →
`reconnect` (a real partition: the container leaves the stack's network, so every link to and
from it is cut, host port included); `limit` → `unlimit` (CPU and memory through the cgroup,
live). `heal_all` undoes whatever is still in effect. A container reconnects with the address
it had, so connections that were open survive a short partition as they would on a network.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from harness.containers import engine
from harness.errors import HarnessError
from harness.infra._process import ProcessRecord, poll
from harness.settings import HarnessSettings
from harness.stack.health import check_stack
from harness.stack.state import StackState, load_state

Signal = Literal["SIGKILL", "SIGTERM"]
# Dependencies first, so that services come back to something that is up.
START_ORDER = ("nats", "postgres", "opensearch", "archive", "runner", "segmentation", "gateway")
# What `unlimit` restores: no CPU quota; memory as good as unlimited (the engine refuses to
# lower the swap limit below memory, so both are raised together).
UNLIMITED_MEMORY = 1 << 40


def _docker(settings: HarnessSettings) -> StackState:
    state = load_state(settings)
    if state.target != "docker":
        raise HarnessError(f"container faults need the docker target, not {state.target!r}")
    return state


def _record(state: StackState, name: str) -> ProcessRecord:
    record = state.processes.get(name)
    if record is None or "container_id" not in record.extra:
        known = ", ".join(sorted(state.processes))
        raise HarnessError(f"no container named {name!r}; known: {known}")
    return record


def _container(record: ProcessRecord) -> Any:
    return engine.client().containers.get(record.extra["container_id"])


async def _status(record: ProcessRecord) -> str:
    def _get() -> str:
        container = _container(record)
        try:
            return str(container.status)
        finally:
            container.client.close()

    return await asyncio.to_thread(_get)


async def _call(record: ProcessRecord, method: str, **kwargs: Any) -> Any:
    """Call a docker SDK container method in a thread (the SDK blocks)."""

    def _run() -> Any:
        container = _container(record)
        try:
            return getattr(container, method)(**kwargs)
        finally:
            container.client.close()

    return await asyncio.to_thread(_run)


async def _wait_status(
    record: ProcessRecord, wanted: set[str], timeout_s: float, what: str
) -> None:
    async def _reached() -> bool:
        return await _status(record) in wanted

    await poll(_reached, timeout_s, what, interval_s=0.1)


async def kill(settings: HarnessSettings, name: str, sig: Signal = "SIGKILL") -> None:
    """Kill a component's container (SIGKILL, or SIGTERM with a grace). Heal with `start`."""
    record = _record(_docker(settings), name)
    if sig == "SIGTERM":
        await _call(record, "stop", timeout=15)
    else:
        await _call(record, "kill", signal="SIGKILL")
    await _wait_status(record, {"exited", "dead"}, 20, f"{name}'s container to exit after {sig}")


async def stop(settings: HarnessSettings, name: str) -> None:
    """A clean outage: `docker stop` (the image's stop signal, e.g. SIGINT for PostgreSQL's
    fast shutdown), data kept in the container. Heal with `start`."""
    record = _record(_docker(settings), name)
    await _call(record, "stop", timeout=30)
    await _wait_status(record, {"exited", "dead"}, 40, f"{name}'s container to stop")


async def start(settings: HarnessSettings, name: str, timeout_s: float = 120.0) -> None:
    """Start a stopped or killed container again and wait until the component is healthy."""
    state = _docker(settings)
    record = _record(state, name)
    if await _status(record) == "running":
        raise HarnessError(f"{name}'s container is still running; kill or stop it first")
    await _call(record, "start")
    await _refresh_pid(settings, state, name)
    await _wait_healthy(state, name, timeout_s, f"{name} to be healthy after it was started again")


async def _refresh_pid(settings: HarnessSettings, state: StackState, name: str) -> None:
    """Record the container's new main pid (status checks that it is alive)."""
    record = state.processes[name]

    def _pid() -> int:
        container = _container(record)
        try:
            return int(container.attrs["State"]["Pid"])
        finally:
            container.client.close()

    record.pid = await asyncio.to_thread(_pid)
    state.save(settings.state_file)


async def _wait_healthy(state: StackState, name: str, timeout_s: float, what: str) -> None:
    async def _healthy() -> bool:
        health = {h.name: h for h in await check_stack(state)}
        return health[name].healthy

    await poll(_healthy, timeout_s, what, interval_s=0.2)


async def pause(settings: HarnessSettings, name: str) -> None:
    """Freeze every process of the container (the cgroup freezer): it holds its sockets but
    answers nothing, like a long GC pause or a hung host. Heal with `resume`."""
    await _call(_record(_docker(settings), name), "pause")


async def resume(settings: HarnessSettings, name: str) -> None:
    record = _record(_docker(settings), name)
    if await _status(record) == "paused":
        await _call(record, "unpause")


def _network(record: ProcessRecord) -> Any:
    return engine.client().networks.get(record.extra["network"])


async def disconnect(settings: HarnessSettings, name: str) -> None:
    """Partition a container from the rest of the stack (and the host). Heal with `reconnect`."""
    state = _docker(settings)
    record = _record(state, name)

    def _disconnect() -> str:
        container = _container(record)
        network = _network(record)
        try:
            settings_ = container.attrs["NetworkSettings"]["Networks"].get(network.name)
            if settings_ is None:
                raise HarnessError(f"{name} is not connected to {network.name}")
            network.disconnect(container, force=True)
            return str(settings_["IPAddress"])
        finally:
            container.client.close()
            network.client.close()

    # The address is kept, so `reconnect` (from any process) restores exactly this endpoint.
    record.extra["ip"] = await asyncio.to_thread(_disconnect)
    state.save(settings.state_file)


async def connected(settings: HarnessSettings, name: str) -> bool:
    record = _record(_docker(settings), name)

    def _connected() -> bool:
        container = _container(record)
        try:
            return record.extra["network"] in container.attrs["NetworkSettings"]["Networks"]
        finally:
            container.client.close()

    return await asyncio.to_thread(_connected)


async def reconnect(settings: HarnessSettings, name: str, timeout_s: float = 60.0) -> None:
    """Put a partitioned container back on the network, with its address and aliases."""
    state = _docker(settings)
    record = _record(state, name)
    if await connected(settings, name):
        return

    def _reconnect() -> None:
        network = _network(record)
        try:
            address = record.extra.get("ip") or None
            network.connect(
                record.extra["container_id"], aliases=record.extra["aliases"], ipv4_address=address
            )
        finally:
            network.client.close()

    await asyncio.to_thread(_reconnect)
    if await _status(record) == "running":
        await _wait_healthy(state, name, timeout_s, f"{name} to be healthy after reconnecting")


async def limit(
    settings: HarnessSettings, name: str, *, cpus: float | None = None, memory_mb: int | None = None
) -> None:
    """Throttle a running container: at most `cpus` CPUs and `memory_mb` MB of memory (the
    kernel reclaims, then OOM-kills, above it). Heal with `unlimit`."""
    if cpus is None and memory_mb is None:
        raise HarnessError("limit what? give cpus, memory_mb or both")
    kwargs: dict[str, Any] = {}
    if cpus is not None:
        kwargs.update(cpu_period=100_000, cpu_quota=max(1_000, int(cpus * 100_000)))
    if memory_mb is not None:
        kwargs.update(mem_limit=memory_mb * 2**20, memswap_limit=memory_mb * 2**20)
    await _call(_record(_docker(settings), name), "update", **kwargs)


async def unlimit(settings: HarnessSettings, name: str) -> None:
    record = _record(_docker(settings), name)
    await _call(
        record,
        "update",
        cpu_quota=-1,
        mem_limit=UNLIMITED_MEMORY,
        memswap_limit=UNLIMITED_MEMORY,
    )


async def limits(settings: HarnessSettings, name: str) -> dict[str, int]:
    """CPU quota (-1 or 0: none) and memory limit (0: none), as the engine has them."""
    record = _record(_docker(settings), name)

    def _limits() -> dict[str, int]:
        container = _container(record)
        try:
            host = container.attrs["HostConfig"]
            return {
                "cpu_quota": int(host.get("CpuQuota") or 0),
                "memory": int(host.get("Memory") or 0),
            }
        finally:
            container.client.close()

    return await asyncio.to_thread(_limits)


async def running(settings: HarnessSettings, name: str) -> bool:
    return await _status(_record(_docker(settings), name)) == "running"


async def heal_all(settings: HarnessSettings, timeout_s: float = 120.0) -> list[str]:
    """Undo every container fault still in effect; returns what was healed, and how."""
    state = _docker(settings)
    healed = []
    dead = []
    for name, record in state.processes.items():
        status = await _status(record)
        if status == "paused":
            await _call(record, "unpause")
            healed.append(f"{name}: resumed")
        if not await connected(settings, name):
            await reconnect(settings, name, timeout_s)
            healed.append(f"{name}: reconnected")
        current = await limits(settings, name)
        if current["cpu_quota"] > 0 or 0 < current["memory"] < UNLIMITED_MEMORY:
            await unlimit(settings, name)
            healed.append(f"{name}: limits lifted")
        if status in ("exited", "dead", "created"):
            dead.append(name)
    for name in sorted(dead, key=lambda n: START_ORDER.index(n) if n in START_ORDER else 99):
        await start(settings, name, timeout_s)
        healed.append(f"{name}: started")
    return healed
