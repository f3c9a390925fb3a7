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
