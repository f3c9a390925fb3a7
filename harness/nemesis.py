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
from harness.faults import network
from harness.faults.targets import for_target
from harness.settings import HarnessSettings

log = logging.getLogger(__name__)

FAULT_KINDS = ("kill", "pause", "partition", "latency", "outage")
SERVICES = ("gateway", "segmentation", "runner", "archive")
DEPENDENCIES = ("nats", "postgres", "opensearch")


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

    def to_json(self) -> dict[str, Any]:
        return {
            **self.fault.to_json(),
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
) -> list[Fault]:
    """Faults one after another (never overlapping), leaving the last 10% of the run quiet."""
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise HarnessError(
            f"unknown fault kinds {sorted(unknown)}; known: {', '.join(FAULT_KINDS)}"
        )
    usable = [k for k in kinds if k not in ("partition", "latency") or links]
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
            target = rng.choice(SERVICES + DEPENDENCIES)
        elif kind == "outage":
            target = rng.choice(DEPENDENCIES)
        else:
            target = rng.choice(list(links))
        faults.append(Fault(round(t, 1), kind, target, length))
        t += length + rng.uniform(*gap_s)
    return faults


async def inject(settings: HarnessSettings, fault: Fault, target: str = "local") -> None:
    primitives = for_target(target)
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


async def heal(settings: HarnessSettings, fault: Fault, target: str = "local") -> None:
    primitives = for_target(target)
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
            await inject(settings, fault, target)
            await asyncio.sleep(fault.duration)  # the fault's planned length, not a readiness wait
        except Exception as exc:
            window.error = f"inject: {exc}"
            log.warning("fault %s failed: %s", fault, exc)
        finally:
            try:
                await heal(settings, fault, target)
            except Exception as exc:
                window.error = (window.error or "") + f" heal: {exc}"
                log.warning("heal of %s failed: %s", fault, exc)
            window.healed_at = time.monotonic() - t0
            progress(f"[{window.healed_at:6.1f}s] healed {fault.kind} {fault.target}")
    return windows
