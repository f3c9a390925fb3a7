"""`harness report api-usage` arithmetic: scrapes summed, windows as differences, percentiles
from histogram buckets the way Prometheus's histogram_quantile estimates them."""

from __future__ import annotations

import math

import pytest

from harness.errors import HarnessError
from harness.report.api_usage import Snapshot, parse_window, quantile, usage, window

ROUTE = "/api/v1/commands/{command_id}"


def _scrape(ok: int, missing: int, fast: int, slow: int, who: str = "user:demo-user") -> str:
    """A gateway's /metrics: `ok` 200s and `missing` 404s, of which `fast` took ≤ 10 ms and
    `slow` between 50 and 100 ms."""
    total = fast + slow
    series = f'altlas_api_requests_total{{principal="{who}",method="GET",route="{ROUTE}"'
    lines = [
        "# HELP altlas_api_requests_total API requests by caller, route and status",
        "# TYPE altlas_api_requests_total counter",
        f'{series},status="200"}} {ok}',
        f'{series},status="404"}} {missing}',
        "# HELP altlas_api_request_seconds API request latency by caller and route",
        "# TYPE altlas_api_request_seconds histogram",
    ]
    for le, n in (("0.01", fast), ("0.05", fast), ("0.1", total), ("+Inf", total)):
        lines.append(
            f'altlas_api_request_seconds_bucket{{principal="{who}",route="{ROUTE}",le="{le}"}} {n}'
        )
    lines.append(f'altlas_api_request_seconds_count{{principal="{who}",route="{ROUTE}"}} {total}')
    lines.append(f'altlas_api_request_seconds_sum{{principal="{who}",route="{ROUTE}"}} 1.0')
    return "\n".join(lines) + "\n"


def test_a_window_is_the_difference_of_two_scrapes() -> None:
    before = Snapshot.parse([_scrape(ok=10, missing=1, fast=11, slow=0)])
    after = Snapshot.parse([_scrape(ok=40, missing=11, fast=41, slow=10)])
    found = usage(after.minus(before), 60.0, ["g"])
    [row] = found.rows
    assert (row.principal, row.route, row.requests, row.client_errors, row.server_errors) == (
        "user:demo-user",
        ROUTE,
        40,
        10,
        0,
    )
    # 30 fast of 40: the median is in the first bucket, p95 and p99 in (0.05, 0.1].
    assert row.latency_ms["p50"] is not None and row.latency_ms["p50"] <= 10
    assert 50 < (row.latency_ms["p95"] or 0) <= 100
    text = found.render()
    assert "40 requests" in text and "user:demo-user" in text and "10 errors (25.0 %)" in text


def test_replicas_are_summed_and_a_restart_counts_from_zero() -> None:
    a0 = Snapshot.parse([_scrape(ok=1000, missing=0, fast=1000, slow=0)])
    b0 = Snapshot.parse([_scrape(ok=500, missing=0, fast=500, slow=0)])
    a1 = Snapshot.parse([_scrape(ok=1600, missing=0, fast=1600, slow=0)])
    b1 = Snapshot.parse([_scrape(ok=5, missing=0, fast=5, slow=0)])  # B restarted
    [row] = usage(window([a0, b0], [a1, b1]), 10.0, ["a", "b"]).rows
    assert row.requests == 605, (
        "600 more on A and 5 on a restarted B; summing before subtracting would say 105"
    )
    [row] = usage(Snapshot.total([a1, b1]), None, ["a", "b"]).rows
    assert row.requests == 1605


def test_quantile_interpolates_like_prometheus() -> None:
    buckets = {0.1: 50.0, 0.2: 100.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.15)
    assert quantile(0.5, {0.1: 0.0, math.inf: 0.0}) is None
    assert quantile(0.99, {0.1: 1.0, math.inf: 10.0}) == pytest.approx(0.1), (
        "in the +Inf bucket the estimate is the highest finite bound"
    )


def test_an_empty_window_says_so() -> None:
    assert "no API requests in the window" in usage(Snapshot(), 5.0, ["g"]).render()


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("5m", 300), ("1h", 3600)])
def test_windows(text: str, seconds: float) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-5m", "2d"])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(HarnessError, match="--window"):
        parse_window(text)
