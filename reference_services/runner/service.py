"""The runner's work: alt.created → execute segments in dependency order → LAST → last.created.

Idempotent by ALT id: an ALT already executed is not run again; its stored LAST is republished
(with the same event id, so JetStream drops the duplicate inside its window).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from reference_services.common import topology, tracing
from reference_services.common.db import Database
from reference_services.common.errors import NotFound, PermanentError
from reference_services.common.events import derived_id, make_event, now_iso, publish_status
from reference_services.common.messaging import Messaging
from reference_services.common.schemas import validate
from reference_services.runner.executors import Executor
from reference_services.runner.planner import (
    CyclicDependencyError,
    UnknownDependencyError,
    blocked_by_failure,
    execution_layers,
    overall_status,
    success_rate,
)

log = logging.getLogger(__name__)
SOURCE = "altlas/runner"


async def execute_alt(
    alt: Mapping[str, Any], executor: Executor, max_parallel: int
) -> dict[str, Any]:
    """Run every segment of `alt` in dependency order and build the LAST document."""
    segments = list(alt["segments"])
    by_id = {s["id"]: s for s in segments}
    try:
        layers = execution_layers(segments)
    except (CyclicDependencyError, UnknownDependencyError) as exc:
        raise PermanentError(f"ALT {alt['id']} cannot be executed: {exc}") from exc
    started_at = now_iso()
    t0 = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    failed: set[str] = set()
    gate = asyncio.Semaphore(max_parallel)

    async def _run(seg_id: str) -> None:
        async with gate:
            s_start = now_iso()
            t = time.perf_counter()
            outcome = await executor.execute(by_id[seg_id])
            results[seg_id] = {
                "status": "completed" if outcome.ok else "failed",
                "started_at": s_start,
                "finished_at": now_iso(),
                "duration_ms": int((time.perf_counter() - t) * 1000),
                "output": outcome.output,
                "error": outcome.error,
            }
            if not outcome.ok:
                failed.add(seg_id)

    for layer in layers:
        blocked = blocked_by_failure(segments, failed)
        runnable = [sid for sid in layer if sid not in blocked]
        for sid in layer:
            if sid in blocked:
                failed_deps = sorted(set(by_id[sid]["dependencies"]) & (failed | blocked))
                results[sid] = {
                    "status": "skipped",
                    "started_at": None,
                    "finished_at": None,
                    "duration_ms": 0,
                    "output": None,
                    "error": f"skipped: dependency failed ({', '.join(failed_deps)})",
                }
        await asyncio.gather(*(_run(sid) for sid in runnable))

    statuses = {sid: r["status"] for sid, r in results.items()}
    rate = success_rate(statuses)
    last = {
        "schema_version": "1.0",
        "id": derived_id("last", alt["id"]),
        "alt_id": alt["id"],
        "command_id": alt["command_id"],
        "status": overall_status(rate, len(segments)),
        "success_rate": rate,
        "started_at": started_at,
        "finished_at": now_iso(),
        "duration_ms": int((time.perf_counter() - t0) * 1000),
        "task_results": {s["id"]: results[s["id"]] for s in segments},
        "execution_graph": {
            "nodes": [s["id"] for s in segments],
            "edges": [[dep, s["id"]] for s in segments for dep in s["dependencies"]],
        },
    }
    validate("last", last)
    return last


# Constants, so that tests/infra/test_query_plans.py runs the same text through EXPLAIN.
BY_ALT_SQL = "SELECT last FROM executions WHERE alt_id = $1"
BY_LAST_SQL = "SELECT last FROM executions WHERE last_id = $1"


class RunnerHandler:
    def __init__(
        self, messaging: Messaging, db: Database, executor: Executor, max_parallel: int
    ) -> None:
        self.messaging = messaging
        self.db = db
        self.executor = executor
        self.max_parallel = max_parallel

    async def __call__(self, envelope: dict[str, Any]) -> None:
        alt = envelope["data"]["alt"]
        stored = await self.db.pool.fetchval(BY_ALT_SQL, alt["id"])
        if stored is not None:
            log.info("ALT %s already executed; republishing its LAST", alt["id"])
            last = json.loads(stored)
        else:
            await self._status(envelope, "running", alt_id=alt["id"])
            try:
                with tracing.span(
                    "execute ALT", attributes={tracing.COMMAND_ID: alt["command_id"]}
                ):
                    last = await execute_alt(alt, self.executor, self.max_parallel)
            except PermanentError as exc:
                await self._status(envelope, "failed", alt_id=alt["id"], detail=str(exc))
                raise
            # A concurrent redelivery may have stored one first: keep the first, publish it.
            with tracing.db_span("postgres: insert execution", alt["command_id"]):
                await self.db.pool.execute(
                    "INSERT INTO executions (alt_id, last_id, command_id, last, alt)"
                    " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) ON CONFLICT (alt_id) DO NOTHING",
                    alt["id"],
                    last["id"],
                    alt["command_id"],
                    json.dumps(last),
                    json.dumps(alt),
                )
                last = json.loads(await self.db.pool.fetchval(BY_ALT_SQL, alt["id"]))
        event = make_event(
            "last.created",
            source=SOURCE,
            subject=alt["command_id"],
            correlation_id=envelope["correlation_id"],
            data={"last": last, "alt": alt},
            event_id=f"last.created:{last['id']}",
        )
        await self.messaging.publish(topology.SUBJECT_LAST_CREATED, event)
        final = "failed" if last["status"] == "failure" else "completed"
        await self._status(envelope, final, alt_id=alt["id"], last_id=last["id"])
        log.info("executed ALT %s: %s (%.2f)", alt["id"], last["status"], last["success_rate"])

    async def _status(
        self,
        envelope: dict[str, Any],
        status: str,
        *,
        alt_id: str,
        last_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        await publish_status(
            self.messaging, "runner", status, source=SOURCE, command_id=envelope["subject"],
            correlation_id=envelope["correlation_id"], alt_id=alt_id, last_id=last_id,
            detail=detail,
        )  # fmt: skip


async def get_execution(db: Database, last_id: str) -> dict[str, Any]:
    row = await db.pool.fetchval(BY_LAST_SQL, last_id)
    if row is None:
        raise NotFound("execution", last_id)
    result: dict[str, Any] = json.loads(row)
    return result
