"""The pipeline workload: submit commands, read their status, then final reads and a scan.

Every operation is recorded (invoke, then ok / fail / unknown) so the checker can judge the
whole run. A submit is `fail` only when it certainly did not take effect (refused connection,
4xx); timeouts and 5xx are `unknown`, resolved at the end by retrying the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.history.model import History, Op, OpFn
from harness.stack.state import StackState
from harness.workload.pacing import Pacer, parse_retry_after, retry_delay

log = logging.getLogger(__name__)
API = "/api/v1"
# How long the archive's search may lag behind its records at the end of a run.
INDEX_LAG_S = 30.0
PHRASES = (
    "İstanbul hava durumunu ara ve sonuçları özetle",
    "Raporu oluştur, ardından ekibe e-posta ile gönder",
    "Müşteri yorumlarını incele sonra önemli olanları özetle",
    "Search for flights to Ankara and then email them",
    "Create a quarterly report then send it to the finance team",
    "Analyze last week's sales",
)


@dataclass
class WorkloadConfig:
    rate_per_s: float = 4.0  # offered submit rate (open loop: not slowed by the system)
    readers: int = 2
    request_timeout_s: float = 5.0
    recovery_s: float = 90.0  # after the heal: how long commands get to become final
    seed: int = 0
    # Reads after the heal are paced under the per-user rate limit (the reference gateway
    # refills 100 tokens/s; half of it leaves room for anything else the user does), halved on
    # every 429; each final read and scan page is retried until `readback_s` has passed.
    read_rate_per_s: float = 50.0
    readback_s: float = 120.0


@dataclass
class Workload:
    stack: StackState
    config: WorkloadConfig
    history: History = field(default_factory=History)
    token: str = field(default_factory=lambda: "wl" + secrets.token_hex(4))
    accepted: list[str] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (key, text) to resolve
    progress: Callable[[str], None] = lambda _msg: None

    transport: httpx.AsyncBaseTransport | None = None  # tests: an in-process gateway

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.http = httpx.AsyncClient(
            base_url=self.stack.endpoints["gateway"],
            timeout=self.config.request_timeout_s,
            limits=httpx.Limits(max_connections=64),
            transport=self.transport,
        )
        self.pacer = Pacer(self.config.read_rate_per_s)
        self.readback: dict[str, Any] = {"retries": 0, "errors": {}}
        self._token: str | None = None
        self._next_process = 0

    def _process(self) -> int:
        self._next_process += 1
        return self._next_process

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _auth(self) -> dict[str, str]:
        if self._token is None:
            cred = self.stack.credentials["user"]
            resp = await self.http.post(f"{API}/auth/login", json=cred)
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    # -- operations -------------------------------------------------------------------------

    async def submit(self, key: str, text: str, process: int | None = None) -> Op:
        process = process if process is not None else self._process()
        op = self.history.invoke(process, "submit", value={"key": key, "text": text})
        try:
            headers = {**await self._auth(), "Idempotency-Key": key}
            resp = await self.http.post(f"{API}/commands", json={"command": text}, headers=headers)
        except httpx.ConnectError as exc:  # never reached the server
            return self.history.complete(op, "fail", error=f"connect: {exc}")
        except httpx.HTTPError as exc:
            self.unknown.append((key, text))
            return self.history.complete(op, "unknown", error=f"{type(exc).__name__}: {exc}")
        if resp.status_code == 202:
            cid = str(resp.json()["id"])
            if cid not in self.accepted:
                self.accepted.append(cid)
            return self.history.complete(
                op, "ok", command_id=cid, value={"key": key, "status": "accepted"}
            )
        if resp.status_code == 401:
            self._token = None
        if resp.status_code >= 500:
            self.unknown.append((key, text))
            return self.history.complete(op, "unknown", error=f"HTTP {resp.status_code}")
        return self.history.complete(
            op, "fail", error=f"HTTP {resp.status_code}: {resp.text[:200]}"
        )

    async def read(self, cid: str, f: OpFn = "read", process: int | None = None) -> Op:
        op, _status = await self._read_once(cid, f, process)
        return op

    async def _read_once(self, cid: str, f: OpFn, process: int | None) -> tuple[Op, int | None]:
        """One paced status read, recorded; also the HTTP status (None: no answer)."""
        process = process if process is not None else self._process()
        await self.pacer.wait()
        op = self.history.invoke(process, f, command_id=cid)
        try:
            resp = await self.http.get(f"{API}/commands/{cid}", headers=await self._auth())
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            return self.history.complete(op, "fail", error=error), None
        if resp.status_code == 404:
            return self.history.complete(op, "ok", value={"status": "not-found"}), 404
        if resp.status_code != 200:
            self._answered_badly(resp)
            error = f"HTTP {resp.status_code}"
            return self.history.complete(op, "fail", error=error), resp.status_code
        self.pacer.answered()
        body = resp.json()
        value = {k: body.get(k) for k in ("status", "final", "alt_id", "last_id", "atlas_id")}
        return self.history.complete(op, "ok", value=value), 200

    def _answered_badly(self, resp: httpx.Response) -> None:
        if resp.status_code == 401:
            self._token = None  # expired: log in again on the next request
        elif resp.status_code == 429:
            self.pacer.throttled(parse_retry_after(resp.headers.get("Retry-After")))

    async def read_back(self, cids: list[str], f: OpFn, deadline: float, process: int) -> None:
        """Read every command once; then read again, after a back-off, those whose read failed
        transiently (429, 5xx, timeout, reset), pass after pass, until all are read or the
        deadline passes. Every attempt is in the history."""
        pending, attempt = cids, 0
        while pending:
            failed: list[str] = []
            delay = 0.0
            for cid in pending:
                if attempt and time.monotonic() >= deadline:
                    return  # a retry pass stops at the deadline; what is left is unread
                op, status = await self._read_once(cid, f, process)
                if op.type == "ok":
                    continue
                self._note_error(op.error or "?")
                wait = retry_delay(status, attempt + 1)
                if wait is not None:
                    failed.append(cid)
                    delay = max(delay, wait)
            attempt += 1
            if not failed or time.monotonic() + delay >= deadline:
                return
            self.readback["retries"] += len(failed)
            if delay:
                await asyncio.sleep(delay)  # back-off before the next pass, bounded by deadline
            pending = failed

    def _note_error(self, error: str) -> None:
        errors: dict[str, int] = self.readback["errors"]
        kind = error.split(":")[0]
        errors[kind] = errors.get(kind, 0) + 1

    # -- phases -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Offer submits at a fixed rate and read statuses until `stop` is set."""
        readers = [asyncio.create_task(self._reader(stop)) for _ in range(self.config.readers)]
        inflight: set[asyncio.Task[Op]] = set()
        interval = 1.0 / self.config.rate_per_s
        next_at = time.monotonic()
        n = 0
        while not stop.is_set():
            text = f"{self.rng.choice(PHRASES)} {self.token} #{n}"
            task = asyncio.create_task(self.submit(f"{self.token}-{n}", text))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            n += 1
            next_at += interval
            # Open loop: the next submit is due at a fixed time, however slow the last one was.
            delay = next_at - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
        if inflight:
            await asyncio.wait(inflight)
        await asyncio.gather(*readers)

    async def _reader(self, stop: asyncio.Event) -> None:
        process = self._process()
        while not stop.is_set():
            if self.accepted:
                await self.read(self.rng.choice(self.accepted[-50:]), process=process)
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.2)
            except TimeoutError:
                pass

    async def finish(self) -> None:
        """After the heal: resolve unknown submits, wait for every command, final reads, scan."""
        process = self._process()
        pending = list(dict.fromkeys(self.unknown))
        deadline = time.monotonic() + self.config.recovery_s
        while pending and time.monotonic() < deadline:
            key, text = pending.pop(0)
            await self.pacer.wait()
            done = await self.submit(key, text, process=process)
            if done.type != "ok":
                pending.append((key, text))
                await asyncio.sleep(0.5)  # sleep-ok: retry pause; bounded by deadline
        self.progress(
            f"waiting up to {self.config.recovery_s:.0f}s for {len(self.accepted)} commands"
        )
        waiting = set(self.accepted)
        while waiting and time.monotonic() < deadline:
            for cid in list(waiting):
                done = await self.read(cid, process=process)
                if done.type == "ok" and done.value and done.value.get("final"):
                    waiting.discard(cid)
            if waiting:
                await asyncio.sleep(0.5)  # sleep-ok: poll interval; bounded by deadline
        started = time.monotonic()
        self.progress(
            f"reading back {len(self.accepted)} commands"
            f" (paced at {self.pacer.rate_per_s:.0f}/s, retried for {self.config.readback_s:.0f}s)"
        )
        throttled_before = self.pacer.stats.throttled
        readback_deadline = started + self.config.readback_s
        await self.read_back(self.accepted, "final-read", readback_deadline, process)
        await self._wait_for_index(time.monotonic() + INDEX_LAG_S)
        # The scan gets retries of its own even when the read-back used its whole budget.
        await self.scan(process, max(readback_deadline, time.monotonic()) + INDEX_LAG_S)
        self.readback.update(
            commands=len(self.accepted),
            seconds=round(time.monotonic() - started, 1),
            throttled=self.pacer.stats.throttled - throttled_before,
            pacer=self.pacer.stats.to_json(),
        )

    async def _wait_for_index(self, deadline: float) -> None:
        """Search is eventually consistent (refreshed about every second, and caught up from
        PostgreSQL after an OpenSearch outage): give it until the deadline to show every
        command the final reads saw archived, so the scan judges the archive, not its lag."""
        archived = {
            o.command_id
            for o in self.history.ops
            if o.f == "final-read"
            and o.type == "ok"
            and o.value
            and o.value.get("status") == "archived"
        }
        while archived:
            try:
                found = set(await self._atlas_by_command())
            except httpx.HTTPError:
                found = set()
            if archived <= found:
                return
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(1.0)  # sleep-ok: index refresh; bounded by deadline

    async def _search_page(self, page: int, deadline: float) -> dict[str, Any]:
        """One page of this run's archive records, retried like a final read."""
        attempt = 0
        while True:
            await self.pacer.wait()
            status: int | None = None
            try:
                resp = await self.http.get(
                    f"{API}/archive/search",
                    params={"q": self.token, "size": 100, "page": page},
                    headers=await self._auth(),
                )
                status = resp.status_code
                if status == 200:
                    self.pacer.answered()
                    body: dict[str, Any] = resp.json()
                    return body
                self._answered_badly(resp)
                error: httpx.HTTPError = httpx.HTTPStatusError(
                    f"search page {page}: HTTP {status}", request=resp.request, response=resp
                )
            except httpx.HTTPError as exc:
                error = exc
            self._note_error(f"HTTP {status}" if status else type(error).__name__)
            attempt += 1
            delay = retry_delay(status, attempt)
            if delay is None or time.monotonic() + delay >= deadline:
                raise error
            self.readback["retries"] += 1
            if delay:
                await asyncio.sleep(delay)  # back-off before the retry, bounded by deadline

    async def _atlas_by_command(self, deadline: float | None = None) -> dict[str, list[str]]:
        """Every archive record of this run (found by its token): command id → atlas ids."""
        deadline = time.monotonic() if deadline is None else deadline
        atlas: dict[str, list[str]] = {}
        page = 1
        while True:
            body = await self._search_page(page, deadline)
            for item in body["items"]:
                atlas.setdefault(item["command_id"], []).append(item["id"])
            if page * 100 >= body["total"]:
                return atlas
            page += 1

    async def scan(self, process: int, deadline: float | None = None) -> None:
        op = self.history.invoke(process, "scan")
        try:
            atlas = await self._atlas_by_command(deadline)
        except httpx.HTTPError as exc:
            self.history.complete(op, "fail", error=f"scan: {type(exc).__name__}: {exc}")
            return
        by_key: dict[str, list[str]] = {}
        for o in self.history.ops:
            if o.f == "submit" and o.type == "ok" and o.value and o.command_id:
                ids = by_key.setdefault(str(o.value["key"]), [])
                if o.command_id not in ids:
                    ids.append(o.command_id)
        self.history.complete(
            op, "ok", value={"atlas_by_command": atlas, "commands_by_key": by_key}
        )
