"""Rate limits shared by every gateway replica, counted in a JetStream counter stream.

Each key (a route class and a caller) has a limit of `capacity` requests per window of
`capacity / refill_per_s` seconds, judged by a **sliding window**: the current window's count
plus the previous window's, weighted by how much of it still lies within one window of now
(`prev × (1 − f) + curr`). Over any interval of t seconds that admits about `capacity +
refill_per_s × t`, the token bucket's promise, however many replicas share the counts.

A request is one `Nats-Incr: 1` to the subject `altlas.ratelimit.<class>.<key digest>.<window>`
(the server answers with the new total: no read-modify-write, no conflicts between replicas);
the previous window's total is read once per window and cached; a refused request takes its
increment back (`Nats-Incr: -1`), so being refused does not use up the limit.

If the store does not answer within `timeout_s`, the limiter **fails open to a local bucket**
(the per-process `TokenBucketLimiter`, same capacity and refill): the gateway keeps serving,
each replica within the limit on its own (N replicas admit up to N times the limit until the
store is back). That is the documented choice: an outage of the counter store must not become
an outage of the API.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference_services.common import metrics, topology
from reference_services.common.errors import TransientError
from reference_services.common.messaging import Requester, ensure_stream
from reference_services.gateway.ratelimit import Decision, TokenBucketLimiter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """What the headers of an answer say about the caller's limit."""

    decision: Decision
    limit: int
    window_s: float
    reset_s: float
    shared: bool

    def headers(self) -> dict[str, str]:
        remaining = max(0, math.floor(self.decision.remaining))
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(max(0, math.ceil(self.reset_s))),
            "RateLimit-Policy": f"{self.limit};w={self.window_s:g}",
        }
        if not self.decision.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.decision.retry_after_s)))
        return headers


# Declared in schemas/topology.json: in memory, one replica, only each counter's last total.
STREAM_CONFIG: dict[str, Any] = topology.DECLARED.streams[topology.RATE_LIMIT_STREAM].api_config(1)


# After the store fails, requests are judged locally this long before it is asked again.
STORE_BACKOFF_S = 2.0


def digest(key: str) -> str:
    """A subject token for any key (names hold dots, spaces, Turkish letters)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class SharedLimiter:
    def __init__(
        self,
        store: Requester | None,
        capacity: float,
        refill_per_s: float,
        *,
        timeout_s: float = 0.25,
        clock: Callable[[], float] = time.time,
        name: str = "api",
    ) -> None:
        self.store = store
        self.name = name  # which limits (api, login): the degraded gauge's label
        self.limit = max(1, int(capacity))
        self.window_s = capacity / refill_per_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.fallback = TokenBucketLimiter(capacity, refill_per_s)
        self._previous: dict[str, tuple[int, int]] = {}  # subject prefix -> (window, total)
        self.degraded = False
        self._retry_store_at = float("-inf")

    async def provision(self) -> None:
        """Create the counter stream, or bring it to this config (idempotent)."""
        if self.store is None:
            return
        await ensure_stream(self.store, STREAM_CONFIG)

    async def _incr(self, subject: str, by: int) -> int:
        if self.store is None:
            raise TransientError("no shared store")
        reply = await self.store.request(
            subject, b"", headers={"Nats-Incr": str(by)}, timeout=self.timeout_s
        )
        answer = json.loads(reply.data)
        if "val" not in answer:
            raise TransientError(f"counter {subject}: {answer.get('error', answer)}")
        return int(answer["val"])

    async def _read(self, subject: str) -> int:
        """A counter's value now (0 when it has none)."""
        query = json.dumps({"last_by_subj": subject}).encode()
        if self.store is None:
            raise TransientError("no shared store")
        reply = await self.store.request(
            f"$JS.API.DIRECT.GET.{topology.RATE_LIMIT_STREAM}", query, timeout=self.timeout_s
        )
        status = (reply.headers or {}).get("Status")
        if status == "404":  # no count in that window
            return 0
        if status:
            raise TransientError(f"counter read {subject}: status {status}")
        return int(json.loads(reply.data)["val"])

    async def _total(self, prefix: str, window: int) -> int:
        cached = self._previous.get(prefix)
        if cached is not None and cached[0] == window:
            return cached[1]
        total = await self._read(f"{prefix}.{window}")
        if len(self._previous) > 100_000:
            self._previous.clear()
        self._previous[prefix] = (window, total)
        return total

    def _where(self, route_class: str, key: str) -> tuple[float, int, float, str, str]:
        """Now; its window, how far into it (0–1); the key's counter subject prefix; the key
        of its local fallback bucket."""
        now = self.clock()
        window = int(now // self.window_s)
        into = (now - window * self.window_s) / self.window_s
        prefix = f"{topology.RATE_LIMIT_PREFIX}.{route_class}.{digest(key)}"
        return now, window, into, prefix, f"{route_class}:{key}"

    async def acquire(self, route_class: str, key: str) -> Limit:
        now, window, into, prefix, local = self._where(route_class, key)
        if self.store is None:  # configured per process (rate_limit_shared off)
            return self._local(local)
        if now < self._retry_store_at:  # it failed a moment ago: do not make every request wait
            return self._local(local)
        try:
            current = await self._incr(f"{prefix}.{window}", 1)
            previous = await self._total(prefix, window - 1)
        except (TransientError, ValueError, KeyError) as exc:
            self._retry_store_at = now + STORE_BACKOFF_S
            return self._fall_back(local, exc)
        self._recovered()
        estimate = previous * (1 - into) + current
        reset_s = self.window_s * (1 - into)
        if estimate <= self.limit:
            return Limit(Decision(True, self.limit - estimate, 0.0), self.limit, self.window_s,
                         reset_s, True)  # fmt: skip
        try:
            await self._incr(f"{prefix}.{window}", -1)
        except TransientError as exc:  # the count stays one high until the window ends
            log.debug("could not take back a refused request's count: %s", exc)
        return Limit(
            Decision(False, 0.0, self._wait(previous, current - 1, into)),
            self.limit,
            self.window_s,
            reset_s,
            True,
        )

    async def peek(self, route_class: str, key: str) -> Decision:
        """What is left for `key` now, without counting anything (the login gate asks before
        it checks a password); the local bucket's view while the store is away."""
        now, window, into, prefix, local = self._where(route_class, key)
        if self.store is None or now < self._retry_store_at:
            return self.fallback.peek(local)
        try:
            current = await self._read(f"{prefix}.{window}")
            previous = await self._total(prefix, window - 1)
        except (TransientError, ValueError, KeyError) as exc:
            self._retry_store_at = now + STORE_BACKOFF_S
            self._degrade(exc)
            return self.fallback.peek(local)
        self._recovered()
        left = self.limit - (previous * (1 - into) + current)
        if left >= 1:
            return Decision(True, left, 0.0)
        return Decision(False, max(left, 0.0), self._wait(previous, current, into))

    async def charge(self, route_class: str, key: str) -> None:
        """Count one against `key` (a failed login), in the store, or locally while it is away."""
        now, window, _into, prefix, local = self._where(route_class, key)
        if self.store is None or now < self._retry_store_at:
            self.fallback.acquire(local)
            return
        try:
            await self._incr(f"{prefix}.{window}", 1)
        except (TransientError, ValueError, KeyError) as exc:
            self._retry_store_at = now + STORE_BACKOFF_S
            self._degrade(exc)
            self.fallback.acquire(local)
            return
        self._recovered()

    def _wait(self, previous: int, current: int, into: float) -> float:
        """Seconds until one more request fits, if nothing else arrives meanwhile."""
        room = self.limit - 1 - current  # what the previous window's weight must fall to
        if previous > 0 and room >= 0:
            return max(0.0, (1 - room / previous) - into) * self.window_s
        # In the next window this window's count is the previous one, fading from full weight.
        nxt = 1 - (self.limit - 1) / current if current > 0 else 0.0
        return (1 - into) * self.window_s + max(0.0, nxt) * self.window_s

    def _recovered(self) -> None:
        if self.degraded:
            self.degraded = False
            metrics.RATE_LIMIT_DEGRADED.labels(self.name).set(0)
            log.info("rate-limit store answers again: %s limits are shared", self.name)

    def _degrade(self, exc: Exception) -> None:
        if not self.degraded:
            self.degraded = True
            metrics.RATE_LIMIT_DEGRADED.labels(self.name).set(1)
            log.warning(
                "rate-limit store unavailable (%s): each replica limits %s on its own",
                exc,
                self.name,
            )

    def _fall_back(self, key: str, exc: Exception) -> Limit:
        self._degrade(exc)
        return self._local(key)

    def _local(self, key: str) -> Limit:
        decision = self.fallback.acquire(key)
        reset = (self.fallback.capacity - decision.remaining) / self.fallback.refill_per_s
        return Limit(decision, self.limit, self.window_s, reset, False)
