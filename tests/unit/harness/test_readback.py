"""The read-back after a campaign against a gateway that rate-limits reads: it paces itself,
honours Retry-After, retries, and a rate limit never turns into "stuck" (issue 18).

The gateway here is an in-process ASGI app with the reference gateway's token bucket on every
authenticated read, far smaller than the number of commands read back — the failure `make
campaign` showed on a healthy stack (480 final reads, one user, a bucket of 200).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.checkers import check
from harness.stack.state import StackState
from harness.workload.pacing import Pacer, parse_retry_after, retry_delay
from harness.workload.pipeline import Workload, WorkloadConfig
from reference_services.gateway.ratelimit import TokenBucketLimiter

COMMANDS = 60


class FakeGateway:
    """Every command is archived at once; reads spend a token of a small bucket."""

    def __init__(
        self, capacity: float, refill_per_s: float, broken_reads: range = range(0)
    ) -> None:
        self.limiter = TokenBucketLimiter(capacity, refill_per_s)
        self.commands: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.answered_429 = 0
        self.broken_reads = broken_reads  # these reads of each command (1, 2, …) answer 503
        self.reads: dict[str, int] = {}
        self.ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/api/v1/auth/login", self.login, methods=["POST"]),
                Route("/api/v1/commands", self.submit, methods=["POST"]),
                Route("/api/v1/commands/{cid}", self.status, methods=["GET"]),
                Route("/api/v1/archive/search", self.search, methods=["GET"]),
            ]
        )

    async def login(self, request: Request) -> Response:
        return JSONResponse({"access_token": "t"})

    async def submit(self, request: Request) -> Response:
        key = request.headers["Idempotency-Key"]
        body = await request.json()
        if key not in self.by_key:
            cid = f"cmd-{next(self.ids)}"
            self.by_key[key] = cid
            n = cid.removeprefix("cmd-")
            self.commands[cid] = {
                "id": cid,
                "status": "archived",
                "final": True,
                "alt_id": f"alt-{n}",
                "last_id": f"last-{n}",
                "atlas_id": f"atlas-{n}",
                "text": body["command"],
            }
        return JSONResponse({"id": self.by_key[key], "status": "accepted"}, status_code=202)

    def _limited(self) -> Response | None:
        decision = self.limiter.acquire("user")
        if decision.allowed:
            return None
        self.answered_429 += 1
        headers = {"Retry-After": self.limiter.retry_after_header(decision)}
        return JSONResponse({"detail": "rate limit"}, status_code=429, headers=headers)

    async def status(self, request: Request) -> Response:
        if (refused := self._limited()) is not None:
            return refused
        cid = request.path_params["cid"]
        self.reads[cid] = self.reads.get(cid, 0) + 1
        if self.reads[cid] in self.broken_reads:
            return JSONResponse({"detail": "recovering"}, status_code=503)
        if cid not in self.commands:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return JSONResponse({k: v for k, v in self.commands[cid].items() if k != "text"})

    async def search(self, request: Request) -> Response:
        if (refused := self._limited()) is not None:
            return refused
        q, size = request.query_params["q"], int(request.query_params["size"])
        page = int(request.query_params["page"])
        hits = [c for c in self.commands.values() if q in c["text"]]
        items = [{"id": c["atlas_id"], "command_id": c["id"]} for c in hits]
        return JSONResponse({"items": items[(page - 1) * size : page * size], "total": len(items)})


async def _run(gateway: FakeGateway, **config: Any) -> Workload:
    stack = StackState("external", {"gateway": "http://gateway.test"}, {"user": {}})
    workload = Workload(
        stack,
        WorkloadConfig(recovery_s=10, readback_s=60, **config),
        transport=httpx.ASGITransport(app=gateway.app),
    )
    for n in range(COMMANDS):
        done = await workload.submit(f"{workload.token}-{n}", f"komut {workload.token} #{n}")
        assert done.type == "ok", f"expected the fake gateway to accept submit {n}: {done}"
    await workload.finish()
    await workload.aclose()
    return workload


async def test_final_reads_against_a_small_bucket_are_not_stuck() -> None:
    # 60 commands read back at least twice (wait for final, final read) plus the scan, against
    # a bucket of 10 refilled at 40/s, starting four times faster than the refill.
    gateway = FakeGateway(capacity=10, refill_per_s=40)
    workload = await _run(gateway, read_rate_per_s=160)
    verdict = check(workload.history.ops, recovery_window_s=0)
    assert gateway.answered_429 > 0, "expected the read-back to meet the rate limiter"
    assert verdict.status == "VALID", f"expected 429s to be retried, not judged:\n{verdict}"
    assert verdict.counts["archived"] == COMMANDS, verdict.counts
    assert workload.readback["throttled"] > 0, workload.readback
    assert workload.readback["commands"] == COMMANDS, workload.readback


async def test_transient_errors_are_retried_until_a_read_succeeds() -> None:
    # The first read (waiting for final) works; the final read's first three attempts get 503.
    gateway = FakeGateway(capacity=1000, refill_per_s=1000, broken_reads=range(2, 5))
    workload = await _run(gateway, read_rate_per_s=500)
    verdict = check(workload.history.ops, recovery_window_s=0)
    assert verdict.status == "VALID", f"expected 503s to be retried:\n{verdict}"
    assert workload.readback["errors"] == {"HTTP 503": 3 * COMMANDS}, workload.readback
    assert workload.readback["retries"] == 3 * COMMANDS, workload.readback


def test_pacer_spaces_requests_and_backs_off_on_429() -> None:
    now = [0.0]
    pacer = Pacer(10.0, clock=lambda: now[0])
    delays = [pacer.delay() for _ in range(3)]
    assert delays == pytest.approx([0.0, 0.1, 0.2]), "expected 10/s to space requests 0.1 s"
    pacer.throttled(2.0)
    assert pacer.rate_per_s == 5.0, "expected a 429 to halve the pace"
    assert pacer.delay() == pytest.approx(2.0), "expected nothing sent before Retry-After"
    for _ in range(20):
        pacer.answered()
    assert pacer.rate_per_s == 10.0, "expected the pace to recover, never above the start"


def test_a_429_never_speeds_a_slow_pace_up() -> None:
    pacer = Pacer(1.0, clock=lambda: 0.0)
    pacer.throttled(0.0)
    assert pacer.rate_per_s <= 1.0, f"expected at most the starting 1/s, got {pacer.rate_per_s}"


@pytest.mark.parametrize(
    ("value", "seconds"), [("3", 3.0), (None, 1.0), ("soon", 1.0), ("-4", 0.0), ("999", 30.0)]
)
def test_retry_after_is_parsed_and_capped(value: str | None, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


@pytest.mark.parametrize(
    ("status", "attempt", "delay"),
    [(429, 1, 0.0), (503, 1, 0.25), (503, 3, 1.0), (None, 10, 4.0), (403, 1, None), (400, 1, None)],
)
def test_retry_delay(status: int | None, attempt: int, delay: float | None) -> None:
    got = retry_delay(status, attempt)
    assert got == delay or (delay is not None and got is not None and math.isclose(got, delay))
