"""Example tests of the archive's tags and summary."""

from __future__ import annotations

import math

import pytest

from reference_services.archive.tags import (
    SUMMARY_MAX_CHARS,
    derive_tags,
    success_band,
    summarize,
)


@pytest.mark.parametrize(
    ("rate", "band"),
    [
        (0.0, "low"),
        (0.5, "low"),
        (0.6999, "low"),
        (0.7, "medium"),
        (0.8999, "medium"),
        (0.9, "high"),
        (1.0, "high"),
    ],
)
def test_success_band_boundaries(rate: float, band: str) -> None:
    assert success_band(rate) == band, f"band of {rate}"


@pytest.mark.parametrize("rate", [math.nan, -0.01, 1.01, math.inf])
def test_rate_outside_unit_interval_is_rejected(rate: float) -> None:
    with pytest.raises(ValueError, match="success rate"):
        derive_tags(["search"], rate)
    with pytest.raises(ValueError, match="success rate"):
        success_band(rate)
    with pytest.raises(ValueError, match="success rate"):
        summarize("x", 1, "success", rate)


def test_derive_tags_sorted_unique_then_band() -> None:
    tags = derive_tags(["summarize", "search", "search", "open"], 0.7)
    assert tags == ["open", "search", "summarize", "success:medium"], "sorted, unique, band last"


def test_derive_tags_drops_blank_and_duplicate_band() -> None:
    tags = derive_tags(["", "  ", "success:high", "send"], 1.0)
    assert tags == ["send", "success:high"], "blank types dropped; band tag appears once"


def test_derive_tags_accepts_a_generator() -> None:
    tags = derive_tags((t for t in ["b", "a"]), 0.0)
    assert tags == ["a", "b", "success:low"], "any iterable of task types"


def test_summarize_sentence() -> None:
    text = summarize("Dosyayı aç ve içeriğini özetle", 2, "partial_success", 0.5)
    assert text == (
        '"Dosyayı aç ve içeriğini özetle" ran as 2 segments: partial_success, 50.0% completed.'
    ), f"unexpected summary {text!r}"


def test_summarize_singular_and_rounding_down() -> None:
    text = summarize("open it", 1, "partial_success", 0.99999)
    assert "1 segment:" in text, f"singular noun expected in {text!r}"
    assert "99.9%" in text, f"a partial run must not read as 100% in {text!r}"


def test_summarize_truncates_long_commands_with_ellipsis() -> None:
    text = summarize("x" * 4000, 50, "success", 1.0)
    assert len(text) == SUMMARY_MAX_CHARS, f"summary should fill exactly 280 chars, got {len(text)}"
    assert "…" in text, "a cut command is marked with an ellipsis"
    assert text.endswith("ran as 50 segments: success, 100.0% completed."), "the facts survive"


def test_summarize_is_one_line_and_braces_are_literal() -> None:
    text = summarize("open {x}\nand\tthen {}", 3, "fail{ure", 0.0)
    assert "\n" not in text and "\t" not in text, f"one line expected: {text!r}"
    assert '"open {x} and then {}"' in text, f"braces are not format fields: {text!r}"
    assert "fail{ure" in text, "status is shown as given"


def test_summarize_rejects_negative_count() -> None:
    with pytest.raises(ValueError, match="segments_count"):
        summarize("x", -1, "success", 1.0)


# --- edges (found by mutation testing, `make mutation`) -----------------------------------------

# Length of the summary around the count with status "success" at 100%: '" ran as ' and
# ' segments: success, 100.0% completed.'
_FIXED_TAIL = 46


@pytest.mark.parametrize(
    ("room", "shown"),
    [(0, '""'), (1, '"…"'), (2, '"a…"')],
)
def test_command_shrinks_to_nothing_when_the_count_takes_the_room(room: int, shown: str) -> None:
    # A huge segment count leaves `room` characters for the command; the facts still fit.
    count = int("9" * (SUMMARY_MAX_CHARS - 1 - room - _FIXED_TAIL))
    text = summarize("abc def", count, "success", 1.0)
    assert text.startswith(shown + " ran as 9"), f"room {room}: {text[:12]!r}"
    assert len(text) == SUMMARY_MAX_CHARS and text.endswith("100.0% completed.")


def test_a_cut_at_a_space_does_not_leave_it_before_the_ellipsis() -> None:
    # 231 characters of the command fit; with 7-character words the cut lands on a space.
    text = summarize("xxxxxx " * 60, 3, "success", 1.0)
    assert 'xxxxxx…" ran as 3 segments' in text, f"space kept before the ellipsis: {text!r}"


def test_blank_status_reads_unknown() -> None:
    assert summarize("x", 3, " \n ", 1.0) == '"x" ran as 3 segments: unknown, 100.0% completed.'
