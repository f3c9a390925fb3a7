"""A ledger workload for restore tests: numbered rows, one transaction each, with the commit
time PostgreSQL stamped on each — the ground truth a point-in-time restore is judged against.

The rows live in a database of their own (`harness_ledger`), never in a service's. Commit
times are read back as `pg_xact_commit_timestamp(xmin)` (the server runs with
track_commit_timestamp=on): the very timestamp in the WAL commit record that
`recovery_target_time` is compared with, so "committed at or before T" has one meaning.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import asyncpg

from harness.errors import HarnessError

DATABASE = "harness_ledger"
SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    n bigserial PRIMARY KEY,
    run text NOT NULL,
    payload text NOT NULL
)
"""


def ledger_url(server_url: str) -> str:
    return urlsplit(server_url)._replace(path=f"/{DATABASE}").geturl()


@dataclass(frozen=True)
class Entry:
    n: int
    committed_at: datetime  # PostgreSQL's commit timestamp
    acked_after_s: float  # client side: seconds from the run's start to the commit's return


async def prepare(server_url: str) -> None:
    """Create the ledger database and table when missing."""
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(ledger_url(server_url), timeout=10)
    try:
        if await conn.fetchval("SHOW track_commit_timestamp") != "on":
            raise HarnessError(
                "PostgreSQL runs without track_commit_timestamp:"
                " the ledger cannot read commit times"
            )
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


async def write(server_url: str, run: str, rows: int, pace_s: float = 0.01) -> list[Entry]:
    """Commit `rows` rows one transaction at a time, `pace_s` apart; return each with its
    commit timestamp. Every row returned was acknowledged as committed."""
    conn = await asyncpg.connect(ledger_url(server_url), timeout=10)
    acked: dict[int, float] = {}
    started = time.monotonic()
    try:
        for i in range(rows):
            n = await conn.fetchval(
                "INSERT INTO ledger (run, payload) VALUES ($1, $2) RETURNING n", run, f"row {i}"
            )
            acked[int(n)] = time.monotonic() - started
            await asyncio.sleep(pace_s)  # the spacing between commits, not a readiness wait
        stamped = await conn.fetch(
            "SELECT n, pg_xact_commit_timestamp(xmin) AS at FROM ledger WHERE run = $1 ORDER BY n",
            run,
        )
    finally:
        await conn.close()
    return [Entry(int(r["n"]), r["at"], acked[int(r["n"])]) for r in stamped if r["n"] in acked]


async def present(server_url: str, run: str) -> set[int]:
    """The row numbers of `run` a server has (e.g. a restored one)."""
    conn = await asyncpg.connect(ledger_url(server_url), timeout=10)
    try:
        rows = await conn.fetch("SELECT n FROM ledger WHERE run = $1", run)
    finally:
        await conn.close()
    return {int(r["n"]) for r in rows}


def differences(
    entries: list[Entry], found: set[int], cutoff: datetime | None
) -> dict[str, list[int]]:
    """What a restore to `cutoff` (None: everything) got wrong: rows committed by then and
    missing, and rows committed after it yet present."""
    expected = {e.n for e in entries if cutoff is None or e.committed_at <= cutoff}
    ours = {e.n for e in entries}
    return {
        "missing": sorted(expected - found),
        "extra": sorted((found & ours) - expected),
    }
