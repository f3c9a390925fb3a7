"""The gateway's server-side cache of archive answers is never stale once a change is known:
after the gateway has processed a record's change event (`altlas.atlas.updated`), it answers the
record's new state — whether the change came through the gateway, at the archive directly, or
through another gateway replica.

How a test knows the event was processed: the archive publishes the change before answering the
PATCH, the test reads that event's stream sequence from NATS, and waits until the gateway's
`altlas_archive_cache_event_seq` gauge (/metrics) has reached it. `X-Cache` (hit, miss, bypass)
says whether an answer came from the cache; a gateway that sends none is not caching, and the
tests skip. The reads go through one gateway endpoint: behind a load balancer that spreads
requests over replicas, the PATCH, the read and /metrics may reach different ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from harness.clients.gateway import API, GatewayClient
from harness.infra.services import ServiceProcess
from harness.polling import poll_until
from harness.stack.state import StackState, nats_access

STREAM, UPDATED = "ALTLAS", "altlas.atlas.updated"
SEQ_GAUGE = "altlas_archive_cache_event_seq"


async def _archived_record(gateway: GatewayClient, text: str) -> str:
    cid = await gateway.submit_ok(text)
    final = await gateway.wait_until_final(cid)
    assert final["status"] == "archived", final
    return str(final["atlas_id"])


async def _cached(client: httpx.AsyncClient, path: str, token: str) -> httpx.Response:
    """Read until the gateway answers from its cache (its change listener may still be
    applying the record's own creation, which drops entries stored before it)."""

    async def _hit() -> httpx.Response | None:
        resp = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.text
        return resp if resp.headers.get("x-cache") == "hit" else None

    return await poll_until(_hit, 15, f"a cache hit for {path}")


async def _event_seq(stack: StackState, atlas_id: str, version_at_least: int = 2) -> int:
    """The stream sequence of the newest altlas.atlas.updated event, which must be this
    record's (the archive published it before answering the PATCH)."""
    nc = await nats_access(stack).connect(connect_timeout=5)
    try:
        msg = await nc.jetstream().get_last_msg(STREAM, UPDATED)
    finally:
        await nc.close()
    event = json.loads(msg.data or b"{}")
    assert event["data"]["atlas"]["id"] == atlas_id, (
        f"expected the newest {UPDATED} event to be the change of {atlas_id}, found {event}"
    )
    assert event["data"]["version"] >= version_at_least, event
    return int(msg.seq or 0)


async def _processed(client: httpx.AsyncClient, seq: int) -> None:
    async def _seen() -> float | None:
        resp = await client.get("/metrics")
        for line in resp.text.splitlines():
            if line.startswith(SEQ_GAUGE + " "):
                value = float(line.split()[1])
                return value if value >= seq else None
        return None

    await poll_until(_seen, 15, f"the gateway to process the change event at sequence {seq}")


def _needs(stack: StackState, *names: str) -> None:
    missing = [n for n in names if not stack.endpoints.get(n)]
    if missing:
        pytest.skip(f"needs the {', '.join(missing)} endpoint(s) of the stack (harness status)")


async def test_a_changed_record_is_never_served_stale(
    gateway: GatewayClient, stack: StackState
) -> None:
    _needs(stack, "archive", "nats")
    atlas_id = await _archived_record(gateway, "önbellek: arşivde değişen kayıt")
    path = f"{API}/archive/{atlas_id}"
    token = await gateway.token("user")
    first = await gateway.request("GET", path, role="user")
    if "x-cache" not in first.headers:
        pytest.skip("the gateway sends no X-Cache header: it keeps no cache of archive answers")
    http = gateway.http
    status = (await _cached(http, path, token)).json()["status"]
    async with httpx.AsyncClient(base_url=stack.endpoints["archive"], timeout=10) as archive:
        for n in range(3):  # each round: a change at the archive itself, not via the gateway
            status = "archived" if status != "archived" else "active"
            changed = await archive.patch(f"/v1/atlas/{atlas_id}", json={"status": status})
            assert changed.status_code == 200, changed.text
            seq = await _event_seq(stack, atlas_id, 2 + n)
            await _processed(http, seq)
            after = await gateway.request("GET", path, role="user")
            assert after.status_code == 200, after.text
            assert after.json()["status"] == status, (
                f"round {n}: the gateway had processed the change to {status!r} and still"
                f" answered {after.json()['status']!r} (X-Cache: {after.headers.get('x-cache')})"
            )
            assert after.headers.get("x-cache") != "hit"
            assert (await _cached(http, path, token)).json()["status"] == status


async def test_a_change_through_the_gateway_is_read_back_at_once(gateway: GatewayClient) -> None:
    atlas_id = await _archived_record(gateway, "önbellek: yönetici durumu değiştirir")
    path = f"{API}/archive/{atlas_id}"
    first = await gateway.request("GET", path, role="admin")
    if "x-cache" not in first.headers:
        pytest.skip("the gateway sends no X-Cache header: it keeps no cache of archive answers")
    before = (await _cached(gateway.http, path, await gateway.token("admin"))).json()["status"]
    status = "archived" if before != "archived" else "active"
    changed = await gateway.request("PATCH", path, role="admin", json={"status": status})
    assert changed.status_code == 200, changed.text
    # No waiting for the event: the replica that made the change dropped its entry itself.
    after = await gateway.request("GET", path, role="admin")
    assert after.json()["status"] == status, after.text


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def replica(stack: StackState) -> AsyncIterator[str]:
    record = stack.processes.get("gateway")
    if stack.target != "local" or record is None or not stack.state_dir:
        pytest.skip("starts a second gateway process from the local stack's own command")
    env = {k: v for k, v in record.env.items() if k != "ALTLAS_PORT"}
    started = ServiceProcess("gateway", env, Path(stack.state_dir) / "logs" / "gateway-cache.log")
    try:
        await started.start()
        yield started.url
    finally:
        await asyncio.gather(started.stop(), return_exceptions=True)


async def test_a_change_through_one_replica_reaches_the_other(
    gateway: GatewayClient, stack: StackState, replica: str
) -> None:
    _needs(stack, "nats")
    atlas_id = await _archived_record(gateway, "önbellek: iki geçit, bir değişiklik")
    path = f"{API}/archive/{atlas_id}"
    token = await gateway.token("admin")
    async with httpx.AsyncClient(base_url=replica, timeout=10) as other:
        before = (await _cached(other, path, token)).json()["status"]
        status = "archived" if before != "archived" else "active"
        changed = await gateway.request("PATCH", path, role="admin", json={"status": status})
        assert changed.status_code == 200, changed.text
        await _processed(other, await _event_seq(stack, atlas_id))
        after = await other.get(path, headers={"Authorization": f"Bearer {token}"})
        assert after.status_code == 200 and after.json()["status"] == status, (
            f"the other replica had processed the change to {status!r} and answered"
            f" {after.json().get('status')!r} (X-Cache: {after.headers.get('x-cache')})"
        )
