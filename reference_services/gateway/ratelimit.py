"""Per-key token buckets: `capacity` tokens, refilled at `refill_per_s`, one token a request.

Pure and clock-injected, so its guarantee is testable: over any window of t seconds it admits at
most capacity + refill_per_s * t requests per key.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: float
    retry_after_s: float


class TokenBucketLimiter:
    def __init__(
        self,
        capacity: float,
        refill_per_s: float,
        clock: Callable[[], float] = monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be positive")
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def peek(self, key: str, cost: float = 1.0) -> Decision:
        """Whether `acquire(key, cost)` would be allowed now, without taking anything."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return Decision(True, self.capacity, 0.0)
        elapsed = max(0.0, self.clock() - bucket.updated)
        tokens = min(self.capacity, bucket.tokens + elapsed * self.refill_per_s)
        if tokens >= cost:
            return Decision(True, tokens, 0.0)
        return Decision(False, tokens, (cost - tokens) / self.refill_per_s)

    def acquire(self, key: str, cost: float = 1.0) -> Decision:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict_full(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.refill_per_s)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return Decision(True, bucket.tokens, 0.0)
        wait = (cost - bucket.tokens) / self.refill_per_s
        return Decision(False, bucket.tokens, wait)

    @staticmethod
    def retry_after_header(decision: Decision) -> str:
        """Whole seconds, at least 1 (Retry-After has no fractions)."""
        return str(max(1, math.ceil(decision.retry_after_s)))

    def _evict_full(self, now: float) -> None:
        # A bucket that has refilled completely carries no state worth keeping.
        full = [
            k
            for k, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.refill_per_s >= self.capacity
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:
            oldest = min(self._buckets, key=lambda k: self._buckets[k].updated)
            del self._buckets[oldest]
