"""Execution planning for an ALT: dependency layers, failure propagation, simulated execution.

Pure decision logic (no I/O, no clock, no randomness): the runner service does the waiting and
the bookkeeping, this module decides what may run when and what a simulated run yields.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "CyclicDependencyError",
    "SimulatedOutcome",
    "UnknownDependencyError",
    "blocked_by_failure",
    "execution_layers",
    "overall_status",
    "simulate",
    "success_rate",
]

DEFAULT_PRIORITY: Final = 3
SIMULATE_MS_MAX: Final = 10_000
SIMULATED_FAILURE: Final = "simulated failure requested by segment parameters"
STATUSES: Final = frozenset({"completed", "failed", "skipped"})


class CyclicDependencyError(ValueError):
    """The segments' dependencies form a cycle; `cycle` lists it, first id repeated at the end."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__(f"dependency cycle: {' -> '.join(self.cycle)}")


class UnknownDependencyError(ValueError):
    """A segment depends on an id that no segment has."""

    def __init__(self, segment_id: str, missing_id: str) -> None:
        self.segment_id = segment_id
        self.missing_id = missing_id
        super().__init__(f"segment {segment_id!r} depends on unknown segment {missing_id!r}")


@dataclass(frozen=True)
class SimulatedOutcome:
    """What a simulated execution of one segment produced."""

    ok: bool
    duration_ms: int
    output: dict[str, Any] | None
    error: str | None


def _segment_id(segment: Mapping[str, Any], index: int) -> str:
    sid = segment.get("id")
    if not isinstance(sid, str) or not sid:
        raise ValueError(f"segment at index {index} has no string id")
    return sid


def _dependencies(segment: Mapping[str, Any]) -> list[str]:
    # dict.fromkeys drops duplicates but keeps the declared order, which cycle reports follow.
    return list(dict.fromkeys(str(dep) for dep in segment.get("dependencies") or ()))


def _priority(segment: Mapping[str, Any], sid: str) -> int:
    priority = segment.get("priority", DEFAULT_PRIORITY)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"segment {sid!r} has a non-integer priority {priority!r}")
    return priority


def _graph(segments: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, list[str]]]:
    """Ids in order and each id's dependencies, without validating that the dependencies exist."""
    ids: list[str] = []
    deps: dict[str, list[str]] = {}
    for index, segment in enumerate(segments):
        sid = _segment_id(segment, index)
        if sid in deps:
            raise ValueError(f"duplicate segment id {sid!r}")
        ids.append(sid)
        deps[sid] = _dependencies(segment)
    return ids, deps


def _find_cycle(remaining: Sequence[str], deps: Mapping[str, list[str]]) -> list[str]:
    """A cycle among `remaining`, where every node still has a dependency inside the set."""
    inside = set(remaining)
    path: list[str] = []
    position: dict[str, int] = {}
    node = remaining[0]
    while node not in position:
        position[node] = len(path)
        path.append(node)
        node = next(dep for dep in deps[node] if dep in inside)
    # Walking dependencies goes against execution order; report the cycle in execution order.
    cycle = path[position[node] :]
    cycle.reverse()
    return [*cycle, cycle[0]]


def execution_layers(segments: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Layers of segment ids (Kahn's algorithm); a layer's dependencies all lie in earlier layers.

    Each segment sits in the earliest layer its dependencies allow; within a layer the order is
    highest priority first, then original order. Raises UnknownDependencyError for a dependency
    on a missing id, CyclicDependencyError for a cycle (a self-dependency included) and
    ValueError for a missing or duplicate id or a non-integer priority.
    """
    ids, deps = _graph(segments)
    index = {sid: i for i, sid in enumerate(ids)}
    priority = {sid: _priority(segments[index[sid]], sid) for sid in ids}
    dependents: dict[str, list[str]] = {sid: [] for sid in ids}
    for sid in ids:
        for dep in deps[sid]:
            if dep not in index:
                raise UnknownDependencyError(sid, dep)
            dependents[dep].append(sid)

    waiting_on = {sid: len(deps[sid]) for sid in ids}
    layer = [sid for sid in ids if waiting_on[sid] == 0]
    layers: list[list[str]] = []
    while layer:
        layer.sort(key=lambda sid: (-priority[sid], index[sid]))
        layers.append(layer)
        next_layer: list[str] = []
        for sid in layer:
            for dependent in dependents[sid]:
                waiting_on[dependent] -= 1
                if waiting_on[dependent] == 0:
                    next_layer.append(dependent)
        layer = next_layer

    remaining = [sid for sid in ids if waiting_on[sid] > 0]
    if remaining:
        raise CyclicDependencyError(_find_cycle(remaining, deps))
    return layers


def blocked_by_failure(segments: Sequence[Mapping[str, Any]], failed: AbstractSet[str]) -> set[str]:
    """Every segment that transitively depends on a failed one, the failed ones excluded.

    Pure reachability over the declared dependencies, so it also terminates on a cyclic graph.
    """
    ids, deps = _graph(segments)
    dependents: dict[str, list[str]] = {}
    for sid in ids:
        for dep in deps[sid]:
            dependents.setdefault(dep, []).append(sid)
    reached: set[str] = set()
    queue = deque(failed)
    while queue:
        for dependent in dependents.get(queue.popleft(), ()):
            if dependent not in reached:
                reached.add(dependent)
                queue.append(dependent)
    return reached - set(failed)


def _simulated_duration(parameters: Mapping[str, Any], content: str) -> int:
    requested = parameters.get("simulate_ms")
    if isinstance(requested, int | float) and not isinstance(requested, bool):
        if math.isfinite(requested):
            # Clamped here too: the runner really sleeps this long, whoever built the segment.
            return min(max(int(requested), 0), SIMULATE_MS_MAX)
    # hashlib, not hash(): str hashes are salted per process and durations must be reproducible.
    digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") % 20 + 1


def simulate(segment: Mapping[str, Any]) -> SimulatedOutcome:
    """Deterministic stand-in for executing a segment; never runs a command.

    Fails iff parameters.simulate_fail is exactly True. Duration is parameters.simulate_ms
    (clamped to 0..10000) if numeric, else 1..20 ms derived from a SHA-256 of the content.
    """
    parameters = segment.get("parameters")
    if not isinstance(parameters, Mapping):
        parameters = {}
    content = str(segment.get("content", ""))
    task_type = str(segment.get("task_type", "general"))
    duration = _simulated_duration(parameters, content)
    if parameters.get("simulate_fail") is True:
        return SimulatedOutcome(
            ok=False, duration_ms=duration, output=None, error=SIMULATED_FAILURE
        )
    output = {"task_type": task_type, "summary": f"{task_type} done: {content[:80]}"}
    return SimulatedOutcome(ok=True, duration_ms=duration, output=output, error=None)


def success_rate(statuses: Mapping[str, str]) -> float:
    """Share of completed segments, rounded to 4 decimals; 0.0 when there are none.

    Rounding never reaches 1.0 or 0.0 unless every / no segment completed (e.g. 19999/20000),
    so overall_status can compare the rate exactly. Raises ValueError on an unknown status.
    """
    unknown = sorted({s for s in statuses.values() if s not in STATUSES})
    if unknown:
        raise ValueError(f"unknown segment status(es) {unknown}; expected {sorted(STATUSES)}")
    total = len(statuses)
    if total == 0:
        return 0.0
    completed = sum(1 for s in statuses.values() if s == "completed")
    rate = round(completed / total, 4)
    if 0 < completed < total:
        rate = min(max(rate, 0.0001), 0.9999)
    return rate


def overall_status(rate: float, total: int) -> Literal["success", "partial_success", "failure"]:
    """success when every segment completed, failure when none did (or there were none)."""
    if math.isnan(rate) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"success rate must be within [0, 1], got {rate!r}")
    if total < 0:
        raise ValueError(f"segment total must not be negative, got {total}")
    if total == 0 or rate == 0.0:
        return "failure"
    if rate == 1.0:
        return "success"
    return "partial_success"
