"""Health of every component of a stack, checked through its endpoints only."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from harness.infra import objectstore, oidc, vault
from harness.infra._process import pid_alive
from harness.stack.state import COMPONENTS, StackState


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    endpoint: str | None
    healthy: bool
    detail: str
    pid: int | None = None
    latency_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "healthy": self.healthy,
            "detail": self.detail,
            "pid": self.pid,
            "latency_ms": self.latency_ms,
        }


ARCHIVER_SQL = """
SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,
       last_failed_time, now() AS now,
       (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS waiting
FROM pg_stat_archiver
"""


def archiver_verdict(row: dict[str, Any]) -> tuple[bool, str]:
    """Healthy unless the last archiving attempt failed; the detail says how far it got.

    A failed segment is not lost: PostgreSQL keeps it in pg_wal (`waiting`) and retries it
    until the archive command succeeds — but until then a lost data directory would lose it.
    """
    now = row["now"]
    waiting = int(row["waiting"])
    last_ok, last_failed = row["last_archived_time"], row["last_failed_time"]
    done = (
        f"last {row['last_archived_wal']} {(now - last_ok).total_seconds():.0f}s ago"
        if last_ok is not None
        else "nothing archived yet"
    )
    if last_failed is not None and (last_ok is None or last_failed > last_ok):
        return False, (
            f"FAILING: {row['last_failed_wal']} not archived "
            f"({row['failed_count']} failures, the last {(now - last_failed).total_seconds():.0f}s"
            f" ago); {waiting} segment(s) kept in pg_wal and retried; {done}"
        )
    return True, f"{row['archived_count']} segments archived, {done}, {waiting} waiting"


async def _archiver(url: str) -> tuple[bool, str]:
    conn = await asyncpg.connect(url, timeout=3)
    try:
        row = await conn.fetchrow(ARCHIVER_SQL)
    finally:
        await conn.close()
    if row is None:  # pg_stat_archiver always has its one row
        return False, "pg_stat_archiver returned nothing"
    return archiver_verdict(dict(row))


async def _check(name: str, url: str, state: StackState) -> tuple[bool, str]:
    if name == "wal-archive":
        return await _archiver(url)
    if name == "objectstore":
        return (True, "health 200") if await objectstore.healthy(url) else (False, "unhealthy")
    if name == "vault":
        ok = await vault.healthy(url)
        return ok, "unsealed, active" if ok else "sealed, standby or down"
    if name == "oidc":
        ok = await oidc.discoverable(url)
        return ok, "discovery document served" if ok else "no discovery document"
    if name == "postgres":
        conn = await asyncpg.connect(url, timeout=3)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
        return True, "accepts connections"
    async with httpx.AsyncClient(timeout=3) as client:
        if name.startswith("nats-"):
            # A cluster's node: healthy once it is routed, has a meta leader and caught up.
            record = state.processes.get(name)
            monitor = record.extra.get("monitor_url") if record else None
            if monitor is None:
                return False, "no monitoring endpoint recorded"
            resp = await client.get(f"{monitor}/healthz")
            detail = "current" if resp.status_code == 200 else resp.text.strip()[:120]
            return resp.status_code == 200, f"JetStream {detail}"
        if name == "nats":
            record = state.processes.get("nats")
            monitor = record.extra.get("monitor_url") if record else None
            nodes = [r for n, r in state.processes.items() if n.startswith("nats-")]
            if record is None and nodes:
                # The cluster serves while a majority of its nodes is current.
                current = 0
                for node in nodes:
                    with contextlib.suppress(httpx.HTTPError):
                        node_resp = await client.get(f"{node.extra.get('monitor_url')}/healthz")
                        current += node_resp.status_code == 200
                quorum = current > len(nodes) // 2
                return quorum, f"{current} of {len(nodes)} nodes current"
            if monitor is None:
                host_port = url.split("://", 1)[-1]
                host, _, port = host_port.rpartition(":")
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 3)
                writer.close()
                return True, "port open"
            resp = await client.get(f"{monitor}/healthz?js-enabled-only=true")
            return resp.status_code == 200, f"JetStream healthz {resp.status_code}"
        if name == "toxiproxy":
            resp = await client.get(f"{url}/proxies")
            disabled = [n for n, p in resp.json().items() if not p["enabled"]]
            detail = f"{len(resp.json())} proxies" + (f", disabled: {disabled}" if disabled else "")
            return resp.status_code == 200, detail
        if name == "opensearch":
            resp = await client.get(f"{url}/_cluster/health")
            status = resp.json().get("status", "?") if resp.status_code == 200 else resp.status_code
            return status in ("green", "yellow"), f"cluster {status}"
        resp = await client.get(f"{url}/readyz")
        checks = (
            resp.json().get("checks", {})
            if resp.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        failing = [k for k, v in checks.items() if not v]
        detail = (
            "ready"
            if resp.status_code == 200
            else f"not ready ({', '.join(failing) or resp.status_code})"
        )
        return resp.status_code == 200, detail


async def check_stack(state: StackState) -> list[ComponentHealth]:
    async def one(name: str) -> ComponentHealth:
        url = state.endpoints.get(name)
        if name == "wal-archive":  # PostgreSQL's archiver, read from PostgreSQL
            url = state.endpoints.get("postgres")
        record = state.processes.get(name)
        pid = record.pid if record else None
        if url is None:
            return ComponentHealth(name, None, False, "no endpoint known", pid)
        if record is not None and not pid_alive(record.pid):
            return ComponentHealth(name, url, False, f"process {record.pid} is not running", pid)
        started = time.perf_counter()
        try:
            ok, detail = await _check(name, url, state)
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}".strip()
        latency = round((time.perf_counter() - started) * 1000, 1)
        return ComponentHealth(name, url, ok, detail, pid, latency)

    names = [n for n in COMPONENTS if n in state.endpoints or n in state.processes]
    names += sorted(n for n in state.processes if n.startswith("nats-"))
    if "objectstore" in state.endpoints and "postgres" in state.endpoints:
        names.append("wal-archive")
    return list(await asyncio.gather(*(one(n) for n in names)))
