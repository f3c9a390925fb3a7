"""Gateway overhead: its `GET /api/v1/commands/{id}` beside the same read from a bare ASGI app
(`harness.bench.bare_app`) on the same database, served by uvicorn the same way, driven by the
same closed-loop client at the same concurrency. Rounds alternate (bare, gateway, bare,
gateway) so drift on a shared machine hits both; the best round of each is reported.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import httpx

from harness.bench._stats import summary_ms
from harness.bench.pipeline import API, BenchError, Submitter, Tracker
from harness.infra._process import free_port
from harness.polling import poll_until
from harness.stack.state import StackState


def gateway_database(state: StackState) -> str:
    """The gateway's database on the stack's PostgreSQL (the local stack names it `gateway`)."""
    url = urlsplit(state.endpoints["postgres"])
    return urlunsplit(url._replace(path="/gateway"))


async def drive(
    requests: list[tuple[str, dict[str, str]]], concurrency: int, seconds: float
) -> dict[str, Any]:
    """Closed loop: `concurrency` clients cycle through `requests` for `seconds`."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(offset: int, deadline: float, record: bool) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                url, headers = requests[i % len(requests)]
                i += concurrency
                t = time.perf_counter()
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
                if record:
                    latencies.append(time.perf_counter() - t)
                    errors += not ok

        warm = time.perf_counter() + 1.5
        await asyncio.gather(*(client(k, warm, False) for k in range(concurrency)))
        t0 = time.perf_counter()
        await asyncio.gather(*(client(k, t0 + seconds, True) for k in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_s": round(len(latencies) / elapsed, 1),
        **summary_ms(latencies),
    }


async def overhead(
    state: StackState, concurrency: int, seconds: float, rounds: int = 2
) -> dict[str, Any]:
    gateway = state.endpoints["gateway"]
    async with Submitter(state, Tracker()) as submitter:
        # One command per account: a user reads only their own commands (and the gateway's
        # rate limit is per account, so spreading keeps it out of the measurement).
        ids = [await submitter.submit() for _ in submitter.tokens]
        tokens = list(submitter.tokens)
    via_gateway = [
        (f"{gateway}{API}/commands/{cid}", {"Authorization": f"Bearer {tok}"})
        for cid, tok in zip(ids, tokens, strict=True)
    ]
    port = free_port()
    bare_url = f"http://127.0.0.1:{port}"
    via_bare: list[tuple[str, dict[str, str]]] = [(f"{bare_url}/commands/{cid}", {}) for cid in ids]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harness.bench.bare_app",
        gateway_database(state),
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:

        async def _up() -> bool:
            if proc.returncode is not None:
                err = await proc.stderr.read() if proc.stderr else b""
                raise BenchError(f"the bare app exited: {err.decode(errors='replace')[-500:]}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"{bare_url}/commands/{ids[0]}")).status_code == 200
            except httpx.HTTPError:
                return False

        await poll_until(_up, 30, f"the bare ASGI app at {bare_url}")
        bare_runs, gateway_runs = [], []
        for _ in range(rounds):
            bare_runs.append(await drive(via_bare, concurrency, seconds))
            gateway_runs.append(await drive(via_gateway, concurrency, seconds))
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
    for name, runs in (("bare", bare_runs), ("gateway", gateway_runs)):
        if any(r["errors"] for r in runs):
            raise BenchError(f"{name} answered errors during the benchmark: {runs}")
    bare = max(bare_runs, key=lambda r: r["per_s"])
    gw = max(gateway_runs, key=lambda r: r["per_s"])
    return {
        "concurrency": concurrency,
        "seconds_per_round": seconds,
        "bare": bare,
        "gateway": gw,
        "rounds": {"bare": bare_runs, "gateway": gateway_runs},
    }
