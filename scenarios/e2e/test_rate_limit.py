"""A burst from one user is cut off with 429 + Retry-After; the user recovers afterwards."""

from __future__ import annotations

import asyncio
import os

import httpx

from harness.clients.gateway import API, GatewayClient
from harness.polling import poll_until

# Enough to exhaust the reference gateway's default bucket (200, refilled at 100/s) even on a
# fast machine; set HARNESS_RATE_LIMIT_BURST for deployments with larger limits.
BURST = int(os.environ.get("HARNESS_RATE_LIMIT_BURST", "1000"))
PATH = f"{API}/commands/00000000-0000-4000-8000-000000000000"


async def test_burst_gets_429_with_retry_after(gateway: GatewayClient) -> None:
    token = await gateway.token("admin")
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=gateway.base_url, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(*(client.get(PATH, headers=headers) for _ in range(BURST)))
    codes = [r.status_code for r in responses]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, f"expected some 429s in a burst of {BURST}, got {sorted(set(codes))}"
    assert set(codes) <= {404, 429}, f"a burst must only see 404 (unknown id) or 429: {set(codes)}"
    for r in limited[:20]:
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        assert int(r.headers["retry-after"]) >= 1, f"Retry-After must be whole seconds: {r.headers}"

    async def _recovered() -> bool:
        return (await gateway.request("GET", PATH, role="admin")).status_code == 404

    await poll_until(_recovered, 30, "the admin's bucket to refill after the burst")
