"""The pipeline's throughput at saturation and its end-to-end latency at fixed offered loads.

Commands go in through the gateway's API; completion is seen on NATS, where the archive
publishes `altlas.atlas.created` with the command id as the event's subject, so no status
polling adds load or blurs the times. End-to-end = that event's arrival − the submit's start.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.aio.msg import Msg

from harness.bench._stats import summary_ms
from harness.errors import HarnessError
from harness.stack.state import StackState, nats_access

API = "/api/v1"
ARCHIVED_SUBJECT = "altlas.atlas.created"
COMMANDS = (
    "İstanbul hava durumunu ara ve sonuçları özetle",
    "Ankara'daki toplantı notlarını analiz et, ardından raporu PDF olarak kaydet",
    "search the weather in Istanbul and summarise the results",
    "müşteri şikâyetlerini sınıflandır ve ekibe e-posta gönder",
)


class BenchError(HarnessError):
    """A benchmark could not run or did not finish."""


def accounts(state: StackState) -> list[tuple[str, str]]:
    load = state.credentials.get("load")
    if load:
        return [(u, load["password"]) for u in load["usernames"].split(",")]
    user = state.credentials.get("user")
    if user is None:
        raise BenchError("the stack names no account with the user role")
    return [(user["username"], user["password"])]


@dataclass
class Tracker:
    """Submit times by command id, archive times as they arrive on NATS."""

    submitted: dict[str, float] = field(default_factory=dict)
    archived: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_archived(self, msg: Msg) -> None:
        try:
            command_id = json.loads(msg.data)["subject"]
        except (ValueError, KeyError):
            return
        self.archived.setdefault(command_id, time.perf_counter())
        self.changed.set()

    async def wait_for(self, ids: Sequence[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while any(i not in self.archived for i in ids):
            left = deadline - time.perf_counter()
            missing = [i for i in ids if i not in self.archived]
            if left <= 0:
                raise BenchError(
                    f"{len(missing)} of {len(ids)} commands not archived within {timeout:.0f} s"
                )
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=min(left, 1.0))
            except TimeoutError:
                pass

    def latencies(self, ids: Sequence[str]) -> list[float]:
        return [self.archived[i] - self.submitted[i] for i in ids if i in self.archived]


class Submitter:
    """Submits commands through the gateway, spread over the load accounts."""

    def __init__(self, state: StackState, tracker: Tracker) -> None:
        self.base = state.endpoints["gateway"]
        self.accounts = accounts(state)
        self.tracker = tracker
        self.http = httpx.AsyncClient(
            base_url=self.base, timeout=30, limits=httpx.Limits(max_connections=64)
        )
        self.tokens: list[str] = []
        self._next = itertools.count()
        self.texts = itertools.cycle(COMMANDS)

    async def __aenter__(self) -> Submitter:
        async def _login(user: str, password: str) -> str:
            resp = await self.http.post(
                f"{API}/auth/login", json={"username": user, "password": password}
            )
            if resp.status_code != 200:
                raise BenchError(f"login as {user}: HTTP {resp.status_code}")
            return str(resp.json()["access_token"])

        self.tokens = list(await asyncio.gather(*(_login(u, p) for u, p in self.accounts)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def submit(self) -> str:
        token = self.tokens[next(self._next) % len(self.tokens)]
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
        body = {"command": next(self.texts)}
        started = time.perf_counter()
        try:
            resp = await self.http.post(f"{API}/commands", json=body, headers=headers)
        except httpx.TransportError:
            # A kept-alive connection the server closed as it was reused: retry once, with the
            # same key, so the command is not submitted twice.
            resp = await self.http.post(f"{API}/commands", json=body, headers=headers)
        if resp.status_code != 202:
            raise BenchError(f"submit: HTTP {resp.status_code} {resp.text[:200]}")
        command_id = str(resp.json()["id"])
        self.tracker.submitted[command_id] = started
        return command_id

    async def sample_documents(self, command_id: str) -> dict[str, int]:
        """Sizes (bytes) of one archived command's documents, for the ceiling's messages."""
        token = self.tokens[0]
        sizes = {}
        for kind in ("alt", "last", "atlas"):
            resp = await self.http.get(
                f"{API}/commands/{command_id}/{kind}", headers={"Authorization": f"Bearer {token}"}
            )
            if resp.status_code != 200:
                raise BenchError(f"{kind} of {command_id}: HTTP {resp.status_code}")
            sizes[kind] = len(resp.content)
        return sizes


async def _tracked(state: StackState) -> tuple[Any, Tracker]:
    tracker = Tracker()
    nc = await nats_access(state).connect(connect_timeout=5)
    await nc.subscribe(ARCHIVED_SUBJECT, cb=tracker.on_archived)
    return nc, tracker


async def saturation(state: StackState, n: int, concurrency: int) -> dict[str, Any]:
    """Submit n commands as fast as `concurrency` clients can; commands archived per second."""
    nc, tracker = await _tracked(state)
    try:
        async with Submitter(state, tracker) as submitter:
            gate = asyncio.Semaphore(concurrency)

            async def one() -> str:
                async with gate:
                    return await submitter.submit()

            t0 = time.perf_counter()
            ids = list(await asyncio.gather(*(one() for _ in range(n))))
            accepted_s = time.perf_counter() - t0
            await tracker.wait_for(ids, timeout=60 + n / 2)
            elapsed = max(tracker.archived[i] for i in ids) - t0
            sizes = await submitter.sample_documents(ids[0])
            return {
                "commands": n,
                "concurrency": concurrency,
                "accepted_per_s": round(n / accepted_s, 2),
                "archived_per_s": round(n / elapsed, 2),
                "elapsed_s": round(elapsed, 2),
                "e2e": summary_ms(tracker.latencies(ids)),
                "document_bytes": sizes,
            }
    finally:
        await nc.close()


async def at_rate(state: StackState, rate: float, duration_s: float) -> dict[str, Any]:
    """Open-loop arrivals at `rate`/s for `duration_s`; end-to-end latency of each."""
    nc, tracker = await _tracked(state)
    try:
        async with Submitter(state, tracker) as submitter:
            tasks: list[asyncio.Task[str]] = []
            t0 = time.perf_counter()
            total = max(1, int(rate * duration_s))
            for k in range(total):
                delay = t0 + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # the arrival schedule
                tasks.append(asyncio.create_task(submitter.submit()))
            ids = list(await asyncio.gather(*tasks))
            offered_s = time.perf_counter() - t0
            await tracker.wait_for(ids, timeout=120)
            return {
                "offered_per_s": round(rate, 2),
                "achieved_per_s": round(len(ids) / offered_s, 2),
                "e2e": summary_ms(tracker.latencies(ids)),
            }
    finally:
        await nc.close()
