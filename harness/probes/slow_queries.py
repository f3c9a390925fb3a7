"""`harness db slow-queries`: the statements that took longest, per database.

From `pg_stat_statements` when the server has it; otherwise — the local stack's PostgreSQL 16
comes from the pgserver wheel, which ships no contrib modules — from the server's own log, where
the local stack has every statement slower than `log_min_duration_statement` (20 ms) written with
its duration and database (`log_line_prefix=%m [%p] %d`). Statements are grouped by their text
with literals replaced by `?` (the services send `$n` parameters already), and ranked by total
time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from harness.errors import HarnessError

_ENTRY = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+) \[(?P<pid>\d+)\] (?P<db>\S*) ?"
    r"(?P<level>[A-Z]+):  (?P<msg>.*)$"
)
_DURATION = re.compile(
    r"^duration: (?P<ms>[0-9.]+) ms  (?:statement|execute [^:]*): (?P<sql>.*)$", re.S
)
_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![$\w])\d+(?:\.\d+)?\b")


@dataclass
class Statement:
    database: str
    query: str
    durations_ms: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.durations_ms)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        return {
            "database": self.database,
            "calls": len(ordered),
            "total_ms": round(sum(ordered), 3),
            "mean_ms": round(sum(ordered) / len(ordered), 3),
            "p95_ms": round(p95, 3),
            "max_ms": round(ordered[-1], 3),
            "query": self.query,
        }


def normalize(sql: str) -> str:
    return _LITERAL.sub("?", " ".join(sql.split()))


def _entries(lines: Iterable[str]) -> Iterable[tuple[str, str, str]]:
    """(database, level, message) per log entry; continuation lines join their entry."""
    current: list[str] | None = None
    for line in lines:
        m = _ENTRY.match(line.rstrip("\n"))
        if m:
            if current is not None:
                yield current[0], current[1], current[2]
            current = [m["db"], m["level"], m["msg"]]
        elif current is not None:
            current[2] += "\n" + line.rstrip("\n")
    if current is not None:
        yield current[0], current[1], current[2]


def from_log(lines: Iterable[str]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], Statement] = {}
    for database, level, message in _entries(lines):
        if level != "LOG":
            continue
        m = _DURATION.match(message)
        if m is None:
            continue
        key = (database or "?", normalize(m["sql"]))
        groups.setdefault(key, Statement(*key)).durations_ms.append(float(m["ms"]))
    return sorted((g.to_json() for g in groups.values()), key=lambda s: -s["total_ms"])


async def from_pg_stat_statements(url: str) -> list[dict[str, Any]] | None:
    """The server's own statistics, or None when pg_stat_statements is not installed."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        if not await conn.fetchval(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ):
            return None
        rows = await conn.fetch(
            "SELECT d.datname, s.calls, s.total_exec_time, s.mean_exec_time, s.max_exec_time,"
            " s.query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
            " ORDER BY s.total_exec_time DESC LIMIT 200"
        )
    finally:
        await conn.close()
    return [
        {
            "database": r["datname"],
            "calls": int(r["calls"]),
            "total_ms": round(float(r["total_exec_time"]), 3),
            "mean_ms": round(float(r["mean_exec_time"]), 3),
            "p95_ms": None,
            "max_ms": round(float(r["max_exec_time"]), 3),
            "query": normalize(r["query"]),
        }
        for r in rows
    ]


async def slow_queries(
    postgres_url: str | None, log: Path | None
) -> tuple[str, list[dict[str, Any]]]:
    """(source, statements): pg_stat_statements if the server has it, else the local log."""
    if postgres_url:
        try:
            found = await from_pg_stat_statements(postgres_url)
        except (OSError, asyncpg.PostgresError) as exc:
            raise HarnessError(f"cannot ask PostgreSQL for pg_stat_statements: {exc}") from exc
        if found is not None:
            return "pg_stat_statements", found
    if log is None or not log.exists():
        raise HarnessError(
            "PostgreSQL has no pg_stat_statements and its log is not on this machine: install"
            " the extension (shared_preload_libraries=pg_stat_statements) on that server"
        )
    with log.open(encoding="utf-8", errors="replace") as lines:
        return f"log {log}", from_log(lines)
