"""The archive index's design files, its index names, its lifecycle policy, and the ISM twin."""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path

import pytest

from reference_services.archive.search.design import (
    DESIGN_DIR,
    DesignError,
    Names,
    load,
    synonym_rules,
)
from reference_services.archive.search.lifecycle import Policy, duration

REPO = Path(__file__).resolve().parents[3]
ISM = REPO / "deploy/kubernetes/overlays/prod/opensearch/ism-policy.json"


def test_the_design_inlines_the_synonyms_file_and_maps_every_analyzer_it_names() -> None:
    design = load()
    rules = design.analysis["filter"]["altlas_synonyms"]["synonyms"]
    assert "rapor, report" in rules and all("#" not in r for r in rules), rules
    analyzers = set(design.analysis["analyzer"])
    named = set()
    for spec in design.mappings["properties"].values():
        for sub in [spec, *spec.get("fields", {}).values()]:
            named |= {sub[k] for k in ("analyzer", "search_analyzer") if k in sub}
    assert named and named <= analyzers, f"mappings name analyzers not defined: {named - analyzers}"
    filters = set(design.analysis["filter"]) | {"apostrophe", "asciifolding", "lowercase"}
    used = {f for a in design.analysis["analyzer"].values() for f in a["filter"]}
    assert used <= filters, f"analyzers use undefined filters: {used - filters}"
    assert design.mappings["dynamic"] == "strict"


def test_the_query_names_only_mapped_fields() -> None:
    design = load()
    props = design.mappings["properties"]
    for field in design.query["multi_match"]["fields"]:
        name = field.split("^")[0]
        top, _, sub = name.partition(".")
        assert top in props and (not sub or sub in props[top].get("fields", {})), field


def test_the_digest_follows_every_design_file(tmp_path: Path) -> None:
    copy = tmp_path / "search"
    shutil.copytree(DESIGN_DIR, copy)
    before = load(copy).digest
    (copy / "synonyms.txt").write_text("hava, weather\n", encoding="utf-8")
    assert load(copy).digest != before, "a synonyms change must change the design digest"


@pytest.mark.parametrize(
    ("text", "problem"),
    [("just-one-word\n", "line 1"), ("a, b\n\nlonely\n", "line 3")],
)
def test_a_malformed_synonym_line_is_refused_with_its_number(text: str, problem: str) -> None:
    with pytest.raises(DesignError, match=problem):
        synonym_rules(text)


def test_comments_and_blank_lines_are_not_rules() -> None:
    assert synonym_rules("# note\n\na, b  # why\nx => y\n") == ["a, b", "x => y"]


def test_a_missing_design_file_names_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "search"
    shutil.copytree(DESIGN_DIR, copy)
    (copy / "mappings.json").unlink()
    with pytest.raises(DesignError, match=r"mappings\.json"):
        load(copy)


def test_index_names_are_versioned_and_roll_to_the_next_generation() -> None:
    names = Names("altlas-atlas")
    assert names.read == "altlas-atlas" and names.write == "altlas-atlas-write"
    assert names.index(3, 12) == "altlas-atlas-v3-000012"
    assert names.parse("altlas-atlas-v3-000012") == (3, 12)
    assert names.parse("altlas-atlas-v1") == (1, 1), "the pre-versioning name is generation 1"
    assert names.parse("other-v1-000001") is None and names.parse("altlas-atlas-write") is None
    assert names.next_generation("altlas-atlas-v1") == "altlas-atlas-v1-000002"
    assert names.next_generation("altlas-atlas-v2-000009") == "altlas-atlas-v2-000010"
    with pytest.raises(DesignError):
        names.next_generation("somebody-elses-index")


def test_the_lifecycle_policy_refuses_what_opensearch_would() -> None:
    policy = Policy.defaults()
    assert policy.conditions() == {"max_docs": 1_000_000, "max_size": "5gb", "max_age": "30d"}
    assert policy.override(max_docs=50).conditions()["max_docs"] == 50
    for bad in ({"max_docs": 0}, {"max_size": "5zb"}, {"max_age": "30"}, {"retention": "1y"}):
        with pytest.raises(DesignError):
            Policy(**{"max_docs": 10, **bad}).checked()  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="at least one"):
        Policy(retention="1d").checked()
    assert duration("90m").total_seconds() == 5400


def test_the_ism_policy_is_the_reference_lifecycle() -> None:
    """The prod overlay's ISM policy, checked offline: well-formed, and the same thresholds
    and retention as lifecycle.json, which the reference archive runs itself."""
    policy = json.loads(ISM.read_text(encoding="utf-8"))["policy"]
    reference = Policy.defaults()
    states = {s["name"]: s for s in policy["states"]}
    assert policy["default_state"] in states
    known_actions = {"rollover", "delete", "retry", "read_only", "force_merge", "replica_count"}
    for state in states.values():
        for action in state["actions"]:
            assert set(action) <= known_actions, f"unknown ISM action in {state['name']}: {action}"
        for transition in state["transitions"]:
            assert transition["state_name"] in states, f"transition to nowhere: {transition}"
    rollovers = [a["rollover"] for s in states.values() for a in s["actions"] if "rollover" in a]
    assert rollovers == [
        {
            "min_doc_count": reference.max_docs,
            "min_size": reference.max_size,
            "min_index_age": reference.max_age,
        }
    ], f"expected the ISM rollover to use lifecycle.json's thresholds, got {rollovers}"
    to_delete = [
        t["conditions"]
        for s in states.values()
        for t in s["transitions"]
        if states[t["state_name"]]["actions"] == [{"delete": {}}]
    ]
    assert to_delete == [{"min_rollover_age": reference.retention}], to_delete
    patterns = [p for t in policy["ism_template"] for p in t["index_patterns"]]
    assert any(fnmatch.fnmatch(Names("altlas-atlas").index(1), p) for p in patterns), patterns
