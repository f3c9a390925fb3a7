"""Network faults through Toxiproxy: the pipeline keeps its promises on slow and cut links.

Local stack with Toxiproxy only (it needs the proxies the stack placed on every link).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from harness.clients.gateway import API, GatewayClient
from harness.faults import network
from harness.polling import poll_until
from harness.settings import HarnessSettings
from harness.stack.state import StackState


@pytest.fixture
async def faults(stack: StackState, harness_settings: HarnessSettings) -> AsyncIterator[None]:
    if "toxiproxy" not in stack.endpoints:
        pytest.skip("needs the local stack with Toxiproxy (make toxiproxy)")
    try:
        yield
    finally:
        await network.heal_all(harness_settings)  # whatever the test did, heal it


async def test_latency_on_archive_to_opensearch(
    faults: None, gateway: GatewayClient, harness_settings: HarnessSettings
) -> None:
    await network.add_toxic(
        harness_settings, "archive->opensearch", "latency", latency=500, jitter=200
    )
    ids = [await gateway.submit_ok(f"Raporu ara ve özetle #{i} yavaş") for i in range(5)]
    finals = await asyncio.gather(*(gateway.wait_until_final(cid, timeout=90) for cid in ids))
    bad = {f["id"]: f["status"] for f in finals if f["status"] != "archived"}
    assert not bad, f"with 500±200 ms to OpenSearch every command must still be archived: {bad}"


async def test_runner_cut_from_nats_then_healed_loses_nothing(
    faults: None, gateway: GatewayClient, harness_settings: HarnessSettings
) -> None:
    await network.partition(harness_settings, "runner->nats")
    ids = [await gateway.submit_ok(f"Dosyayı aç ve özetle #{i} bölünme") for i in range(5)]

    async def _segmented_all() -> bool:
        statuses = [(await gateway.status(c))["status"] for c in ids]
        return "accepted" not in statuses

    await poll_until(_segmented_all, 30, "segmentation to go on while the runner is cut off")
    await network.heal(harness_settings, "runner->nats")
    finals = await asyncio.gather(*(gateway.wait_until_final(cid, timeout=120) for cid in ids))
    bad = {f["id"]: f["status"] for f in finals if f["status"] != "archived"}
    assert not bad, f"commands accepted during the partition must be archived after it: {bad}"


async def test_gateway_cut_from_archive_still_accepts_and_search_fails_fast(
    faults: None, gateway: GatewayClient, harness_settings: HarnessSettings
) -> None:
    await network.partition(harness_settings, "gateway->archive")
    accepted = await gateway.submit("Bütçeyi hesapla ve gönder #kesik")
    assert accepted.status_code == 202, "commands must still be accepted without the archive"
    started = time.monotonic()
    resp = await gateway.request("GET", f"{API}/archive/search", params={"q": "bütçe"})
    elapsed = time.monotonic() - started
    assert resp.status_code == 503, f"expected 503 while the archive is unreachable: {resp.text}"
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert int(resp.headers["retry-after"]) >= 1, resp.headers
    assert elapsed < 5, f"search must fail fast, not hang: took {elapsed:.1f}s"
    await network.heal(harness_settings, "gateway->archive")

    async def _search_back() -> bool:
        r = await gateway.request("GET", f"{API}/archive/search", params={"q": "bütçe"})
        return r.status_code == 200

    await poll_until(_search_back, 30, "search to answer 200 again after the partition healed")
