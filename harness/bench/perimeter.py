"""What the perimeter costs the gateway's hot read, `GET /api/v1/commands/{id}`, measured beside
its own baseline in the same run:

- **shared limiter**: a gateway counting its rate limit in NATS (the default) against one
  limiting per process (`ALTLAS_RATE_LIMIT_SHARED=false`, the token bucket it replaced);
- **OpenID token**: on the shared gateway, an OpenID provider's access token (verified against
  its JWKS on every request) against the gateway's own token (remembered once verified).

Two extra gateway processes are started from the stack's own gateway command (local stack), with
limits too high to refuse anything, so the measurement is the limiter's work, not its refusals.
Rounds alternate between the variants; the best round of each is reported.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from harness.bench.overhead import drive
from harness.bench.pipeline import API, BenchError, Submitter, Tracker
from harness.infra import oidc
from harness.infra.services import ServiceProcess
from harness.stack.state import StackState

UNLIMITED = {"ALTLAS_RATE_LIMIT_CAPACITY": "1000000000", "ALTLAS_RATE_LIMIT_REFILL_PER_S": "1e9"}


def _ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> float | None:
    return round(a[key] / b[key], 3) if b.get(key) else None


async def perimeter(
    state: StackState, concurrency: int, seconds: float, rounds: int = 2
) -> dict[str, Any]:
    record = state.processes.get("gateway")
    if state.target != "local" or record is None or not state.state_dir:
        return {"skipped": "needs the local stack (it starts gateways from the stack's command)"}
    env = {k: v for k, v in record.env.items() if k != "ALTLAS_PORT"} | UNLIMITED
    logs = Path(state.state_dir) / "logs"
    shared = ServiceProcess("gateway", env, logs / "bench-gateway-shared.log")
    local = ServiceProcess(
        "gateway", env | {"ALTLAS_RATE_LIMIT_SHARED": "false"}, logs / "bench-gateway-local.log"
    )
    async with Submitter(state, Tracker()) as submitter:
        ids = [await submitter.submit() for _ in submitter.tokens]
        tokens = list(submitter.tokens)
    try:
        await asyncio.gather(shared.start(), local.start())

        def reads(base: str) -> list[tuple[str, dict[str, str]]]:
            return [
                (f"{base}{API}/commands/{cid}", {"Authorization": f"Bearer {tok}"})
                for cid, tok in zip(ids, tokens, strict=True)
            ]

        variants: dict[str, list[tuple[str, dict[str, str]]]] = {
            "local_limit": reads(local.url),
            "shared_limit": reads(shared.url),
        }
        account = state.credentials.get("oidc-user")
        if account is not None:
            variants["oidc_token"] = await _oidc_reads(shared.url, account)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, requests in variants.items():
                runs[name].append(await drive(requests, concurrency, seconds))
    finally:
        await asyncio.gather(shared.stop(), local.stop(), return_exceptions=True)
    for name, found in runs.items():
        if any(r["errors"] for r in found):
            raise BenchError(f"{name}: errors during the benchmark: {found}")
    best = {name: max(found, key=lambda r: r["per_s"]) for name, found in runs.items()}
    result: dict[str, Any] = {
        "concurrency": concurrency,
        "seconds_per_round": seconds,
        **best,
        "rounds": runs,
        "ratios": {
            "shared_over_local_limit_throughput": _ratio(
                best["shared_limit"], best["local_limit"], "per_s"
            ),
            "shared_limit_added_p50_ms": round(
                best["shared_limit"]["p50_ms"] - best["local_limit"]["p50_ms"], 2
            ),
        },
    }
    if "oidc_token" in best:
        result["ratios"]["oidc_over_own_token_throughput"] = _ratio(
            best["oidc_token"], best["shared_limit"], "per_s"
        )
        result["ratios"]["oidc_added_p50_ms"] = round(
            best["oidc_token"]["p50_ms"] - best["shared_limit"]["p50_ms"], 2
        )
    else:
        result["oidc_token"] = {"skipped": "the stack runs no OpenID provider"}
    return result


async def _oidc_reads(base: str, account: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """One command of the provider's service account, read with its token."""
    answer = await oidc.client_credentials_token(account)
    if answer.status_code != 200:
        raise BenchError(f"no token from the OpenID provider: {answer.status_code} {answer.text}")
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        resp = await client.post(
            f"{API}/commands", json={"command": "benchmark: dosyaları listele"}, headers=headers
        )
    if resp.status_code != 202:
        raise BenchError(f"the service account could not submit: {resp.status_code} {resp.text}")
    return [(f"{base}{API}/commands/{resp.json()['id']}", headers)]
