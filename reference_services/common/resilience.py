"""Retry with bounded, jittered exponential back-off, and a circuit breaker.

Pure decision logic: no I/O, and time comes in from outside (a `clock` for the breaker, a
`sleep` and an `rng` for retries), so every guarantee below is testable without waiting.

- `RetryPolicy.delay(n)` lies within [cap(n)·(1-jitter), cap(n)] with
  cap(n) = min(max_s, base_s·multiplier^(n-1)); cap never decreases with n.
- `CircuitBreaker`: closed → open after `failure_threshold` consecutive failures; open rejects
  until `reset_timeout_s` has passed; half-open then admits `half_open_max_calls` trial calls,
  and the first trial result decides: success → closed, failure → open (timer restarts).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from reference_services.common.errors import TransientError

__all__ = [
    "STATE_VALUES",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "RetryPolicy",
]

T = TypeVar("T")
BreakerState = Literal["closed", "half_open", "open"]
# The gauge encoding: ordered by how unavailable the dependency is, so max() over time is useful.
STATE_VALUES: Final[dict[BreakerState, int]] = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a call that failed with a retryable error.

    `max_attempts` counts the first call: 1 means "never retry". `jitter` is the share of the
    capped delay that may be randomly taken off, so that clients which failed together do not
    retry together; 0 gives plain exponential back-off, 1 gives "full jitter".
    """

    base_s: float = 0.05
    max_s: float = 1.0
    multiplier: float = 2.0
    max_attempts: int = 3
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and self.base_s > 0):
            raise ValueError(f"base_s must be a positive number, got {self.base_s!r}")
        if not (math.isfinite(self.max_s) and self.max_s >= self.base_s):
            raise ValueError(f"max_s must be at least base_s ({self.base_s}), got {self.max_s!r}")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ValueError(f"multiplier must be at least 1, got {self.multiplier!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter!r}")

    def cap(self, attempt: int) -> float:
        """The longest delay after failed attempt `attempt` (1-based); non-decreasing in it."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        try:
            grown = self.base_s * self.multiplier ** (attempt - 1)
        except OverflowError:
            # multiplier ** n overflows long after it passed max_s; the cap is max_s by then.
            return self.max_s
        return min(self.max_s, grown)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`: within [cap·(1-jitter), cap]."""
        cap = self.cap(attempt)
        draw = (rng or random).random()  # in [0, 1), so the cap itself is reachable (draw 0)
        return cap * (1 - self.jitter * draw)

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        retry_on: tuple[type[BaseException], ...] = (TransientError,),
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> T:
        """Await `fn()` up to `max_attempts` times while it raises one of `retry_on`.

        Any other exception propagates at once; after the last attempt its error propagates.
        Only pass idempotent calls: a timed-out attempt may still have had its effect.
        """
        attempt = 1
        while True:
            try:
                return await fn()
            except retry_on:
                if attempt >= self.max_attempts:
                    raise
            await sleep(self.delay(attempt, rng))
            attempt += 1


class CircuitOpen(TransientError):
    """The circuit breaker rejected the call without trying it; retry after `retry_after_s`."""

    retry_after_s: float

    def __init__(self, name: str, retry_after_s: float) -> None:
        self.name = name
        super().__init__(
            f"circuit {name!r} is open after repeated failures; retry in {retry_after_s:.1f}s",
            retry_after_s=retry_after_s,
        )


class CircuitBreaker:
    """Stops calling a failing dependency for a while, then lets a few trial calls probe it.

    Results are reported with `record_success` / `record_failure` after `allow()` said yes, or
    the `call` helper does both. Results that arrive while the circuit is open (from calls
    admitted before it opened) are ignored: the breaker has already reacted, and a late failure
    must not push the half-open probe further out.
    """

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout_s: float,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        name: str = "circuit",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if not (math.isfinite(reset_timeout_s) and reset_timeout_s >= 0):
            raise ValueError(f"reset_timeout_s must be a finite number ≥ 0, got {reset_timeout_s}")
        if half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be at least 1, got {half_open_max_calls}")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.half_open_max_calls = half_open_max_calls
        self.clock = clock
        self.name = name
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0  # trial calls admitted in the current half-open period

    @property
    def state(self) -> BreakerState:
        """The current state; an open circuit whose timeout has passed reads as half-open."""
        self._refresh()
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """Whether a call may go ahead now; in half-open this takes one of the trial slots."""
        self._refresh()
        if self._state == "closed":
            return True
        if self._state == "half_open" and self._trials < self.half_open_max_calls:
            self._trials += 1
            return True
        return False

    def retry_after_s(self) -> float:
        """Seconds until an open circuit turns half-open; 0.0 when it is not open."""
        self._refresh()
        if self._state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout_s - self.clock())

    def record_success(self) -> None:
        self._refresh()
        if self._state != "open":
            self._close()

    def record_failure(self) -> None:
        self._refresh()
        if self._state == "half_open":
            self._open()
        elif self._state == "closed":
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()

    def release(self) -> None:
        """Give back a trial slot whose call ended without a verdict (e.g. it was cancelled)."""
        if self._state == "half_open" and self._trials > 0:
            self._trials -= 1

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        failure_on: tuple[type[BaseException], ...] = (TransientError,),
    ) -> T:
        """Await `fn()` if allowed, else raise CircuitOpen; report its outcome to the breaker.

        Only `failure_on` exceptions count as failures. Any other exception (a 4xx, say) means
        the dependency answered, which is what the breaker cares about, so it counts as success.
        """
        if not self.allow():
            raise CircuitOpen(self.name, self.retry_after_s())
        try:
            result = await fn()
        except failure_on:
            self.record_failure()
            raise
        except Exception:
            self.record_success()
            raise
        except BaseException:
            # Cancelled or interrupted: the call says nothing about the dependency.
            self.release()
            raise
        self.record_success()
        return result

    def _refresh(self) -> None:
        if self._state == "open" and self.clock() - self._opened_at >= self.reset_timeout_s:
            self._state = "half_open"
            self._trials = 0

    # Neither resets the trial count: it only matters in half-open, and _refresh zeroes it on
    # the way in.
    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self.clock()

    def _close(self) -> None:
        self._state = "closed"
        self._failures = 0
