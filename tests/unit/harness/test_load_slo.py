"""The load suite's pure parts: the SLO file, its verdicts, stress knees, report buckets,
target resolution. (Locust itself monkey-patches on import, so only gevent-free modules are
imported here; the Locust-bound parts are exercised by scenarios/load.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from load import slo
from load.analysis import Step, diff, drift, knee, open_model_summary
from load.report import e2e_buckets, html
from load.target import TargetError, resolve

SLO_DOC = {
    "requests": {"GET /api/v1/commands/{id}": {"p95_ms": 100, "p99_ms": 200}},
    "end_to_end": {"p95_ms": 1000},
    "error_rate": 0.01,
    "missed_arrivals": 0.05,
    "min_requests": 10,
}


def window(rtype: str, name: str, times: dict[int, int], failures: int = 0) -> slo.Window:
    return slo.Window(rtype, name, sum(times.values()), failures, dict(times))


def test_the_committed_slo_file_parses() -> None:
    objectives = slo.load()
    assert "POST /api/v1/commands" in objectives.requests
    assert objectives.end_to_end.p95_ms is not None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"requests": {"x": {"p90_ms": 3}}}, "unknown keys ['p90_ms']"),
        ({"requests": {"x": {"p95_ms": -1}}}, "positive number"),
        ({"error_rate": 2}, "between 0 and 1"),
        ({"latency": {}}, "unknown keys ['latency']"),
        ([], "mapping at the top level"),
        ({"min_requests": "many"}, "whole number"),
    ],
)
def test_a_bad_slo_file_says_what_is_wrong(doc: object, message: str) -> None:
    with pytest.raises(slo.SloFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        slo.parse(doc)


def test_an_unreadable_slo_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(slo.SloFileError, match="cannot read the SLO file"):
        slo.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("requests: [unclosed")
    with pytest.raises(slo.SloFileError, match="not valid YAML"):
        slo.load(bad)


def test_percentile_is_the_smallest_time_covering_p_of_requests() -> None:
    w = window("GET", "x", {10: 90, 50: 5, 400: 5})
    assert w.percentile(0.5) == 10
    assert w.percentile(0.95) == 50
    assert w.percentile(0.99) == 400
    assert window("GET", "x", {}).percentile(0.95) is None


def test_a_window_between_snapshots_holds_only_what_happened_between() -> None:
    before = {("GET", "x"): window("GET", "x", {10: 5}, failures=1)}
    after = {
        ("GET", "x"): window("GET", "x", {10: 7, 900: 3}, failures=2),
        ("POST", "y"): window("POST", "y", {20: 1}),
    }
    d = diff(after, before)
    assert d[("GET", "x")].histogram == {10: 2, 900: 3}
    assert (d[("GET", "x")].count, d[("GET", "x")].failures) == (5, 1)
    assert d[("POST", "y")].count == 1


def test_a_breach_names_the_objective_and_how_far_over() -> None:
    windows = {
        ("GET", "/api/v1/commands/{id}"): window("GET", "/api/v1/commands/{id}", {50: 90, 150: 10}),
        (slo.E2E_TYPE, slo.E2E_NAME): window(slo.E2E_TYPE, slo.E2E_NAME, {300: 20}),
    }
    verdict = slo.evaluate(slo.parse(SLO_DOC), windows, open_model=False)
    assert not verdict.ok
    [breach] = verdict.breaches
    assert breach.objective == "p95 of GET /api/v1/commands/{id}"
    assert "150 ms" in breach.describe() and "50 ms over" in breach.describe()
    assert "50% over" in breach.describe()
    assert "FAIL — 1 of 4 broken" in verdict.summary()


def test_pseudo_requests_do_not_count_as_http_errors_but_failed_e2e_breaks_latency() -> None:
    windows = {
        ("GET", "/api/v1/commands/{id}"): window("GET", "/api/v1/commands/{id}", {20: 100}),
        (slo.E2E_TYPE, slo.E2E_NAME): window(slo.E2E_TYPE, slo.E2E_NAME, {60000: 5}, failures=5),
    }
    verdict = slo.evaluate(slo.parse(SLO_DOC), windows, open_model=False)
    error_rate = next(c for c in verdict.checks if c.objective == "error rate")
    assert error_rate.measured == 0.0
    assert [c.objective for c in verdict.breaches] == ["p95 of end-to-end (submit → archived)"]


def test_http_failures_break_the_error_rate() -> None:
    windows = {("GET", "/a"): window("GET", "/a", {5: 100}, failures=3)}
    verdict = slo.evaluate(slo.parse(SLO_DOC), windows, open_model=False)
    # No end-to-end sample at all is a breach too: nothing was seen to finish.
    assert sorted(c.objective for c in verdict.breaches) == [
        "error rate",
        "p95 of end-to-end (submit → archived)",
    ]


def test_too_few_requests_is_inconclusive_not_a_pass() -> None:
    windows = {("GET", "/a"): window("GET", "/a", {5: 3})}
    verdict = slo.evaluate(
        slo.parse({**SLO_DOC, "end_to_end": {"p95_ms": 1}}), windows, open_model=False
    )
    assert not verdict.ok
    assert "INCONCLUSIVE" in verdict.summary()


def test_open_model_counts_late_and_dropped_arrivals_as_missed() -> None:
    windows = {
        ("GET", "/a"): window("GET", "/a", {5: 100}),
        (slo.E2E_TYPE, slo.E2E_NAME): window(slo.E2E_TYPE, slo.E2E_NAME, {100: 90}),
        (slo.OPEN_TYPE, slo.ARRIVAL_ON_TIME): window(slo.OPEN_TYPE, slo.ARRIVAL_ON_TIME, {1: 90}),
        (slo.OPEN_TYPE, slo.ARRIVAL_LATE): window(slo.OPEN_TYPE, slo.ARRIVAL_LATE, {300: 4}, 4),
        (slo.OPEN_TYPE, slo.ARRIVAL_DROPPED): window(slo.OPEN_TYPE, slo.ARRIVAL_DROPPED, {0: 6}, 6),
    }
    verdict = slo.evaluate(slo.parse(SLO_DOC), windows, open_model=True)
    missed = next(c for c in verdict.checks if c.objective == "arrivals not sent on time")
    assert missed.measured == pytest.approx(0.1)
    assert not missed.ok
    summary = open_model_summary(windows, duration=10.0)
    assert summary["offered_per_s"] == pytest.approx(10.0)
    assert summary["achieved_per_s"] == pytest.approx(9.4)
    assert (summary["late"], summary["dropped"]) == (4, 6)


def _late_arrivals(lag: dict[int, int] | None) -> dict[tuple[str, str], slo.Window]:
    windows = {
        ("GET", "/a"): window("GET", "/a", {5: 100}),
        (slo.E2E_TYPE, slo.E2E_NAME): window(slo.E2E_TYPE, slo.E2E_NAME, {100: 90}),
        (slo.OPEN_TYPE, slo.ARRIVAL_ON_TIME): window(slo.OPEN_TYPE, slo.ARRIVAL_ON_TIME, {1: 90}),
        (slo.OPEN_TYPE, slo.ARRIVAL_LATE): window(slo.OPEN_TYPE, slo.ARRIVAL_LATE, {250: 10}, 10),
    }
    if lag is not None:
        windows[(slo.OPEN_TYPE, slo.GENERATOR_LAG)] = window(slo.OPEN_TYPE, slo.GENERATOR_LAG, lag)
    return windows


@pytest.mark.parametrize(
    ("lag", "expected"),
    [
        # The generator's own loop lagged 300 ms at p99: its host was busy, nothing is judged.
        ({0: 950, 300: 50}, "INCONCLUSIVE"),
        # It kept up (p99 2 ms) and still sent late: the generator's fault, a FAIL as before.
        ({0: 990, 2: 10}, "FAIL"),
        # Not measured (a run of an older generator): no excuse.
        (None, "FAIL"),
    ],
    ids=["busy-host", "generator-kept-up", "no-measurement"],
)
def test_late_arrivals_are_judged_against_the_generators_own_lag(
    lag: dict[int, int] | None, expected: str
) -> None:
    verdict = slo.evaluate(slo.parse(SLO_DOC), _late_arrivals(lag), open_model=True, late_ms=100)
    assert verdict.summary().startswith(f"SLO verdict: {expected}"), verdict.summary()
    assert not verdict.ok
    if expected == "INCONCLUSIVE":
        assert "lagged 300 ms (p99)" in verdict.summary()
    summary = open_model_summary(_late_arrivals(lag), duration=10.0)
    expected_lag = None if lag is None else slo.Window("", "", 0, 0, lag).percentile(0.99)
    assert summary["generator_lag_p99_ms"] == expected_lag


def test_a_busy_generator_does_not_excuse_a_run_whose_arrivals_were_on_time() -> None:
    windows = _late_arrivals({0: 950, 300: 50})
    windows[(slo.OPEN_TYPE, slo.ARRIVAL_LATE)] = window(slo.OPEN_TYPE, slo.ARRIVAL_LATE, {}, 0)
    verdict = slo.evaluate(slo.parse(SLO_DOC), windows, open_model=True, late_ms=100)
    assert verdict.ok, verdict.summary()


def _step(users: int, ok: bool, rps: float) -> Step:
    checks = (slo.Check("p95 of x", 10.0 if ok else 900.0, 100.0, "ms"),)
    return Step(users, 0, 10, rps, rps / 10, 10.0, slo.Verdict(checks, 100))


def test_the_knee_is_the_last_step_before_the_first_breach() -> None:
    result = knee(
        [_step(10, True, 50), _step(20, True, 90), _step(30, False, 95), _step(40, True, 99)]
    )
    assert (result["found"], result["users"], result["broken_at_users"]) == (True, 20, 30)
    assert result["http_rps"] == 90
    assert "at 30 users" in result["text"] and "900 ms" in result["text"]
    # Throughput kept rising past the knee here: the peak is reported beside it.
    assert result["peak"] == {"users": 40, "http_rps": 99.0, "archived_per_s": 9.9}


def test_no_breach_means_no_knee_and_says_capacity_is_higher() -> None:
    result = knee([_step(10, True, 50), _step(20, True, 90)])
    assert result["found"] is False
    assert "above the highest load tried (20 users" in result["text"]


def test_a_breach_at_the_first_step_is_a_knee_of_zero() -> None:
    result = knee([_step(10, False, 50)])
    assert (result["found"], result["users"], result["broken_at_users"]) == (True, 0, 10)


def test_soak_drift_compares_first_and_last_tenth() -> None:
    points = [{"t": i, "p95_ms": 100.0 if i < 50 else 300.0} for i in range(100)]
    assert drift(points) == {"first_p95_ms": 100.0, "last_p95_ms": 300.0, "ratio": 3.0}
    assert drift(points[:5]) is None


def test_e2e_buckets_keep_every_sample() -> None:
    hist = {100: 5, 250: 3, 4000: 2, 12000: 1}
    buckets = e2e_buckets(hist, n=10)
    assert len(buckets) == 10
    assert sum(c for _, c in buckets) == 11
    assert e2e_buckets({}) == []


def test_the_html_report_shows_the_verdict_and_the_knee() -> None:
    verdict = slo.Verdict((slo.Check("error rate", 0.5, 0.01, "ratio"),), 100)
    doc = {
        "profile": "stress",
        "host": "http://gw",
        "duration_s": 60,
        "workers": 1,
        "slo": verdict.to_json(),
        "requests": [],
        "timeseries": [
            {
                "t": 1,
                "users": 1,
                "rps": 2,
                "fail_per_s": 0,
                "error_rate": 0,
                "p50_ms": 1,
                "p95_ms": 2,
                "p99_ms": 3,
                "archived_per_s": 1,
                "e2e_p95_ms": 10,
            }
        ],
        "steps": [],
        "knee": {
            "found": True,
            "users": 20,
            "http_rps": 90.0,
            "archived_per_s": 9.0,
            "broken_at_users": 30,
            "text": "20 users, 90 req/s",
        },
        "e2e_histogram": {"120": 3},
    }
    page = html(doc)
    assert "Capacity: 20 users, 90.0 req/s" in page and "broke at 30 users" in page
    assert "BREACH" in page
    assert "Capacity (stress knee)" in page and "20 users, 90 req/s" in page
    assert page.count("<svg") == 5


def test_target_from_the_state_file_uses_the_load_accounts(tmp_path: Path) -> None:
    state = tmp_path / "stack.json"
    state.write_text(
        json.dumps(
            {
                "endpoints": {"gateway": "http://127.0.0.1:9"},
                "credentials": {
                    "user": {"username": "u", "password": "p"},
                    "load": {"usernames": "a,b", "password": "pw"},
                },
            }
        )
    )
    target = resolve({}, state)
    assert target.host == "http://127.0.0.1:9"
    assert [a.username for a in target.accounts] == ["a", "b"]


def test_target_by_url_needs_accounts_and_says_so() -> None:
    with pytest.raises(TargetError, match="LOAD_ACCOUNTS"):
        resolve({"HARNESS_GATEWAY_URL": "http://gw"})
    target = resolve({"HARNESS_GATEWAY_URL": "http://gw", "LOAD_ACCOUNTS": "x:1,y:2"})
    assert [(a.username, a.password) for a in target.accounts] == [("x", "1"), ("y", "2")]
    with pytest.raises(TargetError, match="expected user:password"):
        resolve({"LOAD_ACCOUNTS": "nopassword"})


def test_no_state_file_tells_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="make up"):
        resolve({}, tmp_path / "stack.json")
