"""The login throttle's gate: failed logins per username, counted even when sent in parallel.

A token bucket per username (`login_failure_burst`, refilled at `login_failure_refill_per_min`)
is charged by each failed login. Charging only after the password check would let a guesser
send a thousand guesses at once and have them all checked before the first failure is counted;
charging every attempt up front would refuse a user's own parallel logins. So each attempt takes
a *reservation*: no more attempts for a name are in flight than its bucket could still pay for.
An attempt over that waits (up to `wait_s`) for one in flight to finish: a success gives its
reservation back, a failure pays for it. A correct password sent ten times at once therefore
succeeds ten times, and parallel guesses never exceed the bucket.

The failures are counted in the shared store when one is given (`shared`: the replicas' NATS
counter stream, route class `login`), so N replicas allow one rate, not N times it; reservations
stay per process, so attempts in flight at once on several replicas may each spend what is left
(at most replicas × what was left, once). While the store is away each replica counts on its
own bucket (the shared limiter's fallback), as the API limits do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from reference_services.gateway.ratelimit import Decision, TokenBucketLimiter
from reference_services.gateway.shared_ratelimit import SharedLimiter

ROUTE_CLASS = "login"
MAX_NAMES = 10_000  # names whose paid failures are remembered (see LoginGate._charged)


class Throttled(Exception):
    """The name has no failures left to spend; `decision` says when it will."""

    def __init__(self, decision: Decision) -> None:
        super().__init__("too many failed logins")
        self.decision = decision


@dataclass
class Attempt:
    """One login attempt holding a reservation; say `failed()` before leaving if it failed."""

    username: str
    failed_: bool = False

    def failed(self) -> None:
        self.failed_ = True


class LoginGate:
    def __init__(
        self,
        limiter: TokenBucketLimiter,
        wait_s: float = 5.0,
        shared: SharedLimiter | None = None,
    ) -> None:
        self.limiter = limiter
        self.shared = shared
        self.wait_s = wait_s
        self._in_flight: dict[str, int] = {}
        # Failures paid for, per name (a reservation checks that none came between its question
        # and its answer); bounded: a clear bumps the epoch, which makes every question stale.
        self._charged: dict[str, int] = {}
        self._epoch = 0
        self._changed = asyncio.Condition()

    def in_flight(self, username: str) -> int:
        return self._in_flight.get(username, 0)

    def _charges_of(self, username: str) -> tuple[int, int]:
        return self._epoch, self._charged.get(username, 0)

    async def _left(self, username: str) -> Decision:
        if self.shared is not None:
            return await self.shared.peek(ROUTE_CLASS, username)
        return self.limiter.peek(username)

    async def _charge(self, username: str) -> None:
        if self.shared is not None:
            await self.shared.charge(ROUTE_CLASS, username)
        else:
            self.limiter.acquire(username)

    @asynccontextmanager
    async def attempt(self, username: str) -> AsyncIterator[Attempt]:
        """Reserve a failure for `username`, or raise `Throttled`.

        Leaving the block releases the reservation: the bucket is charged if the attempt
        said `failed()` (or raised), not otherwise.
        """
        await self._reserve(username)
        attempt = Attempt(username)
        try:
            yield attempt
        except BaseException:
            attempt.failed()
            raise
        finally:
            try:
                if attempt.failed_:
                    await self._charge(username)  # outside the lock: it may ask the store
            finally:
                async with self._changed:
                    if attempt.failed_:
                        if len(self._charged) > MAX_NAMES:
                            self._charged.clear()
                            self._epoch += 1
                        self._charged[username] = self._charged.get(username, 0) + 1
                    left = self._in_flight[username] - 1
                    if left:
                        self._in_flight[username] = left
                    else:
                        del self._in_flight[username]
                    self._changed.notify_all()

    async def _reserve(self, username: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while True:
            charges = self._charges_of(username)
            # Asked outside the lock: a slow store holds up no other name's login.
            decision = await self._left(username)
            if not decision.allowed:
                raise Throttled(decision)
            async with self._changed:
                if self._charges_of(username) != charges:
                    continue  # a failure was paid for meanwhile: ask again
                if decision.remaining - self.in_flight(username) >= 1:
                    self._in_flight[username] = self.in_flight(username) + 1
                    return
                left = deadline - loop.time()
                if left <= 0:
                    # Still full of attempts in flight: answer as a throttled name would.
                    raise Throttled(Decision(False, decision.remaining, 1.0))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
