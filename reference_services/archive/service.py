"""The archive's work: last.created → ATLAS record → PostgreSQL, then OpenSearch → atlas.created.

PostgreSQL is written first and is the truth. If OpenSearch is down the record is still stored
and acknowledged; the catch-up loop indexes every row whose indexed_version is behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from reference_services.archive.search import fence
from reference_services.archive.search.index import Placed, SearchIndex
from reference_services.archive.tags import derive_tags, summarize
from reference_services.common import topology, tracing
from reference_services.common.db import Database
from reference_services.common.errors import NotFound, TransientError
from reference_services.common.events import derived_id, make_event, now_iso, publish_status
from reference_services.common.logging import correlation_id_var
from reference_services.common.messaging import Messaging
from reference_services.common.schemas import validate

log = logging.getLogger(__name__)
SOURCE = "altlas/archive"
# Rows whose latest version is not in OpenSearch and was not refused by it for good.
UNINDEXED = "indexed_version < version AND rejected_version IS DISTINCT FROM version"
GET_SQL = "SELECT doc FROM atlas WHERE id = $1"


def rows_sql(where: str = UNINDEXED, limit: int = 200) -> str:
    """The indexing pass's read (tests/infra/test_query_plans.py EXPLAINs it at volume).
    `where` is trusted SQL from this module only; `limit` an int."""
    query = f"SELECT id, doc, version, index_name FROM atlas WHERE {where}"  # noqa: S608
    # FOR UPDATE: two passes never index one row at once, so an older version cannot land on
    # top of a newer one (a status change waits for the pass that holds its row, and the next
    # pass reads what it committed); SKIP LOCKED: a row another pass holds is that pass's.
    return f"{query} ORDER BY id LIMIT {int(limit)} FOR UPDATE SKIP LOCKED"


def build_atlas(last: dict[str, Any], alt: dict[str, Any]) -> dict[str, Any]:
    now = now_iso()
    atlas = {
        "schema_version": "1.0",
        "id": derived_id("atlas", last["id"]),
        "last_id": last["id"],
        "alt_id": alt["id"],
        "command_id": alt["command_id"],
        "command": alt["command"],
        "language": alt["language"],
        "success_rate": last["success_rate"],
        "status": "active",
        "tags": derive_tags((s["task_type"] for s in alt["segments"]), last["success_rate"]),
        "summary": summarize(
            alt["command"], len(alt["segments"]), last["status"], last["success_rate"]
        ),
        "created_at": now,
        "updated_at": now,
    }
    validate("atlas", atlas)
    return atlas


def _live(placement: str | None, live: frozenset[str]) -> str | None:
    """A row's placement if that index is still behind the read alias; else None (write alias)."""
    return placement if placement in live else None


class Archive:
    def __init__(self, db: Database, index: SearchIndex, messaging: Messaging) -> None:
        self.db = db
        self.index = index
        self.messaging = messaging

    async def handle_last_created(self, envelope: dict[str, Any]) -> None:
        last, alt = envelope["data"]["last"], envelope["data"]["alt"]
        atlas = build_atlas(last, alt)
        with tracing.db_span("postgres: insert atlas record", atlas["command_id"]):
            await self.db.pool.execute(
                "INSERT INTO atlas (id, last_id, alt_id, command_id, status, doc)"
                " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (last_id) DO NOTHING",
                atlas["id"],
                atlas["last_id"],
                atlas["alt_id"],
                atlas["command_id"],
                atlas["status"],
                json.dumps(atlas),
            )
            # On a replay, the stored record (with its first timestamps) is the one we announce.
            atlas = await self.get(atlas["id"])
        with tracing.db_span("opensearch: index atlas record", atlas["command_id"], "opensearch"):
            await self._try_index(atlas["id"])
        event = make_event(
            "atlas.created",
            source=SOURCE,
            subject=atlas["command_id"],
            correlation_id=envelope["correlation_id"],
            data={"atlas": atlas},
            event_id=f"atlas.created:{atlas['id']}",
        )
        await self.messaging.publish(topology.SUBJECT_ATLAS_CREATED, event)
        await publish_status(
            self.messaging, "archive", "archived", source=SOURCE,
            command_id=atlas["command_id"], correlation_id=envelope["correlation_id"],
            alt_id=atlas["alt_id"], last_id=atlas["last_id"], atlas_id=atlas["id"],
        )  # fmt: skip
        log.info("archived %s", atlas["id"])

    async def get(self, atlas_id: str) -> dict[str, Any]:
        row = await self.db.pool.fetchval(GET_SQL, atlas_id)
        if row is None:
            raise NotFound("atlas record", atlas_id)
        doc: dict[str, Any] = json.loads(row)
        return doc

    async def set_status(self, atlas_id: str, status: str) -> dict[str, Any]:
        row = await self.db.pool.fetchrow(
            "UPDATE atlas SET status = $2, version = version + 1, updated_at = now(),"
            " doc = jsonb_set(jsonb_set(doc, '{status}', to_jsonb($2::text)),"
            "   '{updated_at}', to_jsonb(to_char(now() AT TIME ZONE 'UTC',"
            '   \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')))'
            " WHERE id = $1 RETURNING doc, version",
            atlas_id,
            status,
        )
        if row is None:
            raise NotFound("atlas record", atlas_id)
        await self._try_index(atlas_id)
        doc: dict[str, Any] = json.loads(row["doc"])
        try:
            await self.announce(doc, int(row["version"]))
        except Exception as exc:
            # Committed: the change stands; the catch-up loop announces it (announced_version).
            log.warning("announcing the change of %s deferred to catch-up: %s", atlas_id, exc)
        return doc

    async def announce(self, doc: dict[str, Any], version: int) -> None:
        """Publish altlas.atlas.updated for one version of a record (its event id names the
        version, so a repeat is deduplicated by the broker), then record it as announced."""
        event = make_event(
            "atlas.updated",
            source=SOURCE,
            subject=doc["command_id"],
            correlation_id=(correlation_id_var.get() or f"atlas-change:{doc['id']}")[:200],
            data={"atlas": doc, "version": version},
            event_id=f"atlas.updated:{doc['id']}:{version}",
        )
        await self.messaging.publish(topology.SUBJECT_ATLAS_UPDATED, event)
        await self.db.pool.execute(
            "UPDATE atlas SET announced_version = GREATEST(announced_version, $2) WHERE id = $1",
            uuid.UUID(str(doc["id"])),
            version,
        )

    async def announce_pending(self, limit: int = 200) -> int:
        """Announce the changes whose announcement failed (announced_version behind)."""
        rows = await self.db.pool.fetch(
            "SELECT id, doc, version FROM atlas WHERE announced_version < version"
            " ORDER BY id LIMIT $1",
            limit,
        )
        for row in rows:
            # The row's own id, whatever its document says: the mark must land on this row.
            doc = {**json.loads(row["doc"]), "id": str(row["id"])}
            await self.announce(doc, int(row["version"]))
        return len(rows)

    async def _try_index(self, atlas_id: str) -> None:
        try:
            await self.index_rows(f"id = '{atlas_id}'::uuid")
        except TransientError as exc:
            log.warning("indexing %s deferred to catch-up: %s", atlas_id, exc)

    async def index_rows(self, where: str = UNINDEXED, limit: int = 200) -> int:
        """Index rows matching `where` (trusted SQL from this module) and record their versions
        and placements, all under the search-write fence (see search/fence.py). A row that
        OpenSearch refuses for good is marked rejected at its version (the catch-up skips it
        until it changes); one it cannot take now stays behind and is retried."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            if not await fence.try_shared(conn):
                raise TransientError("search writes paused: index maintenance holds the fence")
            rows = await conn.fetch(rows_sql(where, limit))
            if not rows:
                return 0
            layout = await self.index.layout()
            docs = [Placed(json.loads(r["doc"]), _live(r["index_name"], layout.read)) for r in rows]
            # A row without a live placement may still be in an index: written once by a pass
            # that died before recording where, or indexed before placements were kept. Write
            # it where it is, not to the write alias, or a rollover since leaves two copies.
            unplaced = [d.doc["id"] for d in docs if d.index is None]
            found = await self.index.locate(unplaced, layout) if unplaced else {}
            docs = [Placed(d.doc, d.index or found.get(d.doc["id"])) for d in docs]
            written = await self.index.index(docs)
            versions = {str(r["id"]): r["version"] for r in rows}
            await conn.executemany(
                "UPDATE atlas SET indexed_version = GREATEST(indexed_version, $2),"
                " index_name = $3 WHERE id = $1",
                [(uuid.UUID(i), versions[i], where_) for i, where_ in written.placed.items()],
            )
            if written.refused:
                await conn.executemany(
                    "UPDATE atlas SET rejected_version = $2, rejected_reason = $3 WHERE id = $1",
                    [(uuid.UUID(i), versions[i], why) for i, why in written.refused.items()],
                )
                for atlas_id, why in written.refused.items():
                    log.error("OpenSearch refused record %s for good: %s", atlas_id, why)
        if written.retry:
            raise TransientError(
                f"OpenSearch could not take {len(written.retry)} records now:"
                f" {next(iter(written.retry.values()))}"
            )
        return len(written.placed) + len(written.refused)

    async def catch_up_forever(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                while (n := await self.index_rows()) > 0:
                    log.info("catch-up indexed %d records", n)
            except Exception as exc:
                log.debug("catch-up pass failed: %s", exc)
            try:  # apart: announcements must not wait for OpenSearch
                while (n := await self.announce_pending()) > 0:
                    log.info("catch-up announced the changes of %d records", n)
            except Exception as exc:
                log.debug("catch-up announcements failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def backlog(self) -> int:
        value = await self.db.pool.fetchval(f"SELECT count(*) FROM atlas WHERE {UNINDEXED}")  # noqa: S608
        return int(value)
