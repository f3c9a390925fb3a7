"""Chaos Toolkit probes: is the stack healthy, does a command make it through, what did the
checker say about the workload's history, how deep is a DLQ."""

from __future__ import annotations

import time
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed
from nats.js.api import ConsumerConfig, DeliverPolicy

from harness.chaos._runtime import run, settings, workload_verdict
from harness.clients.gateway import API, GatewayClient
from harness.polling import poll_until
from harness.stack.health import check_stack
from harness.stack.state import load_state, nats_access

__all__ = [
    "circuit_state_is",
    "command_roundtrip_ok",
    "dlq_depth",
    "history_verdict",
    "p95_latency_below",
    "search_fails_fast",
    "stack_healthy",
]


def stack_healthy(timeout_s: float = 60) -> bool:
    """Every component healthy, waiting up to `timeout_s` for it (recovery is polled)."""
    state = load_state(settings())

    async def _healthy() -> bool:
        return all(h.healthy for h in await check_stack(state))

    async def _wait() -> bool:
        await poll_until(_healthy, timeout_s, "every component of the stack to be healthy")
        return True

    return run(_wait())


def command_roundtrip_ok(timeout_s: float = 60) -> bool:
    """A fresh command submitted now reaches `archived` within `timeout_s`."""
    state = load_state(settings())

    async def _roundtrip() -> bool:
        async with GatewayClient(state.endpoints["gateway"], state.credentials) as client:
            cid = await client.submit_ok("Durum kontrolü: raporu oluştur ve özetle")
            final = await client.wait_until_final(cid, timeout=timeout_s)
            if final["status"] != "archived":
                raise ActivityFailed(f"command {cid} ended {final['status']}: {final['detail']}")
            return True

    return run(_roundtrip())


def p95_latency_below(ms: float, samples: int = 10, timeout_s: float = 60) -> bool:
    """p95 of submit → archived over `samples` sequential commands is below `ms`."""
    from harness.probes.latency import measure

    report = run(measure(load_state(settings()), samples)).to_json()
    if report["p95_ms"] >= ms:
        raise ActivityFailed(f"p95 {report['p95_ms']} ms is not below {ms} ms")
    return True


def search_fails_fast(max_s: float = 5) -> dict[str, Any]:
    """Archive search answers within `max_s`: 200, or 503 with Retry-After — never hangs."""
    state = load_state(settings())

    async def _search() -> dict[str, Any]:
        async with GatewayClient(state.endpoints["gateway"], state.credentials) as client:
            started = time.monotonic()
            try:
                resp = await client.request(
                    "GET", f"{API}/archive/search", params={"q": "rapor"}, timeout=max_s + 1
                )
            except httpx.TimeoutException:
                raise ActivityFailed(f"search hung for more than {max_s}s") from None
            took = time.monotonic() - started
            if took > max_s:
                raise ActivityFailed(f"search took {took:.1f}s (limit {max_s}s)")
            if resp.status_code == 503 and not resp.headers.get("retry-after"):
                raise ActivityFailed("503 without Retry-After")
            if resp.status_code not in (200, 503):
                raise ActivityFailed(f"search answered {resp.status_code}: {resp.text[:200]}")
            return {"status": resp.status_code, "seconds": round(took, 2)}

    return run(_search())


CIRCUIT_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


def circuit_state_is(state: str, name: str = "archive", timeout_s: float = 30) -> bool:
    """The gateway's circuit breaker `name` reaches `state` (closed, half_open, open) within
    `timeout_s`, read from its /metrics; archive searches are sent meanwhile to drive it."""
    if state not in CIRCUIT_VALUES:
        raise ActivityFailed(f"unknown circuit state {state!r}; known: {sorted(CIRCUIT_VALUES)}")
    stack = load_state(settings())
    metric = f'altlas_circuit_state{{name="{name}"}}'

    async def _reached() -> bool:
        async with GatewayClient(stack.endpoints["gateway"], stack.credentials) as client:
            await client.request("GET", f"{API}/archive/search", params={"q": "x"}, timeout=10)
            text = (await client.http.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(metric):
                return float(line.rsplit(" ", 1)[1]) == CIRCUIT_VALUES[state]
        return False

    return run(poll_until(_reached, float(timeout_s), f"circuit {name!r} to be {state}"))


def dlq_depth(consumer: str = "segmentation") -> int:
    """How many messages `altlas.dlq.<consumer>` holds."""
    access = nats_access(load_state(settings()))

    async def _depth() -> int:
        nc = await access.connect()
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(
                f"altlas.dlq.{consumer}",
                durable=None,
                stream="ALTLAS_DLQ",
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            )
            info = await sub.consumer_info()
            await sub.unsubscribe()
            return int(info.num_pending or 0)
        finally:
            await nc.close()

    return run(_depth())


def history_verdict(name: str, timeout_s: float = 300) -> bool:
    """The checker's verdict on the workload `name` run by this `chaos run`.

    Before the workload has started in this run (the hypothesis before the method) there is
    nothing to judge and the probe holds. Once it has started, it waits for the verdict and
    fails on any anomaly (lost, duplicated, stuck, illegal transition, phantom, rejected).
    """
    verdict = workload_verdict(name, float(timeout_s))
    if verdict is None:
        return True
    if not verdict["valid"]:
        raise ActivityFailed(verdict["summary"])
    return True
