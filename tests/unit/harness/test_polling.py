"""`poll_until` waits for a value, not for any answer: an empty result is "not yet" (issue 19)."""

from __future__ import annotations

import time

import pytest

from harness.polling import PollTimeout, poll_until


class Source:
    """A collection that stays empty for its first `empty_calls` reads, then holds one record."""

    def __init__(self, empty_calls: int, filled: object = ("record",)) -> None:
        self.calls, self.empty_calls, self.filled = 0, empty_calls, filled

    async def read(self) -> object:
        self.calls += 1
        return self.filled if self.calls > self.empty_calls else type(self.filled)()


@pytest.mark.parametrize("filled", [["record"], {"k": 1}, "text", 3, ("record",)])
async def test_an_empty_source_is_awaited_until_filled(filled: object) -> None:
    source = Source(empty_calls=3, filled=filled)
    got = await poll_until(source.read, 5, "the record", interval=0.01)
    assert got == filled, f"expected the filled value, got {got!r}"
    assert source.calls == 4, f"expected 3 empty reads to be waited out, got {source.calls} calls"


async def test_a_source_that_stays_empty_times_out_with_the_last_value() -> None:
    source = Source(empty_calls=10**9, filled=["record"])
    started = time.monotonic()
    with pytest.raises(PollTimeout) as info:
        await poll_until(source.read, 0.3, "a record in the DLQ", interval=0.01)
    assert time.monotonic() - started >= 0.3, "expected the poll to wait out its timeout"
    message = str(info.value)
    assert "a record in the DLQ" in message and "last seen: []" in message, message
    assert source.calls > 1, "expected the empty source to be read more than once"


async def test_accept_takes_a_falsy_value_when_told() -> None:
    async def zero() -> int:
        return 0

    assert await poll_until(zero, 1, "a count", accept=lambda n: n == 0) == 0


async def test_accept_alone_decides() -> None:
    source = Source(empty_calls=0, filled=["a"])
    with pytest.raises(PollTimeout):
        await poll_until(
            source.read, 0.2, "two records", interval=0.01, accept=lambda r: len(r) == 2
        )


async def test_a_raising_check_is_retried_and_its_error_reported() -> None:
    calls = 0

    async def flaky() -> list[str]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("refused")
        return ["up"]

    assert await poll_until(flaky, 5, "the server", interval=0.01) == ["up"]

    async def down() -> list[str]:
        raise ConnectionError("refused")

    with pytest.raises(PollTimeout, match="ConnectionError: refused"):
        await poll_until(down, 0.1, "the server", interval=0.01)
