"""Client-side pacing and retries for reads that must succeed: the read-back after a campaign.

A deployment rate-limits per user (the reference gateway: a token bucket of 200, refilled at
100/s), and the read-back of a long run is one read per accepted command, as one user. The
`Pacer` spaces requests at a rate below the limit (additive increase while answers come, halved
on every `429`, and paused for the server's `Retry-After`), so the read-back does not spend its
deadline being refused; `retry_delay` says whether, and after how long, a failed read is worth
retrying.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Statuses a read may meet while the deployment is fine, or recovering: retry them.
RETRYABLE_STATUS = frozenset({401, 408, 425, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, default_s: float = 1.0, cap_s: float = 30.0) -> float:
    """Seconds from a Retry-After header (delta-seconds only; an HTTP date or junk → default)."""
    if value is None:
        return default_s
    try:
        seconds = float(value.strip())
    except ValueError:
        return default_s
    return min(cap_s, max(0.0, seconds))


@dataclass
class PacerStats:
    requests: int = 0
    throttled: int = 0  # 429 answers seen
    waited_s: float = 0.0  # time spent waiting for the pace or a Retry-After

    def to_json(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "waited_s": round(self.waited_s, 2),
        }


@dataclass
class Pacer:
    """At most `rate_per_s` requests a second, shared by every caller of `wait`."""

    rate_per_s: float = 50.0
    min_rate_per_s: float = 2.0
    max_rate_per_s: float | None = None  # None: never faster than the starting rate
    clock: Callable[[], float] = time.monotonic
    stats: PacerStats = field(default_factory=PacerStats)

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.min_rate_per_s <= 0:
            raise ValueError("pacing rates must be positive")
        self.ceiling = self.max_rate_per_s or self.rate_per_s
        # A 429 never speeds the pace up, however slow it started.
        self.min_rate_per_s = min(self.min_rate_per_s, self.rate_per_s)
        self._next_at = self.clock()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Reserve the next slot; return how long to wait for it (0 if it is free now)."""
        now = self.clock()
        at = max(now, self._next_at)
        self._next_at = at + 1.0 / self.rate_per_s
        return at - now

    async def wait(self) -> None:
        async with self._lock:
            delay = self.delay()
        self.stats.requests += 1
        if delay > 0:
            self.stats.waited_s += delay
            await asyncio.sleep(delay)  # pacing: the slot this request was given

    def answered(self) -> None:
        """A request went through: creep back up towards the ceiling."""
        self.rate_per_s = min(self.ceiling, self.rate_per_s + 1.0)

    def throttled(self, retry_after_s: float) -> None:
        """A 429: halve the pace, and send nothing before the server said to retry."""
        self.stats.throttled += 1
        self.rate_per_s = max(self.min_rate_per_s, self.rate_per_s / 2)
        self._next_at = max(self._next_at, self.clock() + retry_after_s)


def retry_delay(
    status: int | None, attempt: int, *, base_s: float = 0.25, cap_s: float = 4.0
) -> float | None:
    """How long to back off before retry number `attempt` (1, 2, …) of a failed read; None if
    the failure is not worth retrying (a 4xx other than 401/408/425/429 will not change).

    `status` is the HTTP status, or None for a transport error (timeout, reset, refused).
    A 429 returns 0: the pacer already holds the next request until Retry-After."""
    if status is not None and status not in RETRYABLE_STATUS:
        return None
    if status == 429:
        return 0.0
    return min(cap_s, base_s * 2.0 ** (attempt - 1))
