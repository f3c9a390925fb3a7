"""Chaos Toolkit activities of the data experiments: plant records, run the reference archive's
migration in the background, finish it (resuming it if a fault killed it), and a probe that the
search index holds exactly what PostgreSQL holds (`altlas-archive migrate verify`).

The migration runs as a process of its own (`python -m reference_services.archive migrate run`):
a fault injected meanwhile meets it as it would in production, and `finish_migration` judges what
it did — finished by itself (OpenSearch's outage was ridden out by its retries), or failed and
resumed by a second run.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from typing import Any

from chaoslib.exceptions import ActivityFailed

from harness.chaos._runtime import run, run_dir, settings
from harness.polling import poll_until
from harness.stack.state import load_state
from harness.workload.archive_tool import ArchiveTool
from harness.workload.corpus import records
from harness.workload.seed import backlog, migration_copied, plant

__all__ = [
    "finish_migration",
    "index_matches_database",
    "plant_records",
    "rebuild_index",
    "start_migration",
]

_MIGRATION: dict[str, Any] = {}


def _tool() -> ArchiveTool:
    s = settings()
    return ArchiveTool.of(load_state(s), s.index_alias)


def plant_records(count: int = 20_000, timeout_s: float = 180) -> dict[str, Any]:
    """Put `count` generated records into the archive's PostgreSQL; wait until indexed."""
    count, timeout_s = int(count), float(timeout_s)
    tool = _tool()

    async def _plant() -> float:
        started = time.monotonic()
        await plant(tool.dsn, records(count, seed=secrets.randbits(32)))

        async def indexed() -> bool:
            return await backlog(tool.dsn) == 0

        await poll_until(indexed, timeout_s, f"the archive to index {count} planted records")
        return time.monotonic() - started

    return {"planted": count, "indexed_in_s": round(run(_plant()), 1)}


def start_migration(
    max_rate: float = 2000, batch_size: int = 500, retries: int = 8, timeout_s: float = 120
) -> dict[str, Any]:
    """Start `migrate run --force` (a new index version) in the background, paced to
    `max_rate` documents a second so that a fault lands in the middle of the backfill;
    `retries` bounds how long it rides out OpenSearch refusing (8: about a minute). Returns
    once the backfill has copied its first rows: a fault injected next meets a migration in
    progress, not one still starting (on a busy machine the process takes seconds to start,
    and a fault that lands before it records its run tests nothing)."""
    tool = _tool()
    log = run_dir() / "migration.log"
    args = ["migrate", "run", "--force", "--no-verify", "--json", "--no-progress"]
    args += ["--max-rate", str(float(max_rate)), "--batch-size", str(int(batch_size))]
    args += ["--retries", str(int(retries))]
    out = log.open("w")
    process = subprocess.Popen(
        tool.command(*args), env={**os.environ, **tool.env}, stdout=subprocess.PIPE, stderr=out
    )
    _MIGRATION.update(process=process, log=log, started=time.monotonic())

    async def copied() -> int:  # -1: the process is gone
        return -1 if process.poll() is not None else await migration_copied(tool.dsn)

    try:
        first = run(
            poll_until(
                copied,
                float(timeout_s),
                "the migration's backfill to begin",
                accept=lambda n: n != 0,
            )
        )
    except BaseException:
        process.kill()
        process.wait()
        raise
    if first < 0:
        raise ActivityFailed(
            f"the migration exited {process.returncode} before its backfill began:"
            f" {log.read_text()[-1000:]}"
        )
    return {"pid": process.pid, "log": str(log), "copied_when_returned": first}


def finish_migration(timeout_s: float = 300) -> dict[str, Any]:
    """Wait for the background migration; if it failed, run it again (it resumes from what it
    recorded) — the experiment fails if that second run does not finish cleanly."""
    process: subprocess.Popen[bytes] | None = _MIGRATION.get("process")
    if process is None:
        raise ActivityFailed("no migration was started in this run (start_migration first)")
    try:
        out, _ = process.communicate(timeout=float(timeout_s))
    except subprocess.TimeoutExpired:
        process.kill()
        raise ActivityFailed(f"the migration ran over {timeout_s} s") from None
    first = process.returncode
    result: dict[str, Any] = {
        "first_exit": first,
        "first_s": round(time.monotonic() - _MIGRATION["started"], 1),
    }
    if first == 0:
        result["outcome"] = json.loads(out)
        return result
    rc, stdout, stderr = run(
        _tool().run(
            "migrate", "run", "--json", "--no-verify", "--no-progress", timeout=float(timeout_s)
        )
    )
    if rc != 0:
        raise ActivityFailed(f"the resumed migration exited {rc}: {stderr[-1000:]}")
    result["resumed"] = json.loads(stdout)
    if result["resumed"]["state"] != "resumed-done":
        raise ActivityFailed(
            f"expected the second run to resume the first, got {result['resumed']}"
        )
    return result


def index_matches_database(settle_s: float = 20) -> bool:
    """`migrate verify`: every row of PostgreSQL is in the index, once, as stored (known
    rejects aside); fails with the figures otherwise."""
    rc, stdout, stderr = run(
        _tool().run("migrate", "verify", "--json", "--settle", str(float(settle_s)))
    )
    if rc not in (0, 3):
        try:
            report = json.loads(stdout)
            detail = (
                f"{report['differences']} differences: missing {report['missing'][:5]},"
                f" extra {report['extra'][:5]}, differ {report['mismatched'][:5]},"
                f" twice {list(report['duplicated'])[:5]}"
            )
        except (ValueError, KeyError):
            detail = stderr[-1000:]
        raise ActivityFailed(f"the index does not hold what PostgreSQL holds: {detail}")
    return True


def rebuild_index(timeout_s: float = 600) -> dict[str, Any]:
    """After PostgreSQL was restored to an earlier point, the search index (derived data) holds
    records the database no longer has: build a new index version from the database
    (`migrate run --force`: backfill, catch-up, verify, swap), then drop the old versions."""
    tool = _tool()
    rc, stdout, stderr = run(
        tool.run("migrate", "run", "--force", "--json", "--no-progress", timeout=float(timeout_s))
    )
    if rc != 0:
        raise ActivityFailed(f"rebuilding the index from PostgreSQL exited {rc}: {stderr[-1000:]}")
    outcome: dict[str, Any] = json.loads(stdout)
    rc, _, stderr = run(tool.run("migrate", "cleanup", "--keep", "0"))
    if rc != 0:
        raise ActivityFailed(f"migrate cleanup exited {rc}: {stderr[-1000:]}")
    return outcome
