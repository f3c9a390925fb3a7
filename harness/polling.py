"""Wait for a condition with a deadline, and say what was awaited when it times out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from harness.errors import HarnessError

T = TypeVar("T")


class PollTimeout(HarnessError, AssertionError):
    """Raised when a polled condition never held; also an AssertionError so tests read well."""

    def __init__(self, what: str, timeout_s: float, last: object) -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.last = last
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"timed out after {self.timeout_s:.1f}s waiting for {self.what};"
            f" last seen: {self.last!r}"
        )


async def poll_until(
    check: Callable[[], Awaitable[T | None]],
    timeout: float,
    what: str,
    *,
    interval: float = 0.1,
    max_interval: float = 1.0,
    accept: Callable[[T], bool] | None = None,
) -> T:
    """Call `check` until its value is truthy; return that value.

    `None`, `False` and every empty or zero value (`[]`, `{}`, `""`, `0`) mean "not yet": a
    check that returns the records found so far waits until there is one. A caller that must
    accept a falsy value (a count that may legitimately be 0) passes `accept`, which then
    alone decides (`None` is still "not yet"). A check that raises is retried; the last value or
    error seen is in the timeout's message. The interval grows gently (×1.5) up to
    `max_interval` so long waits do not hammer the system.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    delay = interval
    while True:
        try:
            result = await check()
        except Exception as exc:  # a check may fail while the system converges
            result, last = None, f"{type(exc).__name__}: {exc}"
        else:
            last = result
        if result is not None and (accept(result) if accept is not None else bool(result)):
            return result
        if time.monotonic() >= deadline:
            raise PollTimeout(what, timeout, last)
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(max_interval, delay * 1.5)
