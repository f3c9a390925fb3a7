"""The outbox relay: publishes committed outbox rows to JetStream, then marks them published.

A crash between publish and mark republishes the row later with the same Nats-Msg-Id, which
JetStream deduplicates: nothing accepted is lost, nothing is delivered twice within the window.
Woken by NOTIFY on insert; polls as a fallback so a missed notification only costs latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import asyncpg

from reference_services.common import metrics
from reference_services.common.errors import TransientError
from reference_services.common.messaging import Messaging
from reference_services.common.tasks import supervised

log = logging.getLogger(__name__)


def _alive(conn: asyncpg.Connection) -> bool:
    # After a PostgreSQL restart the pool invalidates its proxies: asking one raises.
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


# How often the relay refreshes altlas_outbox_pending (one count on the partial index).
PENDING_EVERY_S = 5.0
# Constants, so that tests/infra/test_query_plans.py runs the same text through EXPLAIN.
POLL_SQL = (
    "SELECT id, subject, payload, traceparent FROM outbox WHERE published_at IS NULL"
    " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
)
MARK_SQL = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
PENDING_SQL = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
# Published rows past retention, a batch at a time (outbox_published index; short locks).
PRUNE_SQL = (
    "DELETE FROM outbox WHERE id = ANY(ARRAY(SELECT id FROM outbox WHERE published_at IS NOT NULL"
    " AND published_at < now() - make_interval(secs => $1) ORDER BY published_at LIMIT $2))"
)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        messaging: Messaging,
        *,
        poll_s: float,
        batch: int,
        retention_s: float = 86_400.0,
        prune_every_s: float = 600.0,
    ) -> None:
        self.pool = pool
        self.messaging = messaging
        self.poll_s = poll_s
        self.batch = batch
        # A published row only matters while JetStream's duplicate window could still see its
        # republish (two minutes); a day keeps it for inspection, then it is deleted.
        self.retention_s = retention_s
        self.prune_every_s = prune_every_s
        self._pruned_at = 0.0
        self._counted_at = 0.0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    def start(self) -> None:
        self._task = supervised("outbox-relay", self._run, self._stop)

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=10)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    async def _listen(self) -> None:
        if self._listener is not None and _alive(self._listener):
            return
        if self._listener is not None:
            # Its server went away (a PostgreSQL restart): give the slot back to the pool.
            with contextlib.suppress(Exception):
                await self.pool.release(self._listener, timeout=1)
            self._listener = None
        conn: asyncpg.Connection | None = None
        try:
            conn = await self.pool.acquire()
            await conn.add_listener("altlas_outbox", lambda *_: self._wake.set())
            self._listener = conn
        except Exception as exc:
            # LISTEN is refused while the server is a hot standby (e.g. replaying WAL after a
            # restore): give the connection back, or each pass leaks one until the pool is dry.
            if conn is not None:
                with contextlib.suppress(Exception):
                    await self.pool.release(conn, timeout=1)
            log.debug("LISTEN unavailable (%s); polling only", exc)

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self._listen()
            try:
                sent = await self.publish_pending()
            except Exception as exc:
                log.warning("outbox relay pass failed: %s", exc)
                sent = 0
            # Before the busy-loop `continue`: under sustained load every pass is a full
            # batch, and the prune must still run.
            if time.monotonic() - self._pruned_at >= self.prune_every_s:
                self._pruned_at = time.monotonic()
                try:
                    await self.prune()
                except Exception as exc:
                    log.warning("outbox prune failed (next in %.0f s): %s", self.prune_every_s, exc)
            if time.monotonic() - self._counted_at >= PENDING_EVERY_S:
                self._counted_at = time.monotonic()
                with contextlib.suppress(Exception):  # a metric, not the relay's work
                    metrics.OUTBOX_PENDING.set(await self.pending())
            if sent >= self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        published: list[int] = []
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(POLL_SQL, self.batch)
            for row in rows:
                try:
                    await self.messaging.publish(
                        row["subject"], json.loads(row["payload"]), traceparent=row["traceparent"]
                    )
                except TransientError as exc:
                    log.warning("outbox publish failed, will retry: %s", exc)
                    break
                published.append(row["id"])
            if published:
                await conn.execute(MARK_SQL, published)
        return len(published)

    async def prune(self, batch: int = 5000) -> int:
        """Delete published rows older than the retention, in batches; returns how many."""
        total = 0
        while True:
            status = await self.pool.execute(PRUNE_SQL, self.retention_s, batch)
            deleted = int(status.rsplit(" ", 1)[-1])
            total += deleted
            if deleted < batch:
                if total:
                    log.info("pruned %d published outbox rows", total)
                return total

    async def pending(self) -> int:
        return int(await self.pool.fetchval(PENDING_SQL))
