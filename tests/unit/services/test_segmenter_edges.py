"""Segmenter edge cases that mutation testing (`make mutation`) showed were not pinned down.

Each test names the rule it holds; the inputs are the smallest commands on which a plausible
slip in that rule changes the result.
"""

from __future__ import annotations

from typing import Any

import pytest

from reference_services.segmentation.segmenter import MAX_SEGMENTS, detect_language, segment


def _summary(command: str, **kwargs: Any) -> list[tuple[str, str, list[str], int]]:
    """(content, task type, dependencies, priority) per segment."""
    return [
        (s["content"], s["task_type"], s["dependencies"], s["priority"])
        for s in segment(command, **kwargs).segments
    ]


def _parameters(command: str) -> list[dict[str, Any]]:
    return [s["parameters"] for s in segment(command).segments]


# --- language detection weights ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        # A word with a Turkish-only letter weighs 2, so one of them only ties two English words.
        ("özet the file", "en"),
        ("özet çıktı the file report", "tr"),
        # A plain Turkish word weighs 1, the same as an English word; ties go to English.
        ("dosya report", "en"),
        ("dosya rapor ve the", "tr"),
        ("özet dosya the file", "tr"),
        # Four letters are enough for a Turkish case suffix ("suyu": water, accusative) ...
        ("suyu", "tr"),
        # ... but length alone is not: long English words are not Turkish.
        ("summarize quarterly revenue", "en"),
    ],
)
def test_language_scores(text: str, language: str) -> None:
    assert detect_language(text) == language, f"language of {text!r}"


# --- connectives -------------------------------------------------------------------------------


def test_a_connective_after_a_non_connective_phrase_still_splits() -> None:
    assert _summary("bunu sonra bir ara yap ve raporu gönder") == [
        ("bunu sonra bir ara yap", "general", [], 1),
        ("raporu gönder", "send", [], 3),
    ]


@pytest.mark.parametrize("command", ["Bunu sonra bir ara", "Bunu sonra  bir  ara yap"])
def test_non_connective_phrase_at_the_end_or_with_wide_spaces(command: str) -> None:
    assert _summary(command) == [(command, "general", [], 1)], "one low-priority task"


def test_postposition_sonra_before_a_comma_does_not_split() -> None:
    assert _summary("Toplantıdan sonra, raporu gönder") == [
        ("Toplantıdan sonra, raporu gönder", "send", [], 3)
    ]


def test_sonra_glued_to_a_comma_is_a_connective() -> None:
    # A postposition needs a space before it; after a comma "sonra" starts the next step.
    assert _summary("Raporu toplantıdan,sonra gönder") == [
        ("Raporu toplantıdan", "general", [], 3),
        ("gönder", "send", ["s1"], 3),
    ]


@pytest.mark.parametrize("command", ["ara ve, özetle", "ara, ve özetle", "ara, ; özetle"])
def test_commas_around_clause_breaks_are_trimmed(command: str) -> None:
    assert _summary(command) == [("ara", "search", [], 3), ("özetle", "summarize", [], 3)]


def test_debris_between_connectives_is_dropped_but_keeps_them() -> None:
    assert _summary("ara ve - sonra özetle") == [
        ("ara", "search", [], 3),
        ("özetle", "summarize", ["s1"], 3),
    ]


def test_extra_clauses_merge_into_the_last_segment() -> None:
    result = segment(" ve ".join(f"a{i}" for i in range(1, 61)))
    contents = [s["content"] for s in result.segments]
    assert len(contents) == MAX_SEGMENTS
    assert contents[-2] == "a49"
    assert contents[-1] == " ve ".join(f"a{i}" for i in range(50, 61))


# --- task type and priority --------------------------------------------------------------------


def test_priority_words_do_not_hide_the_words_before_them() -> None:
    assert _summary("search flights urgently") == [("search flights urgently", "search", [], 5)]


def test_low_priority_words_do_not_choose_the_task_even_when_urgent() -> None:
    # "sonra bir ara" (some time later) contains "ara" (search); it only expresses priority.
    assert _summary("acil: raporu sonra bir ara gönder") == [
        ("acil: raporu sonra bir ara gönder", "send", [], 5)
    ]


def test_a_multi_word_stem_cut_off_by_the_end_does_not_match() -> None:
    assert _summary("take a look") == [("take a look", "general", [], 3)], "'look' without 'up'"


def test_english_commands_fall_back_to_turkish_keywords() -> None:
    assert _summary("the report özetle", language="en") == [
        ("the report özetle", "summarize", [], 3)
    ]


# --- tokens: quotes, apostrophes, URLs, commas ------------------------------------------------


def test_apostrophe_inside_a_quoted_word_does_not_close_the_quote() -> None:
    assert _parameters("'Ali'nin raporu' oku") == [{"quoted": ["Ali'nin raporu"]}]


@pytest.mark.parametrize("command", ["Kitabı aç, 'Ayşe'm", "x' planı' aç"])
def test_apostrophes_after_words_open_no_quote(command: str) -> None:
    assert _parameters(command) == [{}], f"no quotation in {command!r}"


def test_two_quotes_around_a_connective_are_two_quotes() -> None:
    assert _parameters('ara "kedi" ve "köpek" bul') == [
        {"quoted": ["kedi"]},
        {"quoted": ["köpek"]},
    ]


def test_a_number_right_after_a_quote_is_a_number() -> None:
    assert _parameters('"rapor"3 kopya yaz') == [{"quoted": ["rapor"], "numbers": [3]}]


def test_uppercase_urls_are_urls() -> None:
    assert _parameters("WWW.Example.com aç") == [{"urls": ["WWW.Example.com"]}]


def test_numbers_stay_in_their_own_clause_around_commas() -> None:
    assert _parameters("elma 3 kez al ve armut,5 muz al ve 7 kivi al") == [
        {"numbers": [3]},
        {"numbers": [5]},
        {"numbers": [7]},
    ]


# --- parameters: numbers and simulate_ms -------------------------------------------------------


def test_number_length_limit_is_thirty_digits() -> None:
    assert _parameters("9" * 30 + " aç") == [{"numbers": [int("9" * 30)]}]
    assert _parameters("9" * 31 + " 5 aç") == [{"numbers": [5]}], "later numbers are kept"


@pytest.mark.parametrize(
    ("digits", "expected"),
    [("000005", 5), ("9" * 5000, 10_000)],
)
def test_simulate_ms_digits(digits: str, expected: int) -> None:
    # int() refuses more than 4300 digits: long runs must clamp without parsing.
    assert _parameters(f"simulate_ms={digits} aç") == [{"simulate_ms": expected}]
