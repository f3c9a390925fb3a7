"""Example tests of the runner's planner: layers, errors, failure propagation, simulation."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import pytest

from reference_services.runner.planner import (
    SIMULATED_FAILURE,
    CyclicDependencyError,
    SimulatedOutcome,
    UnknownDependencyError,
    blocked_by_failure,
    execution_layers,
    overall_status,
    simulate,
    success_rate,
)


def seg(sid: str, *deps: str, priority: int = 3, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "dependencies": list(deps), "priority": priority, **extra}


# --- execution_layers --------------------------------------------------------------------------


def test_empty_plan() -> None:
    assert execution_layers([]) == [], "no segments → no layers"


def test_chain_gives_one_layer_per_segment() -> None:
    plan = [seg("s1"), seg("s2", "s1"), seg("s3", "s2")]
    assert execution_layers(plan) == [["s1"], ["s2"], ["s3"]], "a chain runs one by one"


def test_independent_segments_share_a_layer_ordered_by_priority_then_index() -> None:
    plan = [seg("s1", priority=1), seg("s2", priority=5), seg("s3", priority=3), seg("s4")]
    assert execution_layers(plan) == [["s2", "s3", "s4", "s1"]], "-priority, then input order"


def test_diamond() -> None:
    plan = [seg("s1"), seg("s2", "s1"), seg("s3", "s1", priority=5), seg("s4", "s2", "s3")]
    assert execution_layers(plan) == [["s1"], ["s3", "s2"], ["s4"]], "diamond layering"


def test_segment_sits_in_earliest_possible_layer() -> None:
    plan = [seg("s1"), seg("s2", "s1"), seg("s3", "s2"), seg("s4", "s1")]
    assert execution_layers(plan) == [["s1"], ["s2", "s4"], ["s3"]], "s4 need not wait for s3"


def test_dependencies_may_point_forward_in_the_list() -> None:
    plan = [seg("a", "b"), seg("b")]
    assert execution_layers(plan) == [["b"], ["a"]], "order of the list is not execution order"


def test_duplicate_dependencies_are_harmless() -> None:
    plan = [seg("s1"), seg("s2", "s1", "s1")]
    assert execution_layers(plan) == [["s1"], ["s2"]], "a repeated dependency counts once"


def test_unknown_dependency() -> None:
    with pytest.raises(UnknownDependencyError) as info:
        execution_layers([seg("s1"), seg("s2", "s9")])
    assert info.value.segment_id == "s2", "the segment with the bad dependency"
    assert info.value.missing_id == "s9", "the missing id"
    assert "s2" in str(info.value) and "s9" in str(info.value), "message names both"
    assert isinstance(info.value, ValueError), "UnknownDependencyError is a ValueError"


def test_two_cycle() -> None:
    with pytest.raises(CyclicDependencyError) as info:
        execution_layers([seg("s1", "s2"), seg("s2", "s1")])
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1], f"cycle {cycle} should be closed"
    assert set(cycle) == {"s1", "s2"}, f"cycle {cycle} should be exactly s1, s2"
    assert " -> ".join(cycle) in str(info.value), "message names the cycle"
    assert isinstance(info.value, ValueError), "CyclicDependencyError is a ValueError"


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(CyclicDependencyError, match=r"s1 -> s1"):
        execution_layers([seg("s1", "s1")])


def test_cycle_report_excludes_segments_only_leading_into_it() -> None:
    plan = [seg("s1"), seg("s2", "s1", "s4"), seg("s3", "s2"), seg("s4", "s3"), seg("s5", "s4")]
    with pytest.raises(CyclicDependencyError) as info:
        execution_layers(plan)
    cycle = info.value.cycle
    assert set(cycle) == {"s2", "s3", "s4"}, f"only the cycle's members, got {cycle}"
    deps = {s["id"]: s["dependencies"] for s in plan}
    for before, after in pairwise(cycle):
        assert before in deps[after], f"{after} should depend on {before} in reported {cycle}"


def test_invalid_segments() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        execution_layers([seg("s1"), seg("s1")])
    with pytest.raises(ValueError, match="no string id"):
        execution_layers([{"dependencies": []}])
    with pytest.raises(ValueError, match="priority"):
        execution_layers([seg("s1", priority="high")])  # type: ignore[arg-type]


def test_missing_priority_and_dependencies_default() -> None:
    assert execution_layers([{"id": "s1"}, {"id": "s2", "priority": 4}]) == [["s2", "s1"]], (
        "priority defaults to 3 and dependencies to none"
    )


# --- blocked_by_failure ------------------------------------------------------------------------


def test_blocked_by_failure() -> None:
    plan = [seg("s1"), seg("s2", "s1"), seg("s3", "s2"), seg("s4"), seg("s5", "s4", "s3")]
    assert blocked_by_failure(plan, {"s1"}) == {"s2", "s3", "s5"}, "transitive dependents"
    assert blocked_by_failure(plan, {"s4"}) == {"s5"}, "only s5 depends on s4"
    assert blocked_by_failure(plan, set()) == set(), "nothing failed → nothing blocked"
    assert blocked_by_failure(plan, {"s1", "s2"}) == {"s3", "s5"}, "failed ones are not listed"
    assert blocked_by_failure(plan, {"s5"}) == set(), "a leaf blocks nothing"


def test_blocked_by_failure_terminates_on_cycles() -> None:
    plan = [seg("s1", "s2"), seg("s2", "s1"), seg("s3", "s2")]
    assert blocked_by_failure(plan, {"s1"}) == {"s2", "s3"}, "cycle reachability"


# --- simulate ----------------------------------------------------------------------------------


def test_simulate_success_is_deterministic() -> None:
    segment = {"id": "s1", "task_type": "search", "content": "Hava durumunu ara", "parameters": {}}
    first, second = simulate(segment), simulate(dict(segment))
    assert first == second, "simulation depends only on the segment"
    assert first.ok and first.error is None, "no simulate_fail → success"
    assert 1 <= first.duration_ms <= 20, f"derived duration {first.duration_ms} outside 1..20"
    assert first.output == {"task_type": "search", "summary": "search done: Hava durumunu ara"}


def test_simulate_durations_vary_with_content() -> None:
    durations = {simulate({"content": f"task {i}"}).duration_ms for i in range(50)}
    assert len(durations) > 5, f"durations should spread over 1..20, got {sorted(durations)}"
    assert durations <= set(range(1, 21)), f"durations {sorted(durations)} outside 1..20"


def test_simulate_failure_and_requested_duration() -> None:
    parameters = {"simulate_fail": True, "simulate_ms": 7}
    outcome = simulate({"task_type": "send", "content": "x", "parameters": parameters})
    expected = SimulatedOutcome(ok=False, duration_ms=7, output=None, error=SIMULATED_FAILURE)
    assert outcome == expected, "simulate_fail fails with the fixed error and requested duration"


@pytest.mark.parametrize(
    ("requested", "expected"), [(0, 0), (250, 250), (10_000, 10_000), (99_999, 10_000), (-5, 0)]
)
def test_simulate_ms_is_clamped(requested: int, expected: int) -> None:
    outcome = simulate({"content": "x", "parameters": {"simulate_ms": requested}})
    assert outcome.duration_ms == expected, f"simulate_ms={requested} → {expected}"


@pytest.mark.parametrize("flag", ["true", 1, "yes", None])
def test_only_literal_true_fails(flag: object) -> None:
    assert simulate({"content": "x", "parameters": {"simulate_fail": flag}}).ok, f"{flag!r}"


@pytest.mark.parametrize("requested", [True, "250", math.nan, math.inf, None])
def test_non_numeric_simulate_ms_falls_back_to_hash(requested: object) -> None:
    duration = simulate({"content": "x", "parameters": {"simulate_ms": requested}}).duration_ms
    assert 1 <= duration <= 20, f"simulate_ms={requested!r} should be ignored, got {duration}"


def test_simulate_summary_truncates_content_and_tolerates_missing_fields() -> None:
    outcome = simulate({"content": "y" * 200})
    assert outcome.output == {"task_type": "general", "summary": "general done: " + "y" * 80}


# --- success_rate / overall_status -------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "rate"),
    [
        ({}, 0.0),
        ({"s1": "completed"}, 1.0),
        ({"s1": "failed"}, 0.0),
        ({"s1": "completed", "s2": "failed", "s3": "skipped"}, 0.3333),
        ({"s1": "completed", "s2": "completed", "s3": "skipped"}, 0.6667),
    ],
)
def test_success_rate(statuses: dict[str, str], rate: float) -> None:
    assert success_rate(statuses) == rate, f"success rate of {statuses}"


def test_success_rate_never_rounds_to_all_or_nothing() -> None:
    almost_all = {f"s{i}": "completed" for i in range(20_000)} | {"x": "failed"}
    assert success_rate(almost_all) == 0.9999, "one failure must keep the rate below 1.0"
    almost_none = {f"s{i}": "failed" for i in range(20_000)} | {"x": "completed"}
    assert success_rate(almost_none) == 0.0001, "one completion must keep the rate above 0.0"


def test_success_rate_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="running"):
        success_rate({"s1": "running"})


@pytest.mark.parametrize(
    ("rate", "total", "status"),
    [
        (1.0, 3, "success"),
        (0.0, 3, "failure"),
        (0.5, 2, "partial_success"),
        (0.9999, 10_001, "partial_success"),
        (0.0001, 10_001, "partial_success"),
        (0.0, 0, "failure"),
    ],
)
def test_overall_status(rate: float, total: int, status: str) -> None:
    assert overall_status(rate, total) == status, f"overall status of rate {rate}, total {total}"


@pytest.mark.parametrize(("rate", "total"), [(math.nan, 1), (-0.1, 1), (1.1, 1), (0.5, -1)])
def test_overall_status_rejects_nonsense(rate: float, total: int) -> None:
    with pytest.raises(ValueError):
        overall_status(rate, total)


# --- error messages and edge cases (found by mutation testing, `make mutation`) -----------------


def test_invalid_segment_errors_name_the_culprit() -> None:
    with pytest.raises(ValueError, match="segment at index 1 has no string id"):
        execution_layers([seg("s1"), {"id": 7}])
    with pytest.raises(ValueError, match="index 0 has no string id"):
        execution_layers([seg("")])
    with pytest.raises(ValueError, match="segment 's2' has a non-integer priority 'high'"):
        execution_layers([seg("s1"), seg("s2", priority="high")])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "total", "message"),
    [
        (math.nan, 1, r"success rate must be within \[0, 1\], got nan"),
        (0.5, -1, "segment total must not be negative, got -1"),
    ],
)
def test_overall_status_errors_say_why(rate: float, total: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        overall_status(rate, total)


def test_simulated_durations_are_pinned() -> None:
    # The runner's recorded durations must be reproducible across versions and processes.
    assert [simulate({"content": c}).duration_ms for c in ("x", "open the file")] == [7, 11]


def test_simulate_tolerates_lone_surrogates() -> None:
    # JSON may carry an unpaired surrogate ("\ud800"); hashing it must not raise.
    assert simulate({"content": "\ud800 lone"}).duration_ms == 1


def test_simulate_without_content_summarizes_nothing() -> None:
    assert simulate({}).output == {"task_type": "general", "summary": "general done: "}
