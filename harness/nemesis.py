"""The nemesis: a seeded, reproducible schedule of faults, injected while a workload runs.

Each fault is (at, kind, target, duration): injected `at` seconds into the run, healed
`duration` seconds later. The same seed, duration and fault kinds give the same schedule.
On the local stack faults hit processes and Toxiproxy links; on the docker target they hit
containers, and a partition disconnects a container from the stack's network.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import HarnessError
from harness.faults import cluster, network, process
from harness.faults.targets import for_target
from harness.settings import HarnessSettings

log = logging.getLogger(__name__)

FAULT_KINDS = (
    "kill",
    "pause",
    "partition",
    "latency",
    "outage",
    # A JetStream cluster's nodes (harness up --nats-cluster 3): one node killed, frozen, cut
    # off from the others; the events stream's leader killed.
    "nats-node-kill",
    "nats-node-pause",
    "nats-partition",
    "nats-leader-kill",
)
NODE_KINDS = ("nats-node-kill", "nats-node-pause", "nats-partition", "nats-leader-kill")
SERVICES = ("gateway", "segmentation", "runner", "archive")
DEPENDENCIES = ("nats", "postgres", "opensearch")
LEADER = "leader"  # the target of nats-leader-kill, named when it is injected


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    target: str
    duration: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultWindow:
    fault: Fault
    injected_at: float | None = None
    healed_at: float | None = None
    error: str | None = None
    hit: str | None = None  # what the fault hit (the leader it killed), once injected

    def to_json(self) -> dict[str, Any]:
        return {
            **self.fault.to_json(),
            "hit": self.hit,
            "injected_at": self.injected_at,
            "healed_at": self.healed_at,
            "error": self.error,
        }


def schedule(
    seed: int,
    duration_s: float,
    kinds: Sequence[str],
    links: Sequence[str] = (),
    *,
    gap_s: tuple[float, float] = (4.0, 10.0),
    length_s: tuple[float, float] = (3.0, 12.0),
    nodes: Sequence[str] = (),
) -> list[Fault]:
    """Faults one after another (never overlapping), leaving the last 10% of the run quiet.

    `nodes`: a NATS cluster's nodes; they stand in for "nats" among the dependencies, and the
    node kinds need them."""
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise HarnessError(
            f"unknown fault kinds {sorted(unknown)}; known: {', '.join(FAULT_KINDS)}"
        )
    if not nodes and set(kinds) & set(NODE_KINDS):
        raise HarnessError(
            f"{', '.join(sorted(set(kinds) & set(NODE_KINDS)))} need a NATS cluster"
            " (harness up --nats-cluster 3, or campaign --nats-cluster 3)"
        )
    dependencies = tuple(d for d in DEPENDENCIES if d != "nats" or not nodes) + tuple(nodes)
    # Partitions and latency act on Toxiproxy links (a node's partition on its route links).
    usable = [k for k in kinds if k not in ("partition", "latency", "nats-partition") or links]
    if not usable:
        return []
    rng = random.Random(seed)
    faults: list[Fault] = []
    t = rng.uniform(*gap_s)
    while True:
        kind = rng.choice(usable)
        length = round(rng.uniform(*length_s), 1)
        if t + length > duration_s * 0.9:
            break
        if kind in ("kill", "pause"):
            target = rng.choice(SERVICES + dependencies)
        elif kind == "outage":
            target = rng.choice(dependencies)
        elif kind == "nats-leader-kill":
            target = LEADER
        elif kind in NODE_KINDS:
            target = rng.choice(list(nodes))
        else:
            target = rng.choice(list(links))
        faults.append(Fault(round(t, 1), kind, target, length))
        t += length + rng.uniform(*gap_s)
    return faults


async def inject(settings: HarnessSettings, fault: Fault, target: str = "local") -> str:
    """Inject the fault; what it hit (the leader's name, for nats-leader-kill)."""
    primitives = for_target(target)
    if fault.kind in NODE_KINDS:
        return await _inject_node(settings, fault)
    if fault.kind == "kill":
        await primitives.kill(settings, fault.target, "SIGKILL")
    elif fault.kind == "outage":
        await primitives.stop(settings, fault.target)
    elif fault.kind == "pause":
        await primitives.pause(settings, fault.target)
    elif fault.kind == "partition":
        await primitives.partition(settings, fault.target)
    elif fault.kind == "latency":
        await network.add_toxic(settings, fault.target, "latency", latency=400, jitter=150)
    return fault.target


async def _inject_node(settings: HarnessSettings, fault: Fault) -> str:
    node = await cluster.stream_leader(settings) if fault.target == LEADER else fault.target
    if fault.kind in ("nats-node-kill", "nats-leader-kill"):
        await process.kill(settings, node, "SIGKILL")
    elif fault.kind == "nats-node-pause":
        await process.pause(settings, node)
    else:
        await cluster.partition_node(settings, node)
    return node


async def heal(
    settings: HarnessSettings, fault: Fault, target: str = "local", hit: str | None = None
) -> None:
    """Heal the fault; `hit` is what `inject` said it hit (default: the fault's target)."""
    primitives = for_target(target)
    if fault.kind in NODE_KINDS:
        node = hit or fault.target
        if node == LEADER:
            return  # never injected: the leader could not be named
        if fault.kind in ("nats-node-kill", "nats-leader-kill"):
            if not await process.running(settings, node):
                await process.start(settings, node)
        elif fault.kind == "nats-node-pause":
            await process.resume(settings, node)
        else:
            await cluster.heal_node(settings, node)
        return
    if fault.kind in ("kill", "outage"):
        await primitives.start(settings, fault.target)
    elif fault.kind == "pause":
        await primitives.resume(settings, fault.target)
    elif fault.kind == "partition":
        await primitives.unpartition(settings, fault.target)
    else:
        await network.heal(settings, fault.target)


async def run(
    settings: HarnessSettings,
    faults: Sequence[Fault],
    t0: float,
    stop: asyncio.Event,
    progress: Callable[[str], None] = lambda _m: None,
    *,
    target: str = "local",
) -> list[FaultWindow]:
    """Inject and heal each fault on time (relative to monotonic `t0`) on the stack's `target`."""
    windows = []
    for fault in faults:
        delay = t0 + fault.at - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                break  # stopped early
            except TimeoutError:
                pass
        window = FaultWindow(fault)
        windows.append(window)
        try:
            window.injected_at = time.monotonic() - t0
            progress(
                f"[{window.injected_at:6.1f}s] {fault.kind} {fault.target} for {fault.duration}s"
            )
            window.hit = await inject(settings, fault, target)
            if window.hit != fault.target:
                progress(f"          {fault.target} is {window.hit}")
            await asyncio.sleep(fault.duration)  # the fault's planned length, not a readiness wait
        except Exception as exc:
            window.error = f"inject: {exc}"
            log.warning("fault %s failed: %s", fault, exc)
        finally:
            try:
                await heal(settings, fault, target, window.hit)
            except Exception as exc:
                window.error = (window.error or "") + f" heal: {exc}"
                log.warning("heal of %s failed: %s", fault, exc)
            window.healed_at = time.monotonic() - t0
            progress(f"[{window.healed_at:6.1f}s] healed {fault.kind} {fault.target}")
    return windows
