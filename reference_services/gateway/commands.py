"""Commands in PostgreSQL: accept (command + outbox row in one transaction), read, project.

Status only moves forward along accepted → segmented → running → completed|failed → archived,
so events arriving late or twice never move a command backwards.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from reference_services.common import topology, tracing
from reference_services.common.errors import NotFound, ServiceError
from reference_services.common.events import make_event, now_iso
from reference_services.common.schemas import status_rank

# The pure idempotency decisions live apart so they can be tested without PostgreSQL; the
# names stay importable from here (the app catches commands.IdempotencyConflict).
from reference_services.gateway.idempotency import IdempotencyConflict as IdempotencyConflict
from reference_services.gateway.idempotency import check_same as _check_same
from reference_services.gateway.idempotency import request_hash as request_hash

SOURCE = "altlas/gateway"
# The status order is the schema's (x-altlas-status-order), here and in the SQL built from it.
STATUS_RANK = status_rank()
_RANK_SQL = (
    "CASE {col} "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    + " END"
)
_NEW, _OLD = _RANK_SQL.format(col="$2"), _RANK_SQL.format(col="status")
# The statements below are module constants so that tests/infra/test_query_plans.py runs the
# same text through EXPLAIN at volume. Built once; every value is a $n parameter.
BY_KEY_SQL = "SELECT * FROM commands WHERE username = $1 AND idempotency_key = $2"
BY_ID_SQL = "SELECT * FROM commands WHERE id = $1"
DOCUMENT_SQL = "SELECT doc FROM command_documents WHERE command_id = $1 AND kind = $2"
# $7: the document kind the new status stands for ('alt', 'last', 'atlas'), when the event
# names it without carrying it (a status.changed): the status moves only once that document is
# stored, so a reader that sees `archived` can always read the ATLAS (docs/messaging.md,
# "Ordering"). NULL: the event carries its document, stored in the same transaction.
ADVANCE_SQL = (
    "UPDATE commands SET"  # noqa: S608
    f" status = CASE WHEN {_NEW} > {_OLD} AND ($7::text IS NULL OR EXISTS ("
    "   SELECT 1 FROM command_documents d WHERE d.command_id = $1 AND d.kind = $7))"
    "   THEN $2 ELSE status END,"
    f" status_detail = CASE WHEN {_NEW} >= {_OLD} THEN COALESCE($6, status_detail)"
    "   ELSE status_detail END,"
    " alt_id = COALESCE(alt_id, $3), last_id = COALESCE(last_id, $4),"
    " atlas_id = COALESCE(atlas_id, $5), updated_at = now()"
    " WHERE id = $1 RETURNING id"
)


def submitted_event(
    command_id: str, body: dict[str, Any], *, username: str, correlation_id: str
) -> dict[str, Any]:
    """The command.submitted envelope of an accepted command: what the outbox relay publishes.

    Pure (no I/O), so that contract verification runs exactly this code to produce the message.
    """
    return make_event(
        "command.submitted",
        source=SOURCE,
        subject=command_id,
        correlation_id=correlation_id,
        data={
            "command_id": command_id,
            "command": body["command"],
            "mode": body["mode"],
            "chaos_level": body.get("chaos_level"),
            "persona": body.get("persona"),
            "language": body.get("language"),
            "metadata": body.get("metadata") or {},
            "submitted_by": username,
            "submitted_at": now_iso(),
        },
        event_id=f"command.submitted:{command_id}",
    )


async def accept(
    pool: asyncpg.Pool,
    *,
    username: str,
    body: dict[str, Any],
    idempotency_key: str | None,
    correlation_id: str,
) -> tuple[dict[str, Any], bool]:
    """Store a new command and its outbox event; returns (row, created)."""
    digest = request_hash(body)
    if idempotency_key is not None:
        existing = await _by_key(pool, username, idempotency_key)
        if existing is not None:
            return _check_same(existing, digest), False
    command_id = str(uuid.uuid4())
    event = submitted_event(command_id, body, username=username, correlation_id=correlation_id)
    tracing.tag_command(command_id)
    parent = tracing.traceparent()  # the request's: the relay's publish continues it
    with tracing.db_span("postgres: insert command and outbox row", command_id):
        return await _insert(
            pool, command_id, event, username, body, idempotency_key, digest, parent
        )


async def _insert(
    pool: asyncpg.Pool,
    command_id: str,
    event: dict[str, Any],
    username: str,
    body: dict[str, Any],
    idempotency_key: str | None,
    digest: str,
    traceparent: str | None,
) -> tuple[dict[str, Any], bool]:
    async with pool.acquire() as conn, conn.transaction():
        try:
            row = await conn.fetchrow(
                "INSERT INTO commands (id, username, command, mode, chaos_level, persona, language,"
                " metadata, idempotency_key, request_hash)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10) RETURNING *",
                command_id,
                username,
                body["command"],
                body["mode"],
                body.get("chaos_level"),
                body.get("persona"),
                body.get("language"),
                json.dumps(body.get("metadata") or {}),
                idempotency_key,
                digest,
            )
        except asyncpg.UniqueViolationError:
            row = None
        if row is not None:
            await conn.execute(
                "INSERT INTO outbox (event_id, subject, payload, traceparent)"
                " VALUES ($1, $2, $3::jsonb, $4)",
                event["id"],
                topology.SUBJECT_COMMAND_SUBMITTED,
                json.dumps(event),
                traceparent,
            )
            await conn.execute("NOTIFY altlas_outbox")
            return dict(row), True
    # Lost a race with a concurrent request carrying the same key.
    existing = await _by_key(pool, username, idempotency_key or "")
    if existing is None:
        raise ServiceError("idempotent insert conflicted but no command was found")
    return _check_same(existing, digest), False


async def _by_key(pool: asyncpg.Pool, username: str, key: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(BY_KEY_SQL, username, key)
    return dict(row) if row is not None else None


async def get(pool: asyncpg.Pool, command_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(BY_ID_SQL, command_id)
    if row is None:
        raise NotFound("command", command_id)
    return dict(row)


async def get_document(pool: asyncpg.Pool, command_id: str, kind: str) -> dict[str, Any] | None:
    raw = await pool.fetchval(DOCUMENT_SQL, command_id, kind)
    return json.loads(raw) if raw is not None else None


async def advance(
    pool: asyncpg.Pool,
    command_id: str,
    status: str,
    *,
    alt_id: str | None = None,
    last_id: str | None = None,
    atlas_id: str | None = None,
    detail: str | None = None,
    document: tuple[str, dict[str, Any]] | None = None,
    after_document: str | None = None,
) -> bool:
    """Move a command forward (never back); store a document. With `after_document` (a kind),
    the status moves only if that document is already stored (ids and detail are kept either
    way). False if the command is unknown."""
    if status not in STATUS_RANK:
        raise ValueError(f"unknown status {status!r}")
    async with pool.acquire() as conn, conn.transaction():
        updated = await conn.fetchval(
            ADVANCE_SQL,
            command_id,
            status,
            alt_id,
            last_id,
            atlas_id,
            detail,
            after_document,
        )
        if updated is None:
            return False
        if document is not None:
            kind, doc = document
            await conn.execute(
                "INSERT INTO command_documents (command_id, kind, doc) VALUES ($1, $2, $3::jsonb)"
                " ON CONFLICT (command_id, kind) DO NOTHING",
                command_id,
                kind,
                json.dumps(doc),
            )
    return True
