"""The shared limiter against a counter store in memory: what every replica admits together
stays within capacity + refill × t, a refusal gives its count back, an outage falls back."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_services.common.errors import TransientError
from reference_services.gateway.login_gate import LoginGate, Throttled
from reference_services.gateway.ratelimit import TokenBucketLimiter
from reference_services.gateway.shared_ratelimit import SharedLimiter


@dataclass
class Reply:
    data: bytes
    headers: dict[str, str] | None = None


class CounterStore:
    """What the limiter asks of JetStream: Nats-Incr, a direct get of a subject's last value,
    stream create; `down` makes every request fail like a lost connection."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.down = False
        self.requests = 0

    async def request(
        self, subject: str, payload: bytes = b"", *, headers: dict[str, str] | None = None,
        timeout: float = 1.0,
    ) -> Reply:  # fmt: skip
        self.requests += 1
        if self.down:
            raise TransientError("not connected to NATS")
        if subject.startswith("$JS.API.STREAM."):
            return Reply(b'{"config": {}}')
        if subject.startswith("$JS.API.DIRECT.GET."):
            wanted = json.loads(payload)["last_by_subj"]
            if wanted not in self.totals:
                return Reply(b"", {"Status": "404"})
            return Reply(json.dumps({"val": str(self.totals[wanted])}).encode())
        assert headers is not None and "Nats-Incr" in headers, subject
        self.totals[subject] = self.totals.get(subject, 0) + int(headers["Nats-Incr"])
        return Reply(json.dumps({"val": str(self.totals[subject])}).encode())


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_replicas_share_one_limit() -> None:
    store, clock = CounterStore(), Clock()
    a = SharedLimiter(store, 10, 5, clock=clock)
    b = SharedLimiter(store, 10, 5, clock=clock)
    answers = [await (a if i % 2 else b).acquire("api", "ayşe") for i in range(30)]
    assert sum(x.decision.allowed for x in answers) == 10, "two replicas, one bucket of 10"
    refused = answers[-1]
    assert refused.headers()["Retry-After"] and refused.headers()["RateLimit-Remaining"] == "0"
    other = await a.acquire("api", "mehmet")
    assert other.decision.allowed, "limits are per caller"


async def test_a_refused_request_gives_its_count_back() -> None:
    store, clock = CounterStore(), Clock()
    lim = SharedLimiter(store, 3, 1, clock=clock)
    for _ in range(20):
        await lim.acquire("api", "u")
    assert max(store.totals.values()) == 3, f"refusals must not pile up: {store.totals}"


async def test_a_store_outage_falls_back_to_the_local_bucket() -> None:
    store, clock = CounterStore(), Clock()
    lim = SharedLimiter(store, 5, 1, clock=clock)
    store.down = True
    answers = [await lim.acquire("api", "u") for _ in range(8)]
    assert [x.decision.allowed for x in answers] == [True] * 5 + [False] * 3
    assert lim.degraded and not answers[0].shared
    store.down = False
    clock.now += 60
    back = await lim.acquire("api", "u")
    assert back.shared and not lim.degraded


async def test_the_headers_describe_the_limit() -> None:
    lim = SharedLimiter(CounterStore(), 200, 100, clock=Clock())
    headers = (await lim.acquire("api", "u")).headers()
    assert headers["RateLimit-Limit"] == "200" and headers["RateLimit-Remaining"] == "199"
    assert headers["RateLimit-Policy"] == "200;w=2" and "Retry-After" not in headers


@settings(max_examples=60, deadline=None)
@given(
    # Up to ~40 requests a second against a refill of 10: the limit is hit, windows crossed.
    gaps=st.lists(st.floats(min_value=0, max_value=0.05), min_size=1, max_size=300),
    replicas=st.integers(min_value=1, max_value=3),
)
async def test_admitted_in_any_window_stays_within_the_bucket_bound(
    gaps: list[float], replicas: int
) -> None:
    capacity, refill = 20.0, 10.0
    store, clock = CounterStore(), Clock()
    limiters = [SharedLimiter(store, capacity, refill, clock=clock) for _ in range(replicas)]
    admitted: list[float] = []
    for i, gap in enumerate(gaps):
        clock.now += gap
        if (await limiters[i % replicas].acquire("api", "u")).decision.allowed:
            admitted.append(clock.now)
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            t = admitted[j] - start
            # capacity + refill × t, and the one request at each end of the interval
            assert j - i + 1 <= capacity + refill * t + 1, (
                f"{j - i + 1} admitted within {t:.3f} s; the bound is {capacity + refill * t:.1f}"
            )


async def test_a_burst_straddling_a_window_boundary_is_not_admitted_twice() -> None:
    # The weakness of fixed windows: a full window's worth just before its end and again just
    # after. The sliding estimate still counts the first burst after the boundary.
    store, clock = CounterStore(), Clock()
    a, b = SharedLimiter(store, 20, 10, clock=clock), SharedLimiter(store, 20, 10, clock=clock)
    clock.now = 1_000_000.0 + 2.0 - 0.01  # 10 ms before a window ends (windows of 2 s)
    first = [(await a.acquire("api", "u")).decision.allowed for _ in range(20)]
    clock.now += 0.02
    second = [(await b.acquire("api", "u")).decision.allowed for _ in range(20)]
    assert all(first), "a fresh caller gets its whole bucket"
    bound = 20 + 10 * 0.02
    assert sum(first) + sum(second) <= bound + 1, (
        f"{sum(first) + sum(second)} admitted in 20 ms across a boundary; the bound is {bound}"
    )


async def test_after_a_store_failure_requests_do_not_wait_for_it_again_at_once() -> None:
    store, clock = CounterStore(), Clock()
    lim = SharedLimiter(store, 5, 1, clock=clock)
    store.down = True
    await lim.acquire("api", "u")
    asked = store.requests
    for _ in range(10):
        await lim.acquire("api", "u")
    assert store.requests == asked, "within the back-off the local bucket judges alone"
    store.down = False
    clock.now += 3
    assert (await lim.acquire("api", "u")).shared, "after the back-off the store is asked again"


async def _guess(gate: LoginGate, name: str) -> str:
    try:
        async with gate.attempt(name) as attempt:
            attempt.failed()
    except Throttled:
        return "throttled"
    return "checked"


async def test_two_replicas_count_failed_logins_together() -> None:
    store, clock = CounterStore(), Clock()

    def _replica() -> LoginGate:
        local = TokenBucketLimiter(5, 5 / 60, clock=clock)
        return LoginGate(local, shared=SharedLimiter(store, 5, 5 / 60, clock=clock))

    a, b = _replica(), _replica()
    outcomes = [await _guess(a if i % 2 else b, "kurban") for i in range(20)]
    assert outcomes.count("checked") == 5, (
        f"two replicas must check 5 guesses together (the burst), not 5 each: {outcomes}"
    )
    assert await _guess(a, "başka") == "checked", "failures are counted per name"
    # 35 s on (windows of 60 s, this one 40 s in): a quarter into the next window the five
    # failures weigh 3.75 — room for one more guess, from either replica, and no second.
    clock.now += 35
    assert await _guess(b, "kurban") == "checked"
    assert await _guess(a, "kurban") == "throttled"


async def test_failed_logins_are_counted_locally_while_the_store_is_away() -> None:
    store, clock = CounterStore(), Clock()
    gate = LoginGate(
        TokenBucketLimiter(3, 3 / 60, clock=clock),
        shared=SharedLimiter(store, 3, 3 / 60, clock=clock),
    )
    store.down = True
    outcomes = [await _guess(gate, "n") for _ in range(6)]
    assert outcomes == ["checked"] * 3 + ["throttled"] * 3, outcomes


def test_a_limit_whose_windows_outlive_the_counters_is_refused() -> None:
    from pydantic import ValidationError

    from reference_services.gateway.settings import GatewaySettings

    base: dict[str, Any] = {
        "database_url": "postgresql://g@localhost/g",
        "jwt_private_key": "k" * 100,
    }  # not parsed here
    GatewaySettings(**base)  # the defaults fit: windows of 2 s and 60 s
    with pytest.raises(ValidationError, match="login_failure: a window of 600 s"):
        GatewaySettings(**base, login_failure_refill_per_min=1)
    GatewaySettings(**base, login_failure_refill_per_min=1, rate_limit_shared=False)


class SlowStore(CounterStore):
    """Answers after a pause, and records how many questions it had at once."""

    def __init__(self) -> None:
        super().__init__()
        self.open = self.most_open = 0

    async def request(self, subject: str, payload: bytes = b"", **kw: Any) -> Reply:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await asyncio.sleep(0.01)
            return await super().request(subject, payload, **kw)
        finally:
            self.open -= 1


async def test_a_slow_store_does_not_queue_every_login_behind_one() -> None:
    store, clock = SlowStore(), Clock()
    gate = LoginGate(
        TokenBucketLimiter(5, 5 / 60, clock=clock),
        shared=SharedLimiter(store, 5, 5 / 60, clock=clock),
    )
    outcomes = await asyncio.gather(*(_guess(gate, f"ad-{n}") for n in range(8)))
    assert outcomes == ["checked"] * 8
    assert store.most_open > 1, "the gate asked the store one login at a time (held its lock)"
