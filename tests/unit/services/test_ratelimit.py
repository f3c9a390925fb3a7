"""The gateway's token bucket: examples and its guarantee over any window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_services.gateway.ratelimit import TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=3, refill_per_s=1, clock=clock)
    assert [limiter.acquire("a").allowed for _ in range(4)] == [True, True, True, False]
    denied = limiter.acquire("a")
    assert not denied.allowed and denied.retry_after_s == pytest.approx(1.0)
    assert limiter.retry_after_header(denied) == "1"
    clock.now += 1.0
    assert limiter.acquire("a").allowed, "one token must be back after 1/refill seconds"
    assert limiter.acquire("b").allowed, "buckets are per key"


def test_refill_never_exceeds_capacity() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=2, refill_per_s=10, clock=clock)
    clock.now += 3600
    assert [limiter.acquire("a").allowed for _ in range(3)] == [True, True, False]


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(capacity=0, refill_per_s=1)


def test_eviction_keeps_memory_bounded() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=1, refill_per_s=1, clock=clock, max_keys=10)
    for i in range(100):
        limiter.acquire(f"user-{i}")
    assert len(limiter._buckets) <= 10


@given(
    capacity=st.integers(1, 20),
    refill=st.floats(0.1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_admits_more_than_capacity_plus_refill(
    capacity: int, refill: float, gaps: list[float]
) -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=capacity, refill_per_s=refill, clock=clock)
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap
        if limiter.acquire("k").allowed:
            admitted.append(clock.now)
    # Any window [t0, t1] may hold at most capacity + refill * (t1 - t0) admissions.
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            window = admitted[j] - start
            count = j - i + 1
            assert count <= capacity + refill * window + 1e-6, (
                f"{count} admitted in {window:.3f}s > {capacity} + {refill}*{window:.3f}"
            )


# --- exact decisions and eviction (found by mutation testing, `make mutation`) ------------------


def test_decisions_report_remaining_tokens_and_exact_wait() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=2, refill_per_s=2, clock=clock)
    first, second = limiter.acquire("a"), limiter.acquire("a")
    assert (first.remaining, first.retry_after_s) == (1.0, 0.0)
    assert (second.remaining, second.retry_after_s) == (0.0, 0.0)
    clock.now += 0.25  # half a token back
    denied = limiter.acquire("a")
    assert not denied.allowed
    assert denied.remaining == 0.5, "remaining tokens are reported on a denial too"
    assert denied.retry_after_s == 0.25, "the missing half token takes 0.5 / 2 tokens/s"


@pytest.mark.parametrize(("capacity", "refill"), [(0, 1), (1, 0), (-1, 1), (1, -1)])
def test_rejects_non_positive_settings(capacity: float, refill: float) -> None:
    with pytest.raises(ValueError, match=r"^capacity and refill_per_s must be positive$"):
        TokenBucketLimiter(capacity=capacity, refill_per_s=refill)


def test_default_key_limit() -> None:
    assert TokenBucketLimiter(capacity=1, refill_per_s=1).max_keys == 100_000


def test_eviction_drops_exactly_the_buckets_that_refilled() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=10, refill_per_s=2, clock=clock, max_keys=3)
    for at, key, tokens in ((1000.0, "p", 10), (1001.0, "q", 10), (1002.0, "f", 1)):
        clock.now = at
        for _ in range(tokens):
            limiter.acquire(key)
    # At 1002.5 p has refilled to 5 of 10 tokens, q to 3, and f to exactly 10: full.
    clock.now = 1002.5
    limiter.acquire("new")
    assert set(limiter._buckets) == {"p", "q", "new"}, "only the refilled bucket is dropped"


def test_without_full_buckets_the_least_recently_used_goes() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=5, refill_per_s=1, clock=clock, max_keys=3)
    for key in ("z", "a", "m"):  # oldest first; names sort differently from age
        for _ in range(5):
            limiter.acquire(key)
        clock.now += 0.1
    limiter.acquire("n")
    assert set(limiter._buckets) == {"a", "m", "n"}, "the least recently used bucket goes"


def test_peek_tells_what_acquire_would_do_and_takes_nothing() -> None:
    # The login throttle peeks before checking a password and charges only a failure.
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=2, refill_per_s=0.5, clock=clock)
    assert limiter.peek("a").allowed and limiter.peek("a").remaining == 2
    limiter.acquire("a")
    limiter.acquire("a")
    for _ in range(3):
        blocked = limiter.peek("a")
        assert not blocked.allowed and blocked.retry_after_s == pytest.approx(2.0)
    clock.now += 2.0
    assert limiter.peek("a").allowed and limiter.acquire("a").allowed
    assert not limiter.peek("a").allowed, "peeking must not have refilled or spent anything"
