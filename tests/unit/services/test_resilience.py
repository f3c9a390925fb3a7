"""Retry back-off and the circuit breaker: examples, bounds as properties, a state machine.

Coroutines here never really suspend (fake sleep, instant calls), so `run_now` drives them to
completion synchronously: no event loop, and a Hypothesis example costs microseconds.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from reference_services.common.errors import ServiceError, TransientError
from reference_services.common.resilience import (
    STATE_VALUES,
    CircuitBreaker,
    CircuitOpen,
    RetryPolicy,
)

T = TypeVar("T")


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends; fail loudly if it does."""
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coro.close()
    raise AssertionError("coroutine suspended; run_now only drives non-suspending coroutines")


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FixedRandom(random.Random):
    """An rng whose random() is a given value: pins a delay to one end of its range."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def failing(
    times: int, error: BaseException, result: str = "ok"
) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that raises `error` on its first `times` invocations, then returns `result`."""
    calls = [0]

    async def fn() -> str:
        calls[0] += 1
        if calls[0] <= times:
            raise error
        return result

    return fn, calls


# --- RetryPolicy: examples ----------------------------------------------------------------------


def test_cap_grows_exponentially_up_to_max() -> None:
    policy = RetryPolicy(base_s=0.1, max_s=1.0, multiplier=2.0, max_attempts=5, jitter=0.0)
    caps = [policy.cap(n) for n in range(1, 7)]
    assert caps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0]), caps


def test_cap_of_a_huge_attempt_is_max_not_overflow() -> None:
    policy = RetryPolicy(base_s=0.1, max_s=2.0, multiplier=10.0)
    assert policy.cap(100_000) == 2.0, "multiplier ** n overflows; the cap must still be max_s"


def test_cap_with_multiplier_one_is_constant() -> None:
    policy = RetryPolicy(base_s=0.3, max_s=5.0, multiplier=1.0)
    assert {policy.cap(n) for n in (1, 2, 50)} == {0.3}


def test_delay_without_jitter_is_the_cap() -> None:
    policy = RetryPolicy(base_s=0.25, max_s=10.0, multiplier=3.0, jitter=0.0)
    assert policy.delay(1, random.Random(1)) == 0.25
    assert policy.delay(3, random.Random(2)) == pytest.approx(2.25)


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 0.8), (0.5, 0.6), (0.999, 0.4004)])
def test_jitter_takes_off_a_share_of_the_cap(draw: float, expected: float) -> None:
    policy = RetryPolicy(base_s=0.2, max_s=5.0, multiplier=2.0, jitter=0.5)
    assert policy.delay(3, FixedRandom(draw)) == pytest.approx(expected), f"draw {draw}"


def test_delay_uses_the_global_random_without_an_rng() -> None:
    policy = RetryPolicy(base_s=1.0, max_s=1.0, jitter=1.0)
    saved = random.getstate()
    try:
        random.seed(7)
        expected = 1.0 - random.random()
        random.seed(7)
        assert policy.delay(1) == pytest.approx(expected)
    finally:
        random.setstate(saved)  # other tests must not inherit a fixed global seed


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_start_at_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt numbers start at 1"):
        RetryPolicy().delay(attempt)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_s": 0.0}, "base_s"),
        ({"base_s": -1.0}, "base_s"),
        ({"base_s": math.nan}, "base_s"),
        ({"base_s": math.inf, "max_s": math.inf}, "base_s"),
        ({"base_s": 2.0, "max_s": 1.0}, "max_s"),
        ({"max_s": math.inf}, "max_s"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"multiplier": math.inf}, "multiplier"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": 1.1}, "jitter"),
    ],
)
def test_retry_policy_rejects_nonsense(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_policy_accepts_its_boundaries() -> None:
    RetryPolicy(base_s=1.0, max_s=1.0, multiplier=1.0, max_attempts=1, jitter=0.0)
    RetryPolicy(jitter=1.0)


def test_call_retries_transient_errors_then_succeeds() -> None:
    policy = RetryPolicy(base_s=0.1, max_s=1.0, multiplier=2.0, max_attempts=3, jitter=0.0)
    fn, calls = failing(2, TransientError("down"))
    sleeps = Sleeps()
    assert run_now(policy.call(fn, sleep=sleeps)) == "ok"
    assert calls == [3], "two failures, then the third attempt succeeds"
    assert sleeps.delays == pytest.approx([0.1, 0.2]), "one back-off before each retry"


def test_call_gives_up_after_max_attempts_with_the_last_error() -> None:
    policy = RetryPolicy(base_s=0.1, max_attempts=3, jitter=0.0)
    error = TransientError("still down")
    fn, calls = failing(10, error)
    sleeps = Sleeps()
    with pytest.raises(TransientError) as raised:
        run_now(policy.call(fn, sleep=sleeps))
    assert raised.value is error
    assert calls == [3], "max_attempts counts the first call"
    assert len(sleeps.delays) == 2, "no sleep after the last attempt"


def test_call_with_one_attempt_never_retries() -> None:
    fn, calls = failing(1, TransientError("down"))
    sleeps = Sleeps()
    with pytest.raises(TransientError):
        run_now(RetryPolicy(max_attempts=1).call(fn, sleep=sleeps))
    assert calls == [1] and sleeps.delays == []


def test_call_does_not_retry_other_errors() -> None:
    fn, calls = failing(1, ServiceError("bad request"))
    sleeps = Sleeps()
    with pytest.raises(ServiceError, match="bad request"):
        run_now(RetryPolicy(max_attempts=5).call(fn, sleep=sleeps))
    assert calls == [1] and sleeps.delays == [], "a non-retryable error propagates at once"


def test_call_retries_what_retry_on_names() -> None:
    fn, calls = failing(2, KeyError("flaky"))
    sleeps = Sleeps()
    result = run_now(RetryPolicy(max_attempts=3).call(fn, retry_on=(KeyError,), sleep=sleeps))
    assert result == "ok" and calls == [3]
    fn, calls = failing(1, TransientError("x"))
    with pytest.raises(TransientError):
        run_now(RetryPolicy(max_attempts=3).call(fn, retry_on=(KeyError,), sleep=sleeps))
    assert calls == [1], "TransientError is not retried when retry_on does not name it"


def test_call_passes_the_rng_to_delay() -> None:
    policy = RetryPolicy(base_s=1.0, max_s=1.0, max_attempts=2, jitter=1.0)
    fn, _ = failing(1, TransientError("x"))
    sleeps = Sleeps()
    run_now(policy.call(fn, sleep=sleeps, rng=FixedRandom(0.75)))
    assert sleeps.delays == pytest.approx([0.25])


async def test_call_sleeps_with_asyncio_by_default() -> None:
    policy = RetryPolicy(base_s=0.001, max_s=0.001, max_attempts=2)
    fn, calls = failing(1, TransientError("x"))
    assert await policy.call(fn) == "ok" and calls == [2]


# --- RetryPolicy: properties --------------------------------------------------------------------

policies = st.builds(
    RetryPolicy,
    base_s=st.floats(1e-4, 10.0),
    max_s=st.floats(10.0, 1000.0),
    multiplier=st.floats(1.0, 10.0),
    max_attempts=st.integers(1, 8),
    jitter=st.floats(0.0, 1.0),
)


def documented_cap(policy: RetryPolicy, attempt: int) -> float:
    """min(max_s, base_s·multiplier^(n-1)), computed without overflowing the power."""
    exponent = attempt - 1
    headroom = math.log(policy.max_s / policy.base_s) + 1
    if exponent * math.log(policy.multiplier) > headroom:
        return policy.max_s  # the power is beyond max_s by a factor of e or more
    return min(policy.max_s, policy.base_s * policy.multiplier**exponent)


@given(policy=policies, attempt=st.integers(1, 2000), seed=st.integers(0, 2**32))
def test_delay_within_documented_bounds(policy: RetryPolicy, attempt: int, seed: int) -> None:
    upper = documented_cap(policy, attempt)
    delay = policy.delay(attempt, random.Random(seed))
    tolerance = 1e-9 * upper
    assert upper * (1 - policy.jitter) - tolerance <= delay <= upper + tolerance, (
        f"delay {delay} outside [{upper * (1 - policy.jitter)}, {upper}] for attempt {attempt}"
    )


@given(policy=policies, attempts=st.lists(st.integers(1, 3000), min_size=2, max_size=20))
def test_upper_bound_never_decreases(policy: RetryPolicy, attempts: list[int]) -> None:
    caps = [policy.cap(n) for n in sorted(attempts)]
    assert caps == sorted(caps), f"caps {caps} decrease somewhere"
    assert all(0 < c <= policy.max_s for c in caps)


@given(policy=policies, failures=st.integers(0, 10), seed=st.integers(0, 1000))
def test_call_attempts_at_most_max_attempts(policy: RetryPolicy, failures: int, seed: int) -> None:
    fn, calls = failing(failures, TransientError("down"))
    sleeps = Sleeps()
    succeeds = failures < policy.max_attempts
    try:
        run_now(policy.call(fn, sleep=sleeps, rng=random.Random(seed)))
    except TransientError:
        assert not succeeds, "gave up although an attempt was left"
    else:
        assert succeeds, "succeeded although every allowed attempt failed"
    assert calls == [min(failures + 1, policy.max_attempts)]
    assert len(sleeps.delays) == calls[0] - 1
    for n, delay in enumerate(sleeps.delays, start=1):
        assert delay <= policy.cap(n) * (1 + 1e-9), f"sleep {n} was {delay} > cap {policy.cap(n)}"


# --- CircuitBreaker: examples -------------------------------------------------------------------


def state_of(breaker: CircuitBreaker) -> str:
    # A call, not the property: mypy would narrow `breaker.state` after one assert and then
    # call the next comparison impossible, although the state changes in between.
    return breaker.state


def test_opens_after_threshold_consecutive_failures() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=10.0, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert state_of(breaker) == "closed" and breaker.consecutive_failures == 2
    breaker.record_success()
    assert breaker.consecutive_failures == 0, "a success resets the consecutive count"
    for _ in range(3):
        breaker.record_failure()
    assert state_of(breaker) == "open"
    assert not breaker.allow(), "an open circuit rejects"
    assert breaker.retry_after_s() == 10.0
    clock.now += 4.0
    assert breaker.retry_after_s() == 6.0
    assert state_of(breaker) == "open"


def test_half_open_admits_trials_and_a_success_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, half_open_max_calls=2, clock=clock)
    breaker.record_failure()
    clock.now += 5.0
    assert state_of(breaker) == "half_open", "exactly reset_timeout later the circuit probes"
    assert breaker.retry_after_s() == 0.0
    assert [breaker.allow() for _ in range(3)] == [True, True, False]
    breaker.record_success()
    assert state_of(breaker) == "closed" and breaker.allow()


def test_a_failed_trial_reopens_and_restarts_the_timer() -> None:
    clock = Clock()
    breaker = CircuitBreaker(2, 5.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 7.0
    assert breaker.allow(), "the trial call"
    breaker.record_failure()
    assert state_of(breaker) == "open"
    assert breaker.retry_after_s() == 5.0, "the timer restarts at the failed trial"
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_results_while_open_are_ignored() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.record_failure()
    clock.now += 3.0
    breaker.record_failure()  # a late result of a call admitted before the circuit opened
    breaker.record_success()
    assert state_of(breaker) == "open" and breaker.retry_after_s() == 2.0


def test_release_gives_a_trial_slot_back() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, clock=clock)
    breaker.record_failure()
    clock.now += 1.0
    assert breaker.allow() and not breaker.allow()
    breaker.release()
    assert breaker.allow(), "the released slot can be taken again"
    breaker.release()
    breaker.release()  # more releases than trials must not create extra slots
    assert breaker.allow() and not breaker.allow()


def test_release_outside_half_open_changes_nothing() -> None:
    breaker = CircuitBreaker(1, 1.0, clock=Clock())
    breaker.release()
    assert state_of(breaker) == "closed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1.0), "failure_threshold"),
        ((1, -1.0), "reset_timeout_s"),
        ((1, math.nan), "reset_timeout_s"),
        ((1, math.inf), "reset_timeout_s"),
        ((1, 1.0, 0), "half_open_max_calls"),
    ],
)
def test_breaker_rejects_nonsense(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreaker(*args)


def test_breaker_accepts_its_boundaries() -> None:
    breaker = CircuitBreaker(1, 0.0, half_open_max_calls=1)
    breaker.record_failure()
    assert state_of(breaker) == "half_open", "a zero reset timeout probes at once"


def test_default_name_shows_in_the_rejection() -> None:
    breaker = CircuitBreaker(1, 60.0, clock=Clock())
    breaker.record_failure()
    with pytest.raises(CircuitOpen, match=r"^circuit 'circuit' is open"):
        run_now(breaker.call(failing(0, TransientError())[0]))


def test_default_clock_is_monotonic() -> None:
    breaker = CircuitBreaker(1, 3600.0)
    breaker.record_failure()
    assert 3599.0 < breaker.retry_after_s() <= 3600.0


def test_call_helper_counts_only_failure_on() -> None:
    clock = Clock()
    breaker = CircuitBreaker(2, 5.0, clock=clock, name="archive")
    fn, _ = failing(1, KeyError("4xx-like"))
    with pytest.raises(KeyError):
        run_now(breaker.call(fn))
    assert breaker.consecutive_failures == 0, "an answer that is not a failure is a success"
    fn, calls = failing(2, TransientError("down"))
    for _ in range(2):
        with pytest.raises(TransientError, match="down"):
            run_now(breaker.call(fn))
    with pytest.raises(CircuitOpen) as raised:
        run_now(breaker.call(fn))
    assert raised.value.retry_after_s == 5.0 and raised.value.name == "archive"
    assert isinstance(raised.value, TransientError), "the app answers it with 503"
    assert str(raised.value) == ("circuit 'archive' is open after repeated failures; retry in 5.0s")
    clock.now += 5.0
    assert calls == [2], "the rejected call was not made"
    assert run_now(breaker.call(fn)) == "ok", "the trial call succeeds"
    assert state_of(breaker) == "closed"


def test_call_helper_custom_failure_on() -> None:
    breaker = CircuitBreaker(1, 5.0, clock=Clock())
    fn, _ = failing(1, TransientError("not counted"))
    with pytest.raises(TransientError):
        run_now(breaker.call(fn, failure_on=(KeyError,)))
    assert state_of(breaker) == "closed"
    fn, _ = failing(1, KeyError("counted"))
    with pytest.raises(KeyError):
        run_now(breaker.call(fn, failure_on=(KeyError,)))
    assert state_of(breaker) == "open"


def test_cancelled_trial_releases_its_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, clock=clock)
    breaker.record_failure()
    clock.now += 1.0
    fn, _ = failing(1, asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        run_now(breaker.call(fn))
    assert state_of(breaker) == "half_open" and breaker.allow(), "the slot is free again"


def test_state_values_order_by_unavailability() -> None:
    assert STATE_VALUES == {"closed": 0, "half_open": 1, "open": 2}


# --- CircuitBreaker: a state machine checked against a model ------------------------------------

# Quarter seconds: sums and differences of these are exact in binary floating point, so the
# model and the breaker can never disagree through rounding.
quarters = st.integers(0, 40).map(lambda q: q / 4)


class BreakerMachine(RuleBasedStateMachine):
    """Drives a breaker with reports, clock steps and calls; after each step compares it with
    a model that keeps the deadline (`open_until`) instead of the opening time."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock(0.0)
        self.breaker = CircuitBreaker(1, 1.0, clock=self.clock)
        self.model = "closed"
        self.failures = 0
        self.open_until = 0.0
        self.trials = 0

    @initialize(
        threshold=st.integers(1, 4),
        reset=st.integers(0, 12).map(lambda q: q / 4),
        max_trials=st.integers(1, 3),
    )
    def configure(self, threshold: int, reset: float, max_trials: int) -> None:
        self.threshold = threshold
        self.reset = reset
        self.max_trials = max_trials
        self.breaker = CircuitBreaker(threshold, reset, max_trials, clock=self.clock, name="m")

    # The model's own view of time: an open circuit is half-open from its deadline on.
    def _model_now(self) -> str:
        if self.model == "open" and self.clock.now >= self.open_until:
            self.model = "half_open"
            self.trials = 0
        return self.model

    def _model_open(self) -> None:
        self.model = "open"
        self.open_until = self.clock.now + self.reset
        self.trials = 0

    def _model_success(self) -> None:
        if self._model_now() != "open":
            self.model = "closed"
            self.failures = 0
            self.trials = 0

    def _model_failure(self) -> None:
        state = self._model_now()
        if state == "half_open":
            self._model_open()
        elif state == "closed":
            self.failures += 1
            if self.failures >= self.threshold:
                self._model_open()

    def _model_allow(self) -> bool:
        state = self._model_now()
        if state == "closed":
            return True
        if state == "half_open" and self.trials < self.max_trials:
            self.trials += 1
            return True
        return False

    @rule(dt=quarters)
    def advance_clock(self, dt: float) -> None:
        self.clock.now += dt

    @rule()
    def success(self) -> None:
        self.breaker.record_success()
        self._model_success()

    @rule()
    def failure(self) -> None:
        self.breaker.record_failure()
        self._model_failure()

    @rule()
    def ask(self) -> None:
        assert self.breaker.allow() == self._model_allow()

    @rule(outcome=st.sampled_from(["ok", "transient", "other", "cancelled"]))
    def try_call(self, outcome: str) -> None:
        errors: dict[str, BaseException] = {
            "transient": TransientError("down"),
            "other": ValueError("answered, but no"),
            "cancelled": asyncio.CancelledError(),
        }
        fn, calls = failing(1 if outcome in errors else 0, errors.get(outcome, ValueError()))
        expected_allowed = self._model_allow()
        expected_wait = self._model_retry_after()
        try:
            run_now(self.breaker.call(fn))
        except CircuitOpen as exc:
            assert not expected_allowed, "rejected a call the model admits"
            assert exc.retry_after_s == expected_wait
            assert calls == [0], "a rejected call must not be made"
            return
        except (TransientError, ValueError, asyncio.CancelledError):
            pass
        assert expected_allowed, "admitted a call the model rejects"
        assert calls == [1]
        if outcome == "transient":
            self._model_failure()
        elif outcome == "cancelled":
            if self.model == "half_open" and self.trials > 0:
                self.trials -= 1
        else:
            self._model_success()

    @precondition(lambda self: self.model == "half_open")
    @rule()
    def release(self) -> None:
        self.breaker.release()
        if self.trials > 0:
            self.trials -= 1

    def _model_retry_after(self) -> float:
        if self._model_now() != "open":
            return 0.0
        return self.open_until - self.clock.now

    @invariant()
    def matches_model(self) -> None:
        # Read the model first: both sides apply the open → half-open timeout lazily.
        model = self._model_now()
        assert self.breaker.state == model, f"breaker {self.breaker.state}, model {model}"
        assert self.breaker.consecutive_failures == self.failures
        assert self.breaker.retry_after_s() == self._model_retry_after()

    @invariant()
    def open_means_rejecting_for_a_while(self) -> None:
        if self._model_now() == "open":
            assert 0 < self.breaker.retry_after_s() <= self.reset
            assert not self.breaker.allow(), "an open circuit admitted a call"
        if self.model == "closed":
            assert self.failures < self.threshold


TestBreakerMachine = BreakerMachine.TestCase
