"""Background loops that must outlive any error: the outbox relay, the index catch-up.

A loop that ends while the service is still up means work silently stops (a relay that died
after a PostgreSQL restart left accepted commands unpublished), so it is logged and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


def really_cancelled() -> bool:
    """True when someone cancelled the current task, not a CancelledError leaked by a library."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def supervised(
    name: str,
    loop: Callable[[], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    restart_delay_s: float = 0.5,
) -> asyncio.Task[None]:
    """Run `loop()` until `stop` is set, restarting it whenever it returns or raises."""

    async def _guard() -> None:
        while not stop.is_set():
            try:
                await loop()
            except asyncio.CancelledError:
                if really_cancelled() or stop.is_set():
                    raise
                log.error("%s: leaked cancellation; restarting", name)
            except Exception:
                log.exception("%s crashed; restarting", name)
            else:
                if not stop.is_set():
                    log.error("%s returned while the service runs; restarting", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=restart_delay_s)

    return asyncio.create_task(_guard(), name=name)


async def every(
    what: str,
    interval_s: float,
    work: Callable[[], Coroutine[Any, Any, object]],
    stop: asyncio.Event,
    *,
    max_share: float = 1.0,
) -> None:
    """Run `work()` now and then every `interval_s` until `stop` is set; a failed pass is
    logged and the next one comes on schedule (for `supervised`, which restarts the loop).

    `max_share` caps the fraction of time the work may take: a pass that lasted d seconds is
    followed by a pause of at least d × (1 / max_share − 1), so work that grows with the data
    (a refresh over a million rows) stretches its own interval instead of running back to
    back and starving everything else of CPU.
    """
    if not 0 < max_share <= 1:
        raise ValueError(f"max_share must be in (0, 1], not {max_share}")
    while not stop.is_set():
        started = time.monotonic()
        try:
            await work()
        except Exception as exc:
            log.warning("%s failed (next in %.0f s): %s", what, interval_s, exc)
        took = time.monotonic() - started
        pause = max(interval_s, took * (1 / max_share - 1))
        if pause > interval_s:
            log.debug("%s took %.1f s: next in %.0f s, not %.0f s", what, took, pause, interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
