"""`harness db slow-queries`: a statement slower than the threshold is reported with its
database, its calls and its time (from pg_stat_statements, or the local server's log)."""

from __future__ import annotations

import asyncio
import json
import sys

import asyncpg
import pytest

from harness.stack.state import StackState
from harness.workload.seed import archive_dsn


async def test_a_slow_statement_is_reported(stack: StackState) -> None:
    if "postgres" not in stack.endpoints:
        pytest.skip("the deployment's PostgreSQL is not known: set HARNESS_POSTGRES_URL")
    conn = await asyncpg.connect(archive_dsn(stack.endpoints["postgres"]))
    try:
        await conn.execute("SELECT pg_sleep(0.08)")  # the slow statement this test looks for
    finally:
        await conn.close()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "harness.cli", "db", "slow-queries", "--json"],
        *["--database", "archive"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    if process.returncode == 2 and b"no pg_stat_statements" in err and stack.target != "local":
        pytest.skip(f"this deployment's PostgreSQL cannot report slow queries: {err.decode()}")
    assert process.returncode == 0, f"harness db slow-queries failed: {err.decode()}"
    report = json.loads(out)
    sleeps = [s for s in report["statements"] if s["query"] == "SELECT pg_sleep(?)"]
    assert sleeps and sleeps[0]["max_ms"] >= 80 and sleeps[0]["database"] == "archive", (
        f"expected SELECT pg_sleep(?) in archive at 80 ms or more ({report['source']}),"
        f" found {report['statements'][:5]}"
    )
