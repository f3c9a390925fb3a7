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

from harness.history.model import History, Op
from harness.stack.state import StackState

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


@dataclass
class Workload:
    stack: StackState
    config: WorkloadConfig
    history: History = field(default_factory=History)
    token: str = field(default_factory=lambda: "wl" + secrets.token_hex(4))
    accepted: list[str] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (key, text) to resolve
    progress: Callable[[str], None] = lambda _msg: None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.http = httpx.AsyncClient(
            base_url=self.stack.endpoints["gateway"],
            timeout=self.config.request_timeout_s,
            limits=httpx.Limits(max_connections=64),
        )
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

    async def read(self, cid: str, f: str = "read", process: int | None = None) -> Op:
        process = process if process is not None else self._process()
        op = self.history.invoke(process, f, command_id=cid)  # type: ignore[arg-type]
        try:
            resp = await self.http.get(f"{API}/commands/{cid}", headers=await self._auth())
        except httpx.HTTPError as exc:
            return self.history.complete(op, "fail", error=f"{type(exc).__name__}: {exc}")
        if resp.status_code == 404:
            return self.history.complete(op, "ok", value={"status": "not-found"})
        if resp.status_code != 200:
            if resp.status_code == 401:
                self._token = None
            return self.history.complete(op, "fail", error=f"HTTP {resp.status_code}")
        body = resp.json()
        value = {k: body.get(k) for k in ("status", "final", "alt_id", "last_id", "atlas_id")}
        return self.history.complete(op, "ok", value=value)

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
            done = await self.submit(key, text, process=process)
            if done.type != "ok":
                pending.append((key, text))
                await asyncio.sleep(0.5)  # the gateway is still recovering; bounded by deadline
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
                await asyncio.sleep(0.5)  # polling the system under test, bounded by deadline
        for cid in self.accepted:
            await self.read(cid, f="final-read", process=process)
        await self._wait_for_index(time.monotonic() + INDEX_LAG_S)
        await self.scan(process)

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
            await asyncio.sleep(1.0)  # the index refresh interval; bounded by the deadline

    async def _atlas_by_command(self) -> dict[str, list[str]]:
        """Every archive record of this run (found by its token): command id → atlas ids."""
        atlas: dict[str, list[str]] = {}
        page = 1
        while True:
            resp = await self.http.get(
                f"{API}/archive/search",
                params={"q": self.token, "size": 100, "page": page},
                headers=await self._auth(),
            )
            resp.raise_for_status()
            body: dict[str, Any] = resp.json()
            for item in body["items"]:
                atlas.setdefault(item["command_id"], []).append(item["id"])
            if page * 100 >= body["total"]:
                return atlas
            page += 1

    async def scan(self, process: int) -> None:
        op = self.history.invoke(process, "scan")
        try:
            atlas = await self._atlas_by_command()
        except httpx.HTTPError as exc:
            self.history.complete(op, "fail", error=f"scan: {exc}")
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
