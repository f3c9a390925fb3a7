"""Zero-downtime migration of the archive's search index to a new version, from PostgreSQL.

    plan      the read alias's indices (version N) → a new index <prefix>-v<N+1>-000001 built
              from the design files (design.py); nothing to do when the live index already has
              the files' design (unless forced)
    backfill  every row of `atlas` into the new index with `_bulk` (batches, concurrent), while
              the archive keeps writing to the old one; each copied row's version is recorded in
              `search_migration_rows`, which is also the checkpoint: a run killed at any point
              resumes where the table says, and a copy is never taken twice at the same version
    catch up  rows whose version moved since they were copied (or that are new) — the record
              above makes this exact, with no clock or watermark to trust
    swap      under the search-write fence (fence.py, exclusive: no indexing pass is in flight):
              one last catch-up, one atomic `_aliases` request moving the read and write aliases
              to the new index, and the placements of the copied rows moved to it in the same
              PostgreSQL transaction. Searches answer throughout; indexing waits a moment and
              the archive's catch-up takes whatever arrived meanwhile.
    verify    verify.py, at the end of every run

A row OpenSearch refuses (a mapping error) goes to the reject file with the reason, is recorded as
rejected, and makes the run exit 3. The old indices are kept: `rollback` moves the aliases back
and marks what changed since the swap for the archive's catch-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import asyncpg
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from reference_services.archive.search import fence
from reference_services.archive.search.index import Placed, SearchIndex, Written
from reference_services.common.db import Database
from reference_services.common.errors import SchemaViolation, ServiceError, TransientError
from reference_services.common.schemas import validate

log = logging.getLogger(__name__)

# pg_try_advisory_lock key: one migration at a time ("altmig" in ASCII).
MIGRATION_KEY = 0x616C746D6967


class MigrationError(ServiceError):
    """The migration cannot go on; the message says why and what to do."""


class BadOption(ValueError):
    """An option out of its range (a usage error: exit 2)."""


@dataclass(frozen=True)
class Options:
    batch_size: int = 500
    concurrency: int = 2
    max_rate: float | None = None  # documents per second, None = as fast as it goes
    dry_run: bool = False
    force: bool = False
    reject_file: Path = Path("reports/migrate/rejects.jsonl")
    # "bar" (a terminal), "lines" (a log: one line every few seconds) or "off".
    progress: str = "bar"
    fence_timeout_s: float = 30.0
    # Tries of one _bulk that OpenSearch answers "not now" (back-off 0.5 s doubling to 15 s).
    retries: int = 8

    def checked(self) -> Options:
        if not 1 <= self.batch_size <= 10_000:
            raise BadOption(f"--batch-size must be 1..10000, not {self.batch_size}")
        if not 1 <= self.concurrency <= 16:
            raise BadOption(f"--concurrency must be 1..16, not {self.concurrency}")
        if self.max_rate is not None and self.max_rate <= 0:
            raise BadOption(f"--max-rate must be positive, not {self.max_rate}")
        if not 0 <= self.retries <= 100:
            raise BadOption(f"--retries must be 0..100, not {self.retries}")
        return self


@dataclass
class Outcome:
    target: str | None
    state: str  # up-to-date | planned | done | resumed-done
    rows: int = 0
    copied: int = 0
    caught_up: int = 0
    rejected: int = 0
    seconds: float = 0.0
    docs_per_s: float = 0.0
    plan: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Rate:
    """Holds a loop to `per_s` documents a second (None: no limit)."""

    def __init__(self, per_s: float | None) -> None:
        self.per_s = per_s
        self.start = time.monotonic()
        self.done = 0

    async def take(self, n: int) -> None:
        self.done += n
        if self.per_s is None:
            return
        ahead = self.done / self.per_s - (time.monotonic() - self.start)
        if ahead > 0:
            await asyncio.sleep(ahead)  # pacing: the rate the operator asked for


class Migration:
    def __init__(self, db: Database, index: SearchIndex, options: Options, out: TextIO) -> None:
        self.db = db
        self.index = index
        self.options = options.checked()
        self.out = out
        self._rejects: TextIO | None = None

    # --- entry points -----------------------------------------------------------------

    async def run(self) -> Outcome:
        async with self._exclusive_run():
            await self.index.prepare()
            current = await self._in_progress()
            if current is None:
                plan = await self._plan()
                if plan["up_to_date"] and not self.options.force:
                    self._say(
                        f"{self.index.names.read} is up to date (design {self.index.design.digest}"
                        f" in {', '.join(plan['source'])}): nothing to migrate (--force makes a"
                        " new version anyway)"
                    )
                    return Outcome(None, "up-to-date", rows=plan["rows"], plan=plan)
                if self.options.dry_run:
                    return await self._dry_run(plan)
                target = await self._start(plan)
                resumed = False
            else:
                target, resumed = current, True
                self._say(f"resuming the migration to {target}")
                if self.options.dry_run:
                    plan = await self._plan()
                    plan["resuming"] = target
                    return await self._dry_run(plan)
            return await self._finish(target, resumed)

    async def rollback(self) -> dict[str, Any]:
        """Move the aliases back to the indices the last finished migration started from."""
        async with self._exclusive_run():
            row = await self.db.pool.fetchrow(
                "SELECT target, source, source_write FROM search_migrations"
                " WHERE state = 'done' ORDER BY swapped_at DESC LIMIT 1"
            )
            if row is None:
                raise MigrationError("no finished migration to roll back")
            target, source, source_write = row["target"], list(row["source"]), row["source_write"]
            if source_write is None:
                raise MigrationError(f"the migration to {target} recorded no write index")
            missing = [i for i in source if not await self.index.client.indices.exists(index=i)]
            if missing:
                raise MigrationError(f"cannot roll back: {', '.join(missing)} no longer exist")
            async with self.db.pool.acquire() as conn, conn.transaction():
                await fence.exclusive(conn, self.options.fence_timeout_s)
                layout = await self.index.layout()  # under the fence: no rollover meanwhile
                await self._point_aliases(layout.read, source, source_write)
                # What the old indices hold is as of the swap at best (a row changed just
                # before it, or born or changed since, is not there as it is now), so every
                # row goes back to the catch-up: to where the migration found it if that
                # index is live again, else to wherever the catch-up finds it (or the write
                # alias). A reject of the new mapping says nothing of the old one: cleared.
                restored = await conn.execute(
                    "UPDATE atlas a SET indexed_version = 0, rejected_version = NULL,"
                    " rejected_reason = NULL, index_name = (SELECT m.source_index"
                    "   FROM search_migration_rows m WHERE m.target = $1 AND m.id = a.id"
                    "   AND m.source_index = ANY($2::text[]))",
                    target,
                    source,
                )
                await conn.execute(
                    "UPDATE search_migrations SET state = 'rolled_back', finished_at = now()"
                    " WHERE target = $1",
                    target,
                )
        self._say(f"rolled back: aliases on {', '.join(source)} again ({target} kept)")
        return {
            "from": target,
            "to": source,
            "reindexed": _count(restored),
        }

    async def cleanup(self, keep: int = 1) -> list[str]:
        """Delete the indices no alias serves and no rollback needs: everything of ours but the
        live indices, the sources of the last `keep` finished migrations, and a migration's
        target still being filled."""
        if keep < 0:
            raise BadOption(f"--keep must be 0 or more, not {keep}")
        async with (
            self._exclusive_run(),
            self.db.pool.acquire() as conn,
            conn.transaction(),
        ):
            # Under the fence: no rollover can add an index between the two reads below.
            await fence.exclusive(conn, self.options.fence_timeout_s)
            rows = await conn.fetch(
                "SELECT target, source, state FROM search_migrations ORDER BY started_at DESC"
            )
            protected = set((await self.index.layout()).read)
            for row in [r for r in rows if r["state"] == "done"][:keep]:
                protected |= set(row["source"])
            protected |= {r["target"] for r in rows if r["state"] == "backfilling"}
            pattern = f"{self.index.names.prefix}-v*"
            existing = await self.index.client.indices.get(
                index=pattern, params={"expand_wildcards": "all"}
            )
            doomed = sorted(
                i for i in existing if self.index.names.parse(i) is not None and i not in protected
            )
            for name in doomed:
                await self.index.delete_index(name)
                self._say(f"deleted {name}")
        return doomed

    # --- plan ---------------------------------------------------------------------------

    async def _plan(self) -> dict[str, Any]:
        layout = await self.index.layout()
        if not layout.read or layout.write is None:
            raise MigrationError(
                f"{self.index.names.read} / {self.index.names.write} point at no index"
            )
        versions = [self.index.names.parse(i) for i in layout.read]
        if any(v is None for v in versions):
            raise MigrationError(f"{self.index.names.read} holds indices not named by this tool")
        recorded = await self.db.pool.fetchval("SELECT max(version) FROM search_migrations")
        version = max([v[0] for v in versions if v is not None] + [recorded or 0]) + 1
        counts = await self.index.counts()
        rows = int(await self.db.pool.fetchval("SELECT count(*) FROM atlas"))
        return {
            "source": sorted(layout.read),
            "source_write": layout.write,
            "source_docs": sum(c["docs"] for c in counts.values()),
            "target": self.index.names.index(version),
            "version": version,
            "design": self.index.design.digest,
            "up_to_date": all(c["design"] == self.index.design.digest for c in counts.values()),
            "rows": rows,
            "batch_size": self.options.batch_size,
            "concurrency": self.options.concurrency,
        }

    async def _dry_run(self, plan: dict[str, Any]) -> Outcome:
        """The plan, and every row checked against the ATLAS schema (OpenSearch may refuse
        more: its mapping is stricter than the schema about dates)."""
        invalid: list[dict[str, Any]] = []
        async with self.db.pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor("SELECT id, doc FROM atlas ORDER BY id"):
                try:
                    validate("atlas", json.loads(row["doc"]))
                except SchemaViolation as exc:
                    invalid.append({"id": str(row["id"]), "reason": str(exc)})
        plan["invalid"] = invalid[:100]
        plan["invalid_count"] = len(invalid)
        into = plan.get("resuming") or plan["target"]
        self._say(
            f"dry run: {plan['rows']} rows from PostgreSQL into {into}"
            f" (now {', '.join(plan['source'])}: {plan['source_docs']} documents);"
            f" batches of {plan['batch_size']}, {plan['concurrency']} at a time;"
            f" {len(invalid)} rows fail the ATLAS schema and would be rejected"
        )
        return Outcome(plan["target"], "planned", rows=plan["rows"], plan=plan)

    # --- run ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _exclusive_run(self) -> AsyncIterator[None]:
        async with self.db.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_KEY):
                raise MigrationError("another migration is running (it holds the migration lock)")
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_KEY)

    async def _in_progress(self) -> str | None:
        target = await self.db.pool.fetchval(
            "SELECT target FROM search_migrations WHERE state = 'backfilling'"
        )
        return None if target is None else str(target)

    async def _start(self, plan: dict[str, Any]) -> str:
        target = str(plan["target"])
        await self.db.pool.execute(
            "INSERT INTO search_migrations (target, version, design, source, source_write, state)"
            " VALUES ($1, $2, $3, $4, $5, 'backfilling')",
            target,
            plan["version"],
            plan["design"],
            plan["source"],
            plan["source_write"],
        )
        self._say(f"migrating {plan['rows']} rows into {target} (from {', '.join(plan['source'])})")
        return target

    async def _create_target(self, target: str, version: int) -> None:
        client = self.index.client
        if await client.indices.exists(index=target):
            return
        # Gone (or never made): whatever was recorded as copied into it is not there.
        await self.db.pool.execute("DELETE FROM search_migration_rows WHERE target = $1", target)
        await self.index.put_template(version)
        # Backfill settings: no refresh while bulk loading; restored before the swap.
        await client.indices.create(index=target, body={"settings": {"refresh_interval": "-1"}})

    async def _finish(self, target: str, resumed: bool) -> Outcome:
        version = int(
            await self.db.pool.fetchval(
                "SELECT version FROM search_migrations WHERE target = $1", target
            )
        )
        await self._create_target(target, version)
        started = time.monotonic()
        outcome = Outcome(target, "resumed-done" if resumed else "done")
        outcome.rows = int(await self.db.pool.fetchval("SELECT count(*) FROM atlas"))
        try:
            outcome.copied = await self._backfill(target, outcome.rows)
            # What changed during the backfill, caught up without the fence while it is
            # large, so that the fenced pass at the swap (indexing waits for it) is short.
            for _ in range(5):
                async with self.db.pool.acquire() as conn:
                    moved = await self._catch_up(conn, target)
                outcome.caught_up += moved
                if moved < self.options.batch_size:
                    break
            outcome.caught_up += await self._swap(target)
        finally:
            if self._rejects is not None:
                self._rejects.close()
                self._rejects = None
        outcome.seconds = round(time.monotonic() - started, 3)
        moved = outcome.copied + outcome.caught_up
        outcome.docs_per_s = round(moved / outcome.seconds, 1) if outcome.seconds else 0.0
        outcome.rejected = int(
            await self.db.pool.fetchval(
                "SELECT count(*) FROM search_migration_rows WHERE target = $1"
                " AND rejected IS NOT NULL",
                target,
            )
        )
        self._say(
            f"{target} serves {self.index.names.read} now: {outcome.copied} rows copied,"
            f" {outcome.caught_up} caught up at the swap, {outcome.rejected} rejected"
            + (f" (see {self.options.reject_file})" if outcome.rejected else "")
            + f"; {outcome.docs_per_s} docs/s over {outcome.seconds} s"
        )
        return outcome

    async def _pending(
        self, conn: asyncpg.Connection, target: str, after: uuid.UUID | None, limit: int
    ) -> list[asyncpg.Record]:
        """Rows not in the target at their current version (and not rejected at it), by id."""
        return list(
            await conn.fetch(
                "SELECT a.id, a.doc, a.version, a.index_name FROM atlas a"
                " LEFT JOIN search_migration_rows m ON m.target = $1 AND m.id = a.id"
                " WHERE m.version IS DISTINCT FROM a.version AND ($2::uuid IS NULL OR a.id > $2)"
                " ORDER BY a.id LIMIT $3",
                target,
                after,
                limit,
            )
        )

    async def _copy(self, conn: asyncpg.Connection, target: str, rows: Sequence[Any]) -> int:
        """One batch into the target; records what it copied or why it was refused."""
        docs, bad = [], []
        for row in rows:
            try:
                docs.append(Placed(json.loads(row["doc"]), target))
            except (ValueError, TypeError) as exc:
                bad.append((row, f"the stored document is not JSON: {exc}"))
        written = await self._bulk(docs) if docs else None
        refused = dict(written.refused) if written is not None else {}
        by_id = {str(r["id"]): r for r in rows}
        for row, reason in bad:
            refused[str(row["id"])] = reason
        for atlas_id, reason in refused.items():
            self._reject(by_id[atlas_id], reason)
        await conn.executemany(
            "INSERT INTO search_migration_rows (target, id, version, source_index, rejected)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target, id) DO UPDATE SET"
            " version = EXCLUDED.version, rejected = EXCLUDED.rejected,"
            " source_index = EXCLUDED.source_index",
            [
                (target, r["id"], r["version"], r["index_name"], refused.get(str(r["id"])))
                for r in rows
            ],
        )
        return len(rows)

    async def _bulk(self, docs: list[Placed]) -> Written:
        """One `_bulk`, retried with back-off while OpenSearch says not now (429 — its circuit
        breakers —, 5xx, an outage): a migration of hours must not die of one busy moment.
        Only the documents not yet taken are sent again."""
        placed: dict[str, str] = {}
        refused: dict[str, str] = {}
        pending = list(docs)
        delay, tries = 0.5, 0
        while True:
            try:
                written = await self.index.index(pending)
            except TransientError as exc:
                problem = str(exc)
            else:
                placed.update(written.placed)
                refused.update(written.refused)
                if not written.retry:
                    return Written(placed, refused, {})
                pending = [d for d in pending if d.doc["id"] in written.retry]
                problem = f"{len(pending)} documents: {next(iter(written.retry.values()))}"
            tries += 1
            if tries > self.options.retries:
                raise TransientError(f"OpenSearch kept refusing after {tries} tries: {problem}")
            log.warning("bulk write failed (try %d, again in %.1f s): %s", tries, delay, problem)
            self._say(f"OpenSearch busy ({problem[:200]}); retrying in {delay:.1f} s")
            await asyncio.sleep(delay)  # back-off between retries
            delay = min(delay * 2, 15.0)

    async def _backfill(self, target: str, total: int) -> int:
        already = int(
            await self.db.pool.fetchval(
                "SELECT count(*) FROM search_migration_rows WHERE target = $1", target
            )
        )
        batches: asyncio.Queue[list[asyncpg.Record] | None] = asyncio.Queue(
            maxsize=self.options.concurrency * 2
        )
        rate = _Rate(self.options.max_rate)
        copied = 0
        with self._progress(total, already) as advance:

            async def produce() -> None:
                after: uuid.UUID | None = None
                async with self.db.pool.acquire() as conn:
                    while True:
                        rows = await self._pending(conn, target, after, self.options.batch_size)
                        if not rows:
                            break
                        after = rows[-1]["id"]
                        await batches.put(rows)
                for _ in range(self.options.concurrency):
                    await batches.put(None)

            async def consume() -> None:
                nonlocal copied
                while (rows := await batches.get()) is not None:
                    # A connection per batch: workers never starve the producer of the pool.
                    async with self.db.pool.acquire() as conn:
                        n = await self._copy(conn, target, rows)
                    copied += n
                    advance(n)
                    await rate.take(n)

            workers = [asyncio.create_task(consume()) for _ in range(self.options.concurrency)]
            producer = asyncio.create_task(produce())
            try:
                await asyncio.gather(producer, *workers)
            except BaseException:
                for task in (producer, *workers):
                    task.cancel()
                await asyncio.gather(producer, *workers, return_exceptions=True)
                raise
        return copied

    async def _swap(self, target: str) -> int:
        async with self.db.pool.acquire() as conn, conn.transaction():
            await fence.exclusive(conn, self.options.fence_timeout_s)
            caught_up = await self._catch_up(conn, target)
            # Rows deleted from PostgreSQL after they were copied leave the target too.
            gone = [
                str(r["id"])
                for r in await conn.fetch(
                    "SELECT m.id FROM search_migration_rows m LEFT JOIN atlas a ON a.id = m.id"
                    " WHERE m.target = $1 AND a.id IS NULL",
                    target,
                )
            ]
            client = self.index.client
            if gone:
                await client.delete_by_query(
                    index=target,
                    body={"query": {"ids": {"values": gone}}},
                    params={"conflicts": "proceed"},
                )
                await conn.execute(
                    "DELETE FROM search_migration_rows WHERE target = $1 AND id = ANY($2::uuid[])",
                    target,
                    gone,
                )
            await client.indices.put_settings(
                index=target, body={"index": {"refresh_interval": "1s"}}
            )
            await client.indices.refresh(index=target)
            layout = await self.index.layout()
            # The layout the swap leaves: what a rollback returns to (a rollover during the
            # backfill added indices the plan did not know).
            before = sorted(layout.read - {target})
            if before and layout.write not in (None, target):  # not when resuming a swap
                await conn.execute(
                    "UPDATE search_migrations SET source = $2, source_write = $3 WHERE target = $1",
                    target,
                    before,
                    layout.write,
                )
            await self._point_aliases(layout.read, [target], target)
            await conn.execute(
                "UPDATE atlas a SET index_name = $1 FROM search_migration_rows m"
                " WHERE m.target = $1 AND m.id = a.id AND m.rejected IS NULL",
                target,
            )
            await conn.execute(
                "UPDATE search_migrations SET state = 'done', swapped_at = now(),"
                " finished_at = now() WHERE target = $1",
                target,
            )
        return caught_up

    async def _catch_up(self, conn: asyncpg.Connection, target: str) -> int:
        """Copy every row not in the target at its current version; returns how many."""
        moved, after = 0, None
        while rows := await self._pending(conn, target, after, self.options.batch_size):
            after = rows[-1]["id"]
            moved += await self._copy(conn, target, rows)
        return moved

    async def _point_aliases(
        self, current: frozenset[str], indices: Sequence[str], write: str
    ) -> None:
        """One `_aliases` request: the read alias on `indices`, the write alias on `write`."""
        names = self.index.names
        actions: list[dict[str, Any]] = [
            {"remove": {"index": i, "alias": names.read}} for i in sorted(current - set(indices))
        ]
        for index in indices:
            actions.append({"add": {"index": index, "alias": names.read}})
        layout = await self.index.layout()
        if layout.write is not None and layout.write != write:
            actions.append({"remove": {"index": layout.write, "alias": names.write}})
        actions.append({"add": {"index": write, "alias": names.write, "is_write_index": True}})
        await self.index.client.indices.update_aliases(body={"actions": actions})

    # --- output -------------------------------------------------------------------------

    def _reject(self, row: Any, reason: str) -> None:
        if self._rejects is None:
            self.options.reject_file.parent.mkdir(parents=True, exist_ok=True)
            self._rejects = self.options.reject_file.open("a", encoding="utf-8")
        entry = {"id": str(row["id"]), "version": row["version"], "reason": reason}
        entry["doc"] = row["doc"]
        self._rejects.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._rejects.flush()
        log.warning("rejected %s: %s", row["id"], reason)

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @contextlib.contextmanager
    def _progress(self, total: int, already: int) -> Any:
        if self.options.progress == "off":
            yield lambda n: None
            return
        if self.options.progress == "lines":
            started, last, done = time.monotonic(), time.monotonic(), already

            def line(n: int) -> None:
                nonlocal last, done
                done += n
                now = time.monotonic()
                if now - last >= 5 or done >= total:
                    last = now
                    rate = (done - already) / max(now - started, 1e-9)
                    eta = (total - done) / rate if rate > 0 else float("inf")
                    self._say(f"backfill {done}/{total}: {rate:,.0f} docs/s, ETA {eta:,.0f} s")

            yield line
            return
        columns = (
            TextColumn("backfill"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} docs/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        started = time.monotonic()
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task("backfill", total=max(total, already), completed=already, rate="-")
            done = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                elapsed = time.monotonic() - started
                rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "-"
                bar.update(task, advance=n, rate=rate)

            yield advance


def _count(status: str) -> int:
    """The row count of an asyncpg command status ('UPDATE 42')."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0
