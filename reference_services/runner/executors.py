"""Pluggable segment executors. The default simulates work and never runs a shell command."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reference_services.runner.planner import simulate


@dataclass(frozen=True)
class Outcome:
    ok: bool
    output: dict[str, Any] | None
    error: str | None


class Executor(Protocol):
    async def execute(self, segment: Mapping[str, Any]) -> Outcome: ...


class SimulatedExecutor:
    """Waits the segment's simulated duration, then succeeds or fails as its parameters say."""

    async def execute(self, segment: Mapping[str, Any]) -> Outcome:
        result = simulate(segment)
        await asyncio.sleep(result.duration_ms / 1000)
        return Outcome(ok=result.ok, output=result.output, error=result.error)


EXECUTORS: dict[str, type[SimulatedExecutor]] = {"simulated": SimulatedExecutor}


def executor_named(name: str) -> Executor:
    try:
        return EXECUTORS[name]()
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; known: {sorted(EXECUTORS)}") from None
