"""The login gate: parallel guesses are counted, a user's own parallel logins are not refused."""

import asyncio

import pytest

from reference_services.gateway.login_gate import LoginGate, Throttled
from reference_services.gateway.ratelimit import TokenBucketLimiter


def _gate(burst: int, wait_s: float = 5.0) -> LoginGate:
    # A clock that does not move: no failure is refilled during a test.
    return LoginGate(TokenBucketLimiter(burst, 1 / 60, clock=lambda: 0.0), wait_s=wait_s)


async def _try(gate: LoginGate, name: str, *, correct: bool, checked: list[str]) -> str:
    try:
        async with gate.attempt(name) as attempt:
            checked.append(name)
            await asyncio.sleep(0.01)  # the password check, while others arrive
            if not correct:
                attempt.failed()
    except Throttled:
        return "throttled"
    return "ok" if correct else "failed"


async def test_parallel_guesses_are_checked_no_more_than_the_burst() -> None:
    gate = _gate(5)
    checked: list[str] = []
    outcomes = await asyncio.gather(
        *(_try(gate, "victim", correct=False, checked=checked) for _ in range(40))
    )
    assert len(checked) == 5, f"expected 5 guesses checked (the burst), {len(checked)} were"
    assert outcomes.count("failed") == 5
    assert outcomes.count("throttled") == 35
    assert gate.in_flight("victim") == 0


async def test_parallel_correct_logins_all_succeed() -> None:
    gate = _gate(3)
    checked: list[str] = []
    outcomes = await asyncio.gather(
        *(_try(gate, "demo-user", correct=True, checked=checked) for _ in range(20))
    )
    assert outcomes == ["ok"] * 20, f"a user's own parallel logins were refused: {outcomes}"
    # Nothing was charged: the name still has its whole burst.
    assert gate.limiter.peek("demo-user").remaining == 3


async def test_a_throttled_name_refuses_the_correct_password_too() -> None:
    gate = _gate(2)
    checked: list[str] = []
    for _ in range(2):
        assert await _try(gate, "n", correct=False, checked=checked) == "failed"
    assert await _try(gate, "n", correct=True, checked=checked) == "throttled"
    assert len(checked) == 2


async def test_an_error_during_the_check_counts_as_a_failure() -> None:
    gate = _gate(1)
    with pytest.raises(RuntimeError):
        async with gate.attempt("n"):
            raise RuntimeError("database went away")
    with pytest.raises(Throttled):
        async with gate.attempt("n"):
            pass


async def test_an_attempt_waits_no_longer_than_its_limit() -> None:
    gate = _gate(1, wait_s=0.05)
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.attempt("n"):
            await release.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0)  # the holder takes the only place
    with pytest.raises(Throttled) as refused:
        async with gate.attempt("n"):
            pass
    assert refused.value.decision.retry_after_s >= 1
    release.set()
    await task
    async with gate.attempt("n"):
        pass  # the place is free again, and nothing was charged
