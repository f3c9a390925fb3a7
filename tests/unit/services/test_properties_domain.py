"""Hypothesis properties of segmentation, planning and tagging.

Oracles here are written independently of the implementation (own word regex, own casing fold,
brute-force reachability) so a property can catch a bug the implementation shares with itself.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reference_services.archive.tags import SUMMARY_MAX_CHARS, derive_tags, success_band, summarize
from reference_services.runner.planner import (
    CyclicDependencyError,
    blocked_by_failure,
    execution_layers,
    overall_status,
    simulate,
    success_rate,
)
from reference_services.segmentation.segmenter import MAX_SEGMENTS, segment

# Every word that occurs in some connective phrase; the only words a segment may drop.
CONNECTIVE_WORDS = frozenset(
    """ve ayrıca sonra ardından daha ondan bundan sonrasında son olarak
    and also then after that afterwards afterward finally""".split()
)
WORD = re.compile(r"\w+")


def fold(word: str) -> str:
    """Casing-convention-free comparison key (Turkish İ/I and ı all meet plain i)."""
    return (
        word.replace("İ", "i")
        .replace("I", "i")
        .lower()
        .casefold()
        .replace("ı", "i")
        .replace("\u0307", "")
    )


FOLDED_CONNECTIVES = frozenset(fold(w) for w in CONNECTIVE_WORDS)


def tr_upper(text: str) -> str:
    return text.replace("i", "İ").replace("ı", "I").upper()


TURKISH_WORDS = [
    "dosyayı",
    "aç",
    "içeriğini",
    "özetle",
    "hava",
    "durumunu",
    "ara",
    "sonucu",
    "e-posta",
    "ile",
    "gönder",
    "raporu",
    "oluştur",
    "ekibe",
    "acil",
    "sil",
    "eski",
    "klasörü",
    "çevir",
    "İngilizceye",
    "planla",
    "toplantıyı",
    "hatırlat",
    "hesapla",
    "toplamı",
    "incele",
    "bul",
    "yolla",
    "kaldır",
    "başlat",
    "uygulamayı",
    "bunu",
    "sonuçları",
    "önemli",
    "düşük",
    "öncelik",
    "bir",
    "şimdi",
    "yarın",
    "İstanbul'da",
    "Ali'nin",
    "ılık",
    "ışık",
    "iş",
    "kişi",
    "yaz",
    "3.5",
    "10",
    "'rapor ve özet'",
    '"ılık ve iş"',
    "simulate_ms=30",
    "[fail]",
]
TURKISH_GLUE = [
    " ",
    " ",
    " ",
    " ve ",
    " sonra ",
    " ardından ",
    ", ardından ",
    " daha sonra ",
    ". ",
    "; ",
    "\n",
    ", ",
    " ve sonra ",
    " ayrıca ",
    "! ",
]
ENGLISH_WORDS = [
    "open",
    "the",
    "file",
    "search",
    "web",
    "for",
    "cats",
    "summarize",
    "it",
    "results",
    "send",
    "email",
    "to",
    "Bob",
    "create",
    "report",
    "delete",
    "old",
    "logs",
    "translate",
    "urgent",
    "later",
    "compute",
    "3.5",
    "https://example.com/a?b=1.2",
    "'salt and pepper'",
    "I've",
    "don't",
    "Andes",
    "thenceforth",
    "[sleep 20]",
]
ENGLISH_GLUE = [
    " ",
    " ",
    " and ",
    " then ",
    ", then ",
    " and then ",
    " after that ",
    ". ",
    "; ",
    "? ",
    "\n",
    " also ",
    " finally ",
    ", ",
]


def _sentence(words: list[str], glue: list[str]) -> st.SearchStrategy[str]:
    return st.lists(
        st.tuples(st.sampled_from(words), st.sampled_from(glue)), min_size=1, max_size=25
    ).map(lambda pairs: "".join(w + g for w, g in pairs))


turkish_commands = _sentence(TURKISH_WORDS, TURKISH_GLUE).filter(str.strip)
english_commands = _sentence(ENGLISH_WORDS, ENGLISH_GLUE).filter(str.strip)
# Arbitrary text, biased towards characters that drive the splitter.
noisy_commands = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("aeiouvndxİIıiçğşöüÇĞŞÖÜ .,;!?'\"\n3-:/")),
        st.characters(codec="utf-8"),
    ),
    max_size=200,
).filter(str.strip)
commands = st.one_of(turkish_commands, english_commands, noisy_commands)


# --- segmentation ------------------------------------------------------------------------------


@given(commands)
def test_segmentation_is_deterministic(command: str) -> None:
    first, second = segment(command), segment(command)
    assert first == second, f"two runs on {command!r} differ"


@given(commands)
def test_nonblank_command_never_gives_empty_list(command: str) -> None:
    segments = segment(command).segments
    assert 1 <= len(segments) <= MAX_SEGMENTS, f"{len(segments)} segments for {command!r}"
    assert [s["id"] for s in segments] == [f"s{i}" for i in range(1, len(segments) + 1)], "ids"
    for s in segments:
        assert s["content"] and s["content"] == s["content"].strip(), f"content {s['content']!r}"
        assert s["content"] in command, f"content {s['content']!r} is not verbatim from command"
        assert 1 <= s["priority"] <= 5, f"priority {s['priority']} outside 1..5"


@given(commands)
def test_dependencies_point_backwards_only(command: str) -> None:
    segments = segment(command).segments
    for index, s in enumerate(segments, start=1):
        for dep in s["dependencies"]:
            assert re.fullmatch(r"s\d+", dep), f"dependency {dep!r} is not a segment id"
            assert int(dep[1:]) < index, f"s{index} depends forward/self on {dep} in {command!r}"
    layers = execution_layers(segments)
    assert sum(len(layer) for layer in layers) == len(segments), "acyclic: every segment planned"


@given(commands)
def test_every_non_connective_word_is_covered(command: str) -> None:
    contents = [fold(s["content"]) for s in segment(command).segments]
    for word in WORD.findall(command):
        if fold(word) in FOLDED_CONNECTIVES:
            continue
        assert any(fold(word) in c for c in contents), f"{word!r} of {command!r} was lost"


@given(turkish_commands)
def test_turkish_uppercase_keeps_task_types_and_segment_count(command: str) -> None:
    lower, upper = segment(command), segment(tr_upper(command))
    assert len(upper.segments) == len(lower.segments), (
        f"segment count changed by upper-casing {command!r}"
    )
    assert [s["task_type"] for s in upper.segments] == [s["task_type"] for s in lower.segments], (
        f"task types changed by upper-casing {command!r}"
    )


@settings(max_examples=25, deadline=None)  # 4000-char inputs: slower than the 200 ms default
@given(st.one_of(turkish_commands, english_commands))
def test_long_commands_stay_within_limits_and_keep_coverage(sentence: str) -> None:
    # Repeating a random sentence up to 4000 chars is much cheaper than drawing 700 words.
    command = (sentence * (4000 // len(sentence) + 1))[:4000]
    segments = segment(command).segments
    assert 1 <= len(segments) <= MAX_SEGMENTS, f"{len(segments)} segments for a long command"
    contents = [fold(s["content"]) for s in segments]
    for word in set(WORD.findall(command)):
        if fold(word) not in FOLDED_CONNECTIVES:
            assert any(fold(word) in c for c in contents), f"{word!r} lost in the merged tail"


# --- planner -----------------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Random DAG: node k may only depend on nodes < k; then the list order is shuffled."""
    n = draw(st.integers(0, 25))
    nodes = []
    for k in range(n):
        deps = draw(st.lists(st.integers(0, k - 1), unique=True, max_size=4)) if k else []
        nodes.append(
            {
                "id": f"n{k}",
                "dependencies": [f"n{d}" for d in deps],
                "priority": draw(st.integers(1, 5)),
            }
        )
    return draw(st.permutations(nodes))


@given(dags())
def test_layers_respect_dependencies_and_cover_each_segment_once(
    plan: list[dict[str, Any]],
) -> None:
    layers = execution_layers(plan)
    placed = [sid for layer in layers for sid in layer]
    assert sorted(placed) == sorted(s["id"] for s in plan), "each segment exactly once"
    layer_of = {sid: i for i, layer in enumerate(layers) for sid in layer}
    index = {s["id"]: i for i, s in enumerate(plan)}
    for s in plan:
        for dep in s["dependencies"]:
            assert layer_of[dep] < layer_of[s["id"]], f"{s['id']} runs no later than its dep {dep}"
        earliest = 1 + max((layer_of[d] for d in s["dependencies"]), default=-1)
        assert layer_of[s["id"]] == earliest, f"{s['id']} should be in layer {earliest}"
    for layer in layers:
        keys = [(-plan[index[sid]]["priority"], index[sid]) for sid in layer]
        assert keys == sorted(keys), f"layer {layer} not ordered by (-priority, index)"
    assert all(layers), "no empty layers"


@given(dags(), st.data())
def test_a_back_edge_is_reported_as_a_real_cycle(plan: list[dict[str, Any]], data: Any) -> None:
    chains = [s for s in plan if s["dependencies"]]
    if not chains:
        return
    victim = data.draw(st.sampled_from(chains))
    dep_id = data.draw(st.sampled_from(victim["dependencies"]))
    dep = next(s for s in plan if s["id"] == dep_id)
    dep["dependencies"] = [*dep["dependencies"], victim["id"]]
    try:
        execution_layers(plan)
    except CyclicDependencyError as exc:
        cycle = exc.cycle
    else:
        raise AssertionError(f"no cycle reported after adding {dep_id} -> {victim['id']}")
    deps = {s["id"]: s["dependencies"] for s in plan}
    assert cycle[0] == cycle[-1] and len(cycle) >= 2, f"cycle {cycle} must be closed"
    for before, after in pairwise(cycle):
        assert before in deps[after], f"reported cycle {cycle}: {after} does not need {before}"


def _reaches_failed(sid: str, deps: dict[str, list[str]], failed: set[str]) -> bool:
    seen: set[str] = set()
    stack = list(deps[sid])
    while stack:
        node = stack.pop()
        if node in failed:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(deps.get(node, []))
    return False


@given(dags(), st.data())
def test_blocked_by_failure_is_exactly_transitive_dependents(
    plan: list[dict[str, Any]], data: Any
) -> None:
    ids = [s["id"] for s in plan]
    failed = set(data.draw(st.lists(st.sampled_from(ids), unique=True))) if ids else set()
    deps = {s["id"]: s["dependencies"] for s in plan}
    expected = {sid for sid in ids if sid not in failed and _reaches_failed(sid, deps, failed)}
    assert blocked_by_failure(plan, failed) == expected, f"blocked set for failed={failed}"


@given(st.text(max_size=300), st.sampled_from(["search", "open", "general"]))
def test_simulation_is_deterministic_and_short(content: str, task_type: str) -> None:
    segment_ = {"content": content, "task_type": task_type, "parameters": {}}
    outcome = simulate(segment_)
    assert outcome == simulate(dict(segment_)), "simulation must be deterministic"
    assert 1 <= outcome.duration_ms <= 20, f"duration {outcome.duration_ms} outside 1..20"
    assert outcome.ok and outcome.output is not None, "no simulate_fail → success"
    assert outcome.output["summary"] == f"{task_type} done: {content[:80]}", "summary format"


@given(st.lists(st.sampled_from(["completed", "failed", "skipped"]), max_size=60))
def test_success_rate_is_completed_over_total(values: list[str]) -> None:
    statuses = {f"s{i}": v for i, v in enumerate(values)}
    rate = success_rate(statuses)
    completed = values.count("completed")
    expected = round(completed / len(values), 4) if values else 0.0
    assert rate == expected, f"rate {rate} != {completed}/{len(values)}"
    status = overall_status(rate, len(values))
    if values and completed == len(values):
        assert status == "success", f"all completed should be success, got {status}"
    elif completed == 0:
        assert status == "failure", f"none completed should be failure, got {status}"
    else:
        assert status == "partial_success", f"{completed}/{len(values)} should be partial"


# --- tags --------------------------------------------------------------------------------------

BAND_RANK = {"low": 0, "medium": 1, "high": 2}
rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(rates, rates)
def test_success_band_is_monotone(a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    assert BAND_RANK[success_band(low)] <= BAND_RANK[success_band(high)], (
        f"band({low})={success_band(low)} ranks above band({high})={success_band(high)}"
    )


@given(st.lists(st.text(max_size=12)), rates)
def test_tags_are_sorted_unique_with_band_last(types: list[str], rate: float) -> None:
    tags = derive_tags(types, rate)
    assert tags[-1] == f"success:{success_band(rate)}", f"band tag last in {tags}"
    assert tags[:-1] == sorted(set(tags[:-1])), f"task type tags not sorted/unique: {tags}"
    assert len(set(tags)) == len(tags) and all(tags), f"tags must be unique, non-empty: {tags}"


@given(st.text(max_size=5000), st.integers(0, 10**6), st.text(max_size=60), rates)
def test_summary_is_short_single_line(command: str, count: int, status: str, rate: float) -> None:
    text = summarize(command, count, status, rate)
    assert len(text) <= SUMMARY_MAX_CHARS, f"summary has {len(text)} chars"
    assert "\n" not in text, "summary must be one line"
    assert f"ran as {count} segment" in text, f"count missing from {text!r}"
