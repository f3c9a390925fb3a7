"""Shared plumbing of the extension: settings, running coroutines, where run files go."""

from __future__ import annotations

import asyncio
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
