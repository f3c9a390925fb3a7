"""Chaos Toolkit activities of the disaster-recovery experiment: take a base backup, destroy
PostgreSQL's data directory under the running pipeline, restore the latest archived state into
a new directory, and judge the workload through the restore.

The recovery point (RPO) is measured as the time from the destruction back to the last
commit the restore replayed; the recovery time (RTO) from the destruction to PostgreSQL
accepting writes again, and to the whole stack being healthy. Both are written to
`<state>/chaos/<name>.recovery.json` and printed in the journal.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from chaoslib.exceptions import ActivityFailed

from harness.backup import ops
from harness.chaos._runtime import run, run_dir, settings, workload_verdict
from harness.checkers.recovery import judge_restore
from harness.faults import process as process_faults
from harness.history.model import read_jsonl
from harness.polling import poll_until
from harness.stack.health import check_stack
from harness.stack.state import load_state

__all__ = ["destroy_postgres_data", "recovery_verdict", "restore_latest", "take_backup"]


def take_backup() -> dict[str, Any]:
    """A verified base backup of the stack's PostgreSQL, into its object store."""
    result = run(ops.take_backup(settings()))
    return {"backup": result.info.id, "mb": round(result.info.data_bytes / 1e6, 1)}


def destroy_postgres_data(name: str) -> dict[str, Any]:
    """SIGKILL PostgreSQL and delete its whole data directory (pg_wal included): the disk is
    gone. What was not archived yet is lost; the experiment measures how much."""
    srv = ops.server(settings())

    async def _archive_timeout() -> str:
        conn = await asyncpg.connect(srv.url, timeout=10)
        try:
            return str(await conn.fetchval("SHOW archive_timeout"))
        finally:
            await conn.close()

    archive_timeout = run(_archive_timeout())
    run(process_faults.kill(settings(), "postgres", "SIGKILL"))
    destroyed = time.time()
    shutil.rmtree(srv.data_dir)
    (run_dir() / f"{name}.destroyed.json").write_text(
        json.dumps({"wall": destroyed, "archive_timeout": archive_timeout})
    )
    return {"destroyed": str(srv.data_dir), "archive_timeout": archive_timeout}


def restore_latest(name: str, healthy_within_s: float = 180) -> dict[str, Any]:
    """`harness db restore --to latest` onto the destroyed stack; then wait for the whole
    stack to be healthy. Records the recovery point and times for `recovery_verdict`."""
    s = settings()
    destroyed = json.loads((run_dir() / f"{name}.destroyed.json").read_text())["wall"]
    result = run(ops.restore(s, None))
    promoted = time.time()

    async def _healthy() -> bool:
        return all(h.healthy for h in await check_stack(load_state(s)))

    run(poll_until(_healthy, float(healthy_within_s), "the stack to be healthy after the restore"))
    healthy = time.time()
    reached = datetime.fromisoformat(result.reached).timestamp() if result.reached else None
    figures = {
        "backup": result.backup,
        "reached": result.reached,
        "rpo_s": round(destroyed - reached, 2) if reached is not None else None,
        "rto_postgres_s": round(promoted - destroyed, 2),
        "rto_stack_s": round(healthy - destroyed, 2),
        "restore": result.timings,
    }
    (run_dir() / f"{name}.restore.json").write_text(
        json.dumps({**figures, "reached_wall": reached})
    )
    return figures


def _history_time(folder: Path, name: str, wall: float) -> float:
    clock = json.loads((folder / f"{name}.clock.json").read_text())
    return float(wall - clock["wall"] + clock["mono"] - clock["start"])


def recovery_verdict(
    name: str,
    rpo_slack_s: float = 10,
    min_settled: int = 5,
    min_coverage: float = 0.8,
    timeout_s: float = 600,
) -> bool:
    """Holds before the workload ran. After: every command archived before the recovery point
    is still archived, once (the checker on those alone finds nothing); at least
    `min_settled` of them, and `min_coverage` of those accepted 5 s or more before the
    point, were there to judge; and the RPO is within archive_timeout + `rpo_slack_s`."""
    if workload_verdict(name, float(timeout_s)) is None:
        return True
    folder = run_dir()
    restore = json.loads((folder / f"{name}.restore.json").read_text())
    destroyed = json.loads((folder / f"{name}.destroyed.json").read_text())
    if restore["reached_wall"] is None:
        raise ActivityFailed("the restore replayed no commit at all: nothing to judge")
    history = read_jsonl(folder / f"{name}.history.jsonl")
    judged = judge_restore(history, _history_time(folder, name, restore["reached_wall"]))
    timeout = _seconds(destroyed["archive_timeout"])
    bound = timeout + float(rpo_slack_s)
    report = {
        **judged.to_json(),
        "rpo_s": restore["rpo_s"],
        "rpo_bound_s": bound,
        "rto_postgres_s": restore["rto_postgres_s"],
        "rto_stack_s": restore["rto_stack_s"],
        "restore": restore["restore"],
    }
    (folder / f"{name}.recovery.json").write_text(json.dumps(report, indent=2, default=str))
    print(
        f"\nrecovery: RPO {restore['rpo_s']} s (bound {bound:.0f} s), RTO"
        f" {restore['rto_postgres_s']} s to PostgreSQL, {restore['rto_stack_s']} s to a healthy"
        f" stack; {judged}"
    )
    if judged.settled < int(min_settled):
        raise ActivityFailed(
            f"only {judged.settled} commands were archived before the recovery point (at least"
            f" {min_settled} needed): the restore could not be judged — run the workload longer"
            " before the fault"
        )
    if judged.coverage < float(min_coverage):
        raise ActivityFailed(
            f"only {judged.covered} of the {judged.eligible} commands accepted well before the"
            f" recovery point were read as archived by it (coverage {judged.coverage:.2f} <"
            f" {min_coverage}): too little to judge the restore by"
        )
    if not judged.valid:
        raise ActivityFailed(f"the restore lost what it had before its recovery point: {judged}")
    if restore["rpo_s"] is None or restore["rpo_s"] > bound:
        raise ActivityFailed(
            f"the recovery point is {restore['rpo_s']} s before the loss, over archive_timeout"
            f" {timeout:.0f} s + {rpo_slack_s} s: WAL archiving lagged"
        )
    return True


def _seconds(setting: str) -> float:
    """PostgreSQL's `SHOW archive_timeout` ("15s", "1min", "0") in seconds."""
    units = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}
    number = setting.rstrip("abcdefghijklmnopqrstuvwxyz")
    return float(number) * units.get(setting[len(number) :] or "s", 1)
