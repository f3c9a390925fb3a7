"""Two gateway processes share one rate limit: a burst split across them is admitted as if one
gateway took it (capacity + refill × t, not twice that), every answer carries RateLimit-*
headers, and when the counter store (NATS) is out of reach each gateway falls back to its own
bucket and keeps serving (the README's documented choice: fail open, limited per replica).
Failed logins are counted in the same store: a guesser alternating between them gets one burst.

Local stack only: the test starts the two extra gateways from the stack's own gateway command,
with a small limit (20 per 2 s) so the burst outruns it within seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from harness.clients.gateway import API
from harness.faults import network
from harness.infra.services import ServiceProcess
from harness.polling import poll_until
from harness.settings import HarnessSettings
from harness.stack.state import StackState

CAPACITY, REFILL = 20, 10
BURST = 300
PATH = f"{API}/commands/not-a-uuid"  # authenticated and counted, then a cheap 422


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def replicas(stack: StackState) -> AsyncIterator[list[str]]:
    record = stack.processes.get("gateway")
    if stack.target != "local" or record is None or not stack.state_dir:
        pytest.skip("starts extra gateway processes from the local stack's own command")
    env = {k: v for k, v in record.env.items() if k != "ALTLAS_PORT"}
    env.update(ALTLAS_RATE_LIMIT_CAPACITY=str(CAPACITY), ALTLAS_RATE_LIMIT_REFILL_PER_S=str(REFILL))
    logs = Path(stack.state_dir) / "logs"
    started = [ServiceProcess("gateway", env, logs / f"gateway-replica-{i}.log") for i in (1, 2)]
    try:
        await asyncio.gather(*(p.start() for p in started))
        yield [p.url for p in started]
    finally:
        await asyncio.gather(*(p.stop() for p in started), return_exceptions=True)


async def _token(url: str, stack: StackState) -> str:
    cred = stack.credentials["other"]
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        resp = await c.post(f"{API}/auth/login", json=cred)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


async def _burst(urls: list[str], token: str, n: int) -> tuple[list[httpx.Response], float]:
    headers = {"Authorization": f"Bearer {token}"}
    clients = [httpx.AsyncClient(base_url=u, timeout=30) for u in urls]
    try:
        started = time.monotonic()
        answers = await asyncio.gather(
            *(clients[i % len(clients)].get(PATH, headers=headers) for i in range(n))
        )
        return list(answers), time.monotonic() - started
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def _quiet(urls: list[str], token: str) -> None:
    """Wait out the windows of an earlier burst: the next one starts from a full limit."""
    async with httpx.AsyncClient(base_url=urls[0], timeout=10) as c:

        async def _full() -> bool:
            # Any answer the gateway charged carries the RateLimit headers.
            resp = await c.get(
                f"{API}/archive/search", headers={"Authorization": f"Bearer {token}"}
            )
            # Nearly full: these polls count too, a few per window.
            return resp.status_code == 200 and int(resp.headers["ratelimit-remaining"]) >= (
                CAPACITY - 6
            )

        await poll_until(_full, 15, "the limit to come back to full after the last burst")


async def test_two_gateways_admit_one_limit_together(
    replicas: list[str], stack: StackState
) -> None:
    token = await _token(replicas[0], stack)
    await _quiet(replicas, token)
    answers, elapsed = await _burst(replicas, token, BURST)
    codes = [a.status_code for a in answers]
    assert set(codes) <= {422, 429}, f"only 422 (admitted) or 429: {sorted(set(codes))}"
    admitted = codes.count(422)
    per_gateway = [sum(a.status_code == 422 for a in answers[i :: len(replicas)]) for i in range(2)]
    bound = CAPACITY + REFILL * elapsed
    print(f"two gateways admitted {admitted} of {BURST} in {elapsed:.2f} s {per_gateway};"
          f" one limit allows {bound:.0f}, two separate ones {2 * bound:.0f}")  # fmt: skip
    assert admitted <= bound + 2, (
        f"{admitted} admitted in {elapsed:.2f} s by two gateways; one shared limit allows"
        f" {bound:.0f} (two separate limits would allow {2 * bound:.0f})"
    )
    assert BURST > 2 * bound, f"the burst ({BURST} in {elapsed:.2f} s) must outrun two limits"
    refused = [sum(a.status_code == 429 for a in answers[i :: len(replicas)]) for i in range(2)]
    assert all(refused), f"each gateway enforced the one limit (429s per gateway: {refused})"
    async with httpx.AsyncClient(base_url=replicas[1], timeout=10) as c:
        ok = await c.get(f"{API}/archive/search", headers={"Authorization": f"Bearer {token}"})
    if ok.status_code == 200:
        assert ok.headers["ratelimit-limit"] == str(CAPACITY), ok.headers
        assert {"ratelimit-remaining", "ratelimit-reset", "ratelimit-policy"} <= set(ok.headers)
    first_refusal = next(a for a in answers if a.status_code == 429)
    assert int(first_refusal.headers["retry-after"]) >= 1, first_refusal.headers
    assert first_refusal.headers["content-type"].startswith("application/problem+json")


async def test_two_gateways_count_failed_logins_together(
    replicas: list[str], stack: StackState
) -> None:
    """A password guesser that alternates between two replicas gets one burst of guesses (the
    gateway's default, 10), not one per replica: the failures are counted in the shared store."""
    burst, name = 10, f"tahmin-{time.monotonic_ns()}"
    clients = [httpx.AsyncClient(base_url=u, timeout=10) for u in replicas]
    try:
        codes = []
        for i in range(3 * burst):
            resp = await clients[i % 2].post(
                f"{API}/auth/login", json={"username": name, "password": f"yanlış-{i}"}
            )
            codes.append(resp.status_code)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    assert set(codes) <= {401, 429}, codes
    checked = codes.count(401)
    # One more may come due while the guesses run (the refill: 10 a minute).
    assert burst <= checked <= burst + 1, (
        f"{checked} guesses checked by two gateways; one shared count allows {burst}"
        f" (two separate counts would allow {2 * burst}): {codes}"
    )


async def test_without_the_store_each_gateway_limits_on_its_own(
    replicas: list[str], stack: StackState, harness_settings: HarnessSettings
) -> None:
    if "gateway->nats" not in network.links(harness_settings):
        pytest.skip("needs Toxiproxy between the gateways and NATS")
    token = await _token(replicas[0], stack)
    await _quiet(replicas, token)
    await network.partition(harness_settings, "gateway->nats")
    try:
        answers, elapsed = await _burst(replicas[:1], token, BURST // 2)
    finally:
        await network.heal(harness_settings, "gateway->nats")
    codes = [a.status_code for a in answers]
    assert set(codes) <= {422, 429}, f"the gateway keeps serving without its store: {set(codes)}"
    admitted = codes.count(422)
    bound = CAPACITY + REFILL * elapsed
    assert 0 < admitted <= bound + 2, (
        f"{admitted} admitted in {elapsed:.2f} s by one gateway on its local bucket (bound"
        f" {bound:.0f})"
    )
    assert codes.count(429) > 0, "the local fallback still limits"
