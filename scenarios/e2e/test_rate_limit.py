"""A burst from one user is cut off with 429 + Retry-After; the user recovers afterwards.

The bucket's size and refill are the deployment's (the reference gateway: 200, 100/s); give
others with HARNESS_RATE_LIMIT_CAPACITY and HARNESS_RATE_LIMIT_REFILL.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from harness.clients.gateway import API, GatewayClient
from harness.polling import poll_until
from harness.settings import HarnessSettings

_SETTINGS = HarnessSettings()
CAPACITY = _SETTINGS.rate_limit_capacity
REFILL = _SETTINGS.rate_limit_refill
BURST = _SETTINGS.rate_limit_burst
# Connections the burst is sent over; fewer through a `kubectl port-forward`, which drops some
# of a hundred connections opened at once (the k8s-local suite sets 10).
CONNECTIONS = _SETTINGS.rate_limit_connections
# A malformed id: the gateway authenticates and charges the bucket, then answers 422 without
# touching the database, so the burst is as fast as the gateway can take it.
PATH = f"{API}/commands/not-a-uuid"


async def test_burst_is_limited_to_the_bucket(gateway: GatewayClient) -> None:
    token = await gateway.token("admin")
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=gateway.base_url, limits=limits, timeout=60) as client:
        started = time.monotonic()
        # Every request finishes before the client closes, even when one fails.
        answers = await asyncio.gather(
            *(client.get(PATH, headers=headers) for _ in range(BURST)), return_exceptions=True
        )
        elapsed = time.monotonic() - started
    errors = [a for a in answers if isinstance(a, BaseException)]
    assert not errors, f"{len(errors)} of {BURST} requests got no answer, first: {errors[0]!r}"
    responses = [a for a in answers if isinstance(a, httpx.Response)]
    codes = [r.status_code for r in responses]
    assert set(codes) <= {422, 429}, f"a burst must only see 422 (bad id) or 429: {set(codes)}"
    admitted = codes.count(422)
    # The token bucket's promise: never more than capacity + refill * t in any window of t.
    bound = CAPACITY + REFILL * elapsed
    assert admitted <= bound, (
        f"{admitted} requests admitted in {elapsed:.2f}s; the bucket allows at most {bound:.0f}"
    )
    if BURST > bound * 1.2:  # the burst outran the refill: the excess must have been refused
        assert codes.count(429) >= BURST - bound * 1.1, (
            f"only {codes.count(429)} of {BURST} refused in {elapsed:.2f}s (bound {bound:.0f})"
        )
    for r in [r for r in responses if r.status_code == 429][:20]:
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        assert int(r.headers["retry-after"]) >= 1, f"Retry-After must be whole seconds: {r.headers}"

    async def _recovered() -> bool:
        return (await gateway.request("GET", PATH, role="admin")).status_code == 422

    await poll_until(_recovered, 30, "the admin's bucket to refill after the burst")


async def test_error_answers_carry_the_rate_limit_headers(gateway: GatewayClient) -> None:
    """A request the gateway charged is told what is left, whatever it is answered: a 404 of a
    command nobody has and a 422 of a malformed id count against the limit like a 200."""
    ok = await gateway.request("GET", f"{API}/archive/search", role="viewer")
    if "ratelimit-limit" not in ok.headers:
        pytest.skip("the gateway sends no RateLimit-* headers")
    for path, status in (
        (f"{API}/commands/00000000-0000-4000-8000-00000000abcd", 404),
        (PATH, 422),
    ):
        resp = await gateway.request("GET", path, role="viewer")
        assert resp.status_code == status, resp.text
        missing = {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} - set(resp.headers)
        assert not missing, f"a {status} was charged and lacks {sorted(missing)}: {resp.headers}"
