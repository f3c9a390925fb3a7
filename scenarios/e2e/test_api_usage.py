"""Usage and RED metrics as an operator reads them: `harness report api-usage` counts exactly the
requests a caller made in a window, with their errors and latency, per caller and route; and
every consumer exports rate, errors and duration (plus its backlog and the events' age)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from harness.clients.gateway import API, GatewayClient
from harness.report import api_usage
from harness.stack.state import StackState

ROUTE = "/api/v1/commands/{command_id}"
MISSING = "00000000-0000-4000-8000-00000000abcd"  # a well-formed id nobody has


async def test_the_report_counts_one_callers_requests_in_a_window(
    gateway: GatewayClient, stack: StackState
) -> None:
    if "other" not in gateway.credentials:
        pytest.skip("needs a second user (HARNESS_OTHER_CREDENTIALS) whose requests are only ours")
    urls = [gateway.base_url + "/metrics"]
    probe = await gateway.http.get("/metrics")
    if "altlas_api_requests_total" not in probe.text:
        pytest.skip("the gateway exports no altlas_api_requests_total (no usage metrics)")
    cid = await gateway.submit_ok("kullanım raporu: bu komutu say", role="other")
    before = await api_usage.scrape(urls)
    for _ in range(7):
        assert (await gateway.request("GET", f"{API}/commands/{cid}", role="other")).is_success
    for _ in range(3):
        missing = await gateway.request("GET", f"{API}/commands/{MISSING}", role="other")
        assert missing.status_code == 404, missing.text
    after = await api_usage.scrape(urls)
    found = api_usage.usage(after.minus(before), 1.0, urls)
    who = f"user:{gateway.credentials['other']['username']}"
    rows = [r for r in found.rows if r.principal == who and r.route == ROUTE]
    assert len(rows) == 1, f"expected one row for {who} on {ROUTE}, found {found.to_json()}"
    row = rows[0]
    assert (row.requests, row.client_errors, row.server_errors) == (10, 3, 0), row
    assert all(v is not None and v > 0 for v in row.latency_ms.values()), row
    assert who in found.render()


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_prints_the_usage_since_start(stack: StackState) -> None:
    if "gateway" not in stack.endpoints:
        pytest.skip("needs the stack's gateway endpoint")
    unauthenticated = httpx.get(f"{stack.endpoints['gateway']}{API}/commands/{MISSING}")
    assert unauthenticated.status_code == 401, unauthenticated.text
    done = _harness("report", "api-usage", "--since-start", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["window_s"] is None and body["rows"], body
    assert any(r["principal"].startswith("user:") for r in body["rows"]), body["rows"][:5]
    anonymous = body["by_principal"].get("anonymous", {})
    assert anonymous.get("client_errors", 0) >= 1, (
        f"a request without a credential must be counted as anonymous's 401: {body['by_principal']}"
    )
    refused = _harness("report", "api-usage", "--window", "soon")
    assert refused.returncode != 0 and "--window 'soon'" in refused.stderr, refused


async def test_every_consumer_exports_red_metrics(
    gateway: GatewayClient, stack: StackState
) -> None:
    cid = await gateway.submit_ok("RED ölçümleri: segmentasyon, yürütme, arşiv")
    await gateway.wait_until_final(cid)
    expected = {
        "segmentation": "segmentation",
        "runner": "runner",
        "archive": "archive",
        "gateway": "gateway-projection",
    }
    for service, consumer in expected.items():
        url = stack.endpoints.get(service)
        if not url:
            pytest.skip(f"needs the {service} endpoint to read its /metrics")
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            text = (await client.get("/metrics")).text
        for series in (
            f'altlas_messages_total{{consumer="{consumer}",outcome="ack"}}',
            f'altlas_handler_seconds_count{{consumer="{consumer}",outcome="ack"}}',
            f'altlas_event_age_seconds_count{{consumer="{consumer}"}}',
            f'altlas_consumer_pending{{consumer="{consumer}"}}',
        ):
            line = next((ln for ln in text.splitlines() if ln.startswith(series + " ")), None)
            assert line is not None, f"{service} does not export {series}"
            if "pending" not in series:
                assert float(line.split()[1]) > 0, f"{service}: {line}"
