"""Shared plumbing of the extension: settings, running coroutines, where run files go."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from chaoslib.exceptions import ActivityFailed

from harness.errors import HarnessError
from harness.settings import HarnessSettings

T = TypeVar("T")

# Each `chaos run` is its own process: files older than this belong to earlier runs.
PROCESS_STARTED = time.time()


def settings() -> HarnessSettings:
    return HarnessSettings()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion; harness errors become ActivityFailed with their message."""
    try:
        return asyncio.run(coro)
    except HarnessError as exc:
        raise ActivityFailed(str(exc)) from exc


def run_dir() -> Path:
    path = settings().state_dir / "chaos"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh(path: Path) -> bool:
    """The file exists and was written by this `chaos run` process."""
    return path.exists() and path.stat().st_mtime >= PROCESS_STARTED


def workload_verdict(name: str, timeout_s: float) -> dict[str, Any] | None:
    """The verdict file of the workload `name` of this `chaos run` once written, or None when
    that workload has not started in this run (a hypothesis checked before the method)."""
    from harness.polling import poll_until

    folder = run_dir()
    if not fresh(folder / f"{name}.started"):
        return None
    verdict_file = folder / f"{name}.verdict.json"

    async def _written() -> bool:
        return fresh(verdict_file)

    run(poll_until(_written, float(timeout_s), f"the verdict of workload {name!r}"))
    verdict: dict[str, Any] = json.loads(verdict_file.read_text())
    return verdict
