"""Records planted straight into the archive's PostgreSQL, for the data suites and benchmarks.

A migration or a backup is judged on volume (20,000 records and more); the pipeline makes about
twenty a second, so the suites put generated records (harness.workload.corpus) into the `atlas`
table with COPY and let the archive's catch-up index them, as it would after an outage. Only for a
deployment whose database the harness may write: the local reference stack.
"""

from __future__ import annotations

import json
import uuid

import asyncpg

from harness.workload.corpus import Record

COLUMNS = ("id", "last_id", "alt_id", "command_id", "status", "doc")


def archive_dsn(postgres_url: str) -> str:
    """The archive's database on the server of the stack's PostgreSQL endpoint."""
    return f"{postgres_url.rsplit('/', 1)[0]}/archive"


async def plant(dsn: str, records: list[Record]) -> int:
    """COPY the records into `atlas` (version 1, not yet indexed); returns how many."""
    rows = [
        (
            uuid.UUID(r.doc["id"]),
            uuid.UUID(r.doc["last_id"]),
            uuid.UUID(r.doc["alt_id"]),
            uuid.UUID(r.doc["command_id"]),
            r.doc["status"],
            json.dumps(r.doc, ensure_ascii=False),
        )
        for r in records
    ]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("atlas", records=rows, columns=COLUMNS)
    finally:
        await conn.close()
    return len(rows)


async def count(dsn: str, query: str) -> int:
    """One `SELECT count(*) …` on its own connection."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def backlog(dsn: str) -> int:
    """Rows the archive has not indexed yet (behind their version, not refused)."""
    return await count(
        dsn,
        "SELECT count(*) FROM atlas WHERE indexed_version < version"
        " AND rejected_version IS DISTINCT FROM version",
    )


async def migration_copied(dsn: str) -> int:
    """Rows the archive's migration in progress (state `backfilling`) recorded as copied."""
    return await count(
        dsn,
        "SELECT count(*) FROM search_migration_rows r JOIN search_migrations m"
        " ON m.target = r.target WHERE m.state = 'backfilling'",
    )
