"""Example tests of the segmenter: Turkish and English commands, casing, splitting edge cases."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from reference_services.segmentation.segmenter import (
    MAX_SEGMENTS,
    TASK_KEYWORDS,
    SegmentationResult,
    detect_language,
    segment,
    tr_lower,
)


def _types(result: SegmentationResult) -> list[str]:
    return [s["task_type"] for s in result.segments]


def _contents(result: SegmentationResult) -> list[str]:
    return [s["content"] for s in result.segments]


def _deps(result: SegmentationResult) -> list[list[str]]:
    return [s["dependencies"] for s in result.segments]


def _priorities(result: SegmentationResult) -> list[int]:
    return [s["priority"] for s in result.segments]


# --- Turkish -----------------------------------------------------------------------------------

TURKISH_CASES: list[tuple[str, list[str], list[str], list[list[str]]]] = [
    (
        "Dosyayı aç ve içeriğini özetle",
        ["Dosyayı aç", "içeriğini özetle"],
        ["open", "summarize"],
        [[], []],
    ),
    (
        "Hava durumunu ara, ardından sonucu e-posta ile gönder",
        ["Hava durumunu ara", "sonucu e-posta ile gönder"],
        ["search", "send"],
        [[], ["s1"]],
    ),
    (
        "ACİL: raporu oluştur sonra ekibe gönder",
        ["ACİL: raporu oluştur", "ekibe gönder"],
        ["create", "send"],
        [[], ["s1"]],
    ),
    (
        "İSTANBUL'DA HAVA DURUMUNU ARA VE SONUÇLARI ÖZETLE",
        ["İSTANBUL'DA HAVA DURUMUNU ARA", "SONUÇLARI ÖZETLE"],
        ["search", "summarize"],
        [[], ["s1"]],
    ),
    (
        "Belgeyi İngilizceye çevir ve bana yolla",
        ["Belgeyi İngilizceye çevir", "bana yolla"],
        ["translate", "send"],
        [[], []],
    ),
    (
        "Eski dosyaları sil. Sonra yeni bir klasör oluştur",
        ["Eski dosyaları sil", "yeni bir klasör oluştur"],
        ["delete", "create"],
        [[], ["s1"]],
    ),
    (
        "Bu ayın satışlarını analiz et ardından önemli noktaları özetle",
        ["Bu ayın satışlarını analiz et", "önemli noktaları özetle"],
        ["analyze", "summarize"],
        [[], ["s1"]],
    ),
    (
        "Yarın saat 9'da toplantıyı hatırlat",
        ["Yarın saat 9'da toplantıyı hatırlat"],
        ["schedule"],
        [[]],
    ),
    (
        "Ali'nin dosyasını aç ve Ayşe'ye gönder",
        ["Ali'nin dosyasını aç", "Ayşe'ye gönder"],
        ["open", "send"],
        [[], []],
    ),
    (
        "Dosyayı açtıktan sonra özetle",
        ["Dosyayı açtıktan", "özetle"],
        ["open", "summarize"],
        [[], ["s1"]],
    ),
]


@pytest.mark.parametrize(("command", "contents", "types", "deps"), TURKISH_CASES)
def test_turkish_commands(
    command: str, contents: list[str], types: list[str], deps: list[list[str]]
) -> None:
    result = segment(command)
    assert result.language == "tr", f"{command!r} should be detected as Turkish"
    assert _contents(result) == contents, f"clauses of {command!r}"
    assert _types(result) == types, f"task types of {command!r}"
    assert _deps(result) == deps, f"dependencies of {command!r}"


def test_turkish_uppercase_example_from_brief() -> None:
    result = segment("İSTANBUL'DA HAVA DURUMUNU ARA VE SONUÇLARI ÖZETLE")
    assert len(result.segments) == 2, "expected search + summarize"
    assert result.segments[1]["dependencies"] == ["s1"], "'SONUÇLARI' refers back to s1"


def test_urgent_turkish_priority_is_per_segment() -> None:
    result = segment("ACİL: raporu oluştur sonra ekibe gönder")
    assert _priorities(result) == [5, 3], "only the clause saying ACİL is urgent"


def test_turkish_low_priority_phrases() -> None:
    assert _priorities(segment("düşük öncelik: eski logları sil")) == [1], "düşük öncelik → 1"
    result = segment("Bunu sonra bir ara yap")
    assert _contents(result) == ["Bunu sonra bir ara yap"], "'sonra bir ara' is not a connective"
    assert _priorities(result) == [1], "'sonra bir ara' → low priority"
    assert _types(result) == ["general"], "the 'ara' of 'bir ara' is not a search"


def test_daha_sonra_bir_ara_is_low_priority_send() -> None:
    result = segment("Raporu yaz, daha sonra bir ara gönder")
    assert _types(result) == ["create", "send"], "'ara' inside 'bir ara' must not mean search"
    assert _priorities(result) == [3, 1], "the second clause is 'sonra bir ara' → 1"
    assert _deps(result) == [[], ["s1"]], "'daha sonra' is sequential"


def test_sonra_after_ablative_noun_is_a_postposition() -> None:
    result = segment("toplantıdan sonra beni ara")
    assert _contents(result) == ["toplantıdan sonra beni ara"], "'X-dan sonra' is one task"


@pytest.mark.parametrize("connective", ["ve", "VE", "Ve", "sonra", "SONRA", "ARDINDAN", "Ardından"])
def test_turkish_connectives_split_in_any_case(connective: str) -> None:
    result = segment(f"dosyayı aç {connective} raporu gönder")
    assert _contents(result) == ["dosyayı aç", "raporu gönder"], f"{connective!r} should split"


def test_turkish_casing_does_not_change_the_result() -> None:
    lower = segment("dosyayı aç ve içeriğini özetle")
    upper = segment("DOSYAYI AÇ VE İÇERİĞİNİ ÖZETLE")
    assert upper.language == "tr", "upper-case Turkish is still Turkish"
    assert _types(upper) == _types(lower), "casing must not change task types"
    assert _deps(upper) == _deps(lower), "casing must not change dependencies"


def test_turkish_typed_without_diacritics() -> None:
    result = segment("TOPLANTIYI HATIRLAT ve sonucu gonder")
    assert result.language == "tr", "ASCII-typed Turkish is still Turkish"
    assert _types(result)[0] == "schedule", "HATIRLAT (dotless I typed as I) is schedule"


def test_turkish_decimal_and_quotes() -> None:
    result = segment("Toplam maliyeti hesapla: 3.5 ve 2.25 ekle")
    assert _contents(result) == ["Toplam maliyeti hesapla: 3.5", "2.25 ekle"], "3.5 must not split"
    assert result.segments[0]["parameters"] == {"numbers": [3.5]}, "3.5 parsed as float"
    assert result.segments[1]["parameters"] == {"numbers": [2.25]}, "2.25 parsed as float"
    quoted = segment("'elma ve armut' kelimesini ara")
    assert len(quoted.segments) == 1, "a 've' inside quotes must not split"
    assert quoted.segments[0]["parameters"]["quoted"] == ["elma ve armut"], "quoted text kept"


# --- English -----------------------------------------------------------------------------------

ENGLISH_CASES: list[tuple[str, list[str], list[str], list[list[str]]]] = [
    (
        "Search the web for 'cats and dogs' then summarize the results",
        ["Search the web for 'cats and dogs'", "summarize the results"],
        ["search", "summarize"],
        [[], ["s1"]],
    ),
    (
        "Find the report and email it to Bob",
        ["Find the report", "email it to Bob"],
        ["search", "send"],
        [[], ["s1"]],
    ),
    (
        "Translate the document, and then share it",
        ["Translate the document", "share it"],
        ["translate", "send"],
        [[], ["s1"]],
    ),
    (
        "Make a list. Also inspect the logs",
        ["Make a list", "inspect the logs"],
        ["create", "analyze"],
        [[], []],
    ),
    (
        "urgent: delete the temp files; afterwards create a backup",
        ["urgent: delete the temp files", "create a backup"],
        ["delete", "create"],
        [[], ["s1"]],
    ),
    (
        "Open the dashboard\nCalculate the totals\nafter that schedule a review",
        ["Open the dashboard", "Calculate the totals", "schedule a review"],
        ["open", "compute", "schedule"],
        [[], [], ["s2"]],
    ),
    (
        "Look up flights to Izmir and finally remind me",
        ["Look up flights to Izmir", "remind me"],
        ["search", "schedule"],
        [[], ["s1"]],
    ),
]


@pytest.mark.parametrize(("command", "contents", "types", "deps"), ENGLISH_CASES)
def test_english_commands(
    command: str, contents: list[str], types: list[str], deps: list[list[str]]
) -> None:
    result = segment(command)
    assert result.language == "en", f"{command!r} should be detected as English"
    assert _contents(result) == contents, f"clauses of {command!r}"
    assert _types(result) == types, f"task types of {command!r}"
    assert _deps(result) == deps, f"dependencies of {command!r}"


def test_english_priorities() -> None:
    assert _priorities(segment("urgent: delete the temp files")) == [5], "urgent → 5"
    assert _priorities(segment("Remind me later to call mom")) == [1], "later → 1"
    assert _priorities(segment("this is not urgent")) == [1], "'not urgent' is low, not high"
    assert _priorities(segment("open the file")) == [3], "no marker → default 3"


def test_urls_are_atomic_and_extracted() -> None:
    result = segment("Open https://example.com/a?b=1. Then compute 3.5 times 2")
    assert _contents(result) == ["Open https://example.com/a?b=1", "compute 3.5 times 2"], (
        "'?' and '.' inside a URL must not split; the sentence-final '.' is not part of it"
    )
    assert result.segments[0]["parameters"] == {"urls": ["https://example.com/a?b=1"]}, "url"
    assert result.segments[1]["parameters"] == {"numbers": [3.5, 2]}, "numbers as float and int"
    assert isinstance(result.segments[1]["parameters"]["numbers"][1], int), "2 stays an int"


def test_general_when_no_keyword() -> None:
    assert _types(segment("hello there")) == ["general"], "no keyword → general"


# --- splitting edge cases ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["", "   ", "\n\t  \r\n"])
def test_blank_command_raises(command: str) -> None:
    with pytest.raises(ValueError, match=r"^command is blank$"):
        segment(command)


@pytest.mark.parametrize("command", ["ve ve ve", "and", " then , and ; also ", "...", "?!"])
def test_only_connectives_or_punctuation_gives_one_segment(command: str) -> None:
    result = segment(command)
    assert _contents(result) == [command.strip()], "the whole stripped command is one segment"
    assert _types(result) == ["general"], "nothing actionable → general"


def test_quotes_containing_and_do_not_split() -> None:
    result = segment('Search for "salt and pepper; then. sugar" recipes')
    assert len(result.segments) == 1, "nothing inside double quotes may split"
    assert result.segments[0]["parameters"]["quoted"] == ["salt and pepper; then. sugar"], "quoted"


def test_unbalanced_quote_is_plain_text() -> None:
    result = segment('open "file and search')
    assert _contents(result) == ['open "file', "search"], "an unclosed quote protects nothing"


def test_apostrophes_are_not_quotes() -> None:
    result = segment("I've opened Ali's file and don't summarize it")
    assert _contents(result) == ["I've opened Ali's file", "don't summarize it"], "apostrophes"


def test_trailing_apostrophe_does_not_open_a_quote() -> None:
    result = segment("Open the boys' folder and send the girls' report")
    assert _contents(result) == ["Open the boys' folder", "send the girls' report"], (
        "a possessive apostrophe after a word must not start a quotation"
    )


def test_own_language_keywords_outrank_the_other_language() -> None:
    assert _types(segment("silently open the file")) == ["open"], (
        "English 'silently' must not match the Turkish stem 'sil' ahead of 'open'"
    )
    assert _types(segment("Newton'un kitabını bul")) == ["search"], (
        "Turkish 'Newton'un' must not match the English stem 'new' ahead of 'bul'"
    )
    assert _types(segment("maili kontrol et")) == ["send"], "no Turkish keyword → English fallback"


def test_decimals_and_file_names_do_not_split() -> None:
    result = segment("Set volume to 3.5 and open rapor.pdf. Then wait 0.75 s")
    assert _contents(result) == ["Set volume to 3.5", "open rapor.pdf", "wait 0.75 s"], "dots"


def test_comma_splits_only_before_a_connective() -> None:
    assert _contents(segment("buy apples, pears, plums")) == ["buy apples, pears, plums"], (
        "a comma without a connective after it does not split"
    )
    assert _contents(segment("buy apples, then cook")) == ["buy apples", "cook"], "', then'"


def test_leading_and_trailing_connectives_are_dropped() -> None:
    result = segment("And then open the file and")
    assert _contents(result) == ["open the file"], "connectives at the edges are not content"


def test_connectives_are_whole_words_only() -> None:
    result = segment("Open the Andes map and send the vendor list")
    assert _contents(result) == ["Open the Andes map", "send the vendor list"], "whole words"


def test_segment_ids_are_sequential() -> None:
    result = segment("a; b; c; d")
    assert [s["id"] for s in result.segments] == ["s1", "s2", "s3", "s4"], "ids s1..sN"


def test_4000_char_command_is_capped_at_50_segments() -> None:
    command = ("dosyayı aç ve sonucu özetle, ardından gönder. " * 100)[:4000]
    result = segment(command)
    assert len(result.segments) == MAX_SEGMENTS, "clauses beyond 50 merge into the last one"
    last = result.segments[-1]["content"]
    assert command.rstrip().endswith(last[-20:]), "the merged tail runs to the end of the command"
    assert all(1 <= len(s["content"]) <= 4000 for s in result.segments), "schema content length"


def test_segments_are_json_ready_and_complete() -> None:
    result = segment("Open https://x.io then compute 2 and 'x' [fail]", mode="chaos", chaos_level=7)
    for seg in result.segments:
        assert set(seg) == {"id", "task_type", "content", "parameters", "dependencies", "priority"}
        assert json.loads(json.dumps(seg)) == seg, f"segment {seg['id']} must survive JSON"
        assert seg["parameters"]["chaos_level"] == 7, "chaos mode adds chaos_level everywhere"


def test_chaos_level_only_in_chaos_mode() -> None:
    result = segment("open the file", mode="normal", chaos_level=5)
    assert result.segments[0]["parameters"] == {}, "chaos_level only belongs to chaos mode"


# --- control parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("open file simulate_fail", {"simulate_fail": True}),
        ("open file [FAIL]", {"simulate_fail": True}),
        ("open file simulate_ms=250", {"simulate_ms": 250}),
        ("open file [sleep 40]", {"simulate_ms": 40}),
        ("open file simulate_ms=99999", {"simulate_ms": 10000}),
        ("open file simulate_ms=0", {"simulate_ms": 0}),
        ("open file simulate_ms=1234567890123", {"simulate_ms": 10000}),
        ('search "simulate_fail [sleep 9]"', {"quoted": ["simulate_fail [sleep 9]"]}),
        ("open 3 files simulate_ms=20", {"numbers": [3], "simulate_ms": 20}),
    ],
)
def test_control_parameters(command: str, expected: dict[str, Any]) -> None:
    assert segment(command).segments[0]["parameters"] == expected, f"parameters of {command!r}"


def test_control_parameters_are_per_clause() -> None:
    result = segment("open the file [fail] then summarize it")
    assert result.segments[0]["parameters"] == {"simulate_fail": True}, "first clause fails"
    assert result.segments[1]["parameters"] == {}, "second clause is unaffected"


# --- language ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "en"),
        ("   ", "en"),
        ("12 34", "en"),
        ("open the file and summarize it", "en"),
        ("OPEN THE FILE", "en"),
        ("Dosyayı aç", "tr"),
        ("DOSYAYI AÇ", "tr"),
        ("İSTANBUL'DA HAVA", "tr"),
        ("raporu oluştur", "tr"),
        ("dosyayi ac ve sonucu gonder", "tr"),
        ("Istanbul'da", "tr"),
        ("don't", "en"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected, f"language of {text!r}"


def test_language_hint() -> None:
    assert segment("open the file", language="tr").language == "tr", "an explicit hint wins"
    assert segment("dosyayı aç", language="en-US").language == "en", "region suffix is ignored"
    assert segment("dosyayı aç", language="auto").language == "tr", "unknown hint → detection"
    assert segment("dosyayı aç", language="de").language == "tr", "unsupported hint → detection"


def test_tr_lower() -> None:
    assert tr_lower("İSTANBUL") == "istanbul", "İ → i"
    assert tr_lower("ISPARTA") == "ısparta", "I → ı"
    assert tr_lower("ÇĞÖŞÜ") == "çğöşü", "other Turkish capitals"
    assert "İ".lower() != "i", "guard: plain lower() is what tr_lower must avoid"


def test_task_keywords_table_covers_both_languages() -> None:
    expected = {
        "search",
        "open",
        "create",
        "analyze",
        "summarize",
        "send",
        "delete",
        "translate",
        "schedule",
        "compute",
    }
    for lang in ("tr", "en"):
        assert set(TASK_KEYWORDS[lang]) == expected, f"{lang} table has every task type"
        for task, stems in TASK_KEYWORDS[lang].items():
            for stem in stems:
                assert re.fullmatch(r"\w+( \w+)*", stem), f"{lang}/{task} stem {stem!r} is words"
                found = _types(segment(f"{stem} x", language=lang))
                assert found == [task], f"{lang} stem {stem!r} should mean {task}, got {found}"


def test_deterministic() -> None:
    command = "Dosyayı aç ve içeriğini özetle, ardından sonucu gönder [sleep 5]"
    assert segment(command) == segment(command), "same input → same output"
