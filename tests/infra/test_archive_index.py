"""The archive's index code in process, on a real PostgreSQL 16 and a real OpenSearch 2.19:
placements across a rollover, the fence, refused rows, retention, the migration (run, resume,
verify, rollback, cleanup, dry run), and the statistics views.

scenarios/data drives the same code as the deployed tools do, out of process, against the whole
stack; this module is its fast twin, where a failure points at a line.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio

from harness.infra.opensearch import OpenSearchServer
from harness.infra.postgres import PostgresServer
from reference_services.archive import stats
from reference_services.archive.app import MIGRATIONS
from reference_services.archive.search import fence, lifecycle, migrate, verify
from reference_services.archive.search.index import SearchIndex
from reference_services.archive.service import Archive
from reference_services.archive.settings import ArchiveSettings
from reference_services.common.db import Database
from reference_services.common.errors import TransientError
from reference_services.common.messaging import Messaging

# One worker runs the whole module, in order (make test: --dist loadfile): its tests build on one
# another's indexes (rollover, then migration, then retention) on one module-scoped pair of engines.
pytestmark = pytest.mark.slow


@dataclass
class Engines:
    db: Database
    index: SearchIndex
    archive: Archive
    broker: Announcements


class Announcements:
    """Stands in for NATS: keeps what the archive publishes, or refuses it while `away`."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.away = False

    async def publish(self, subject: str, envelope: dict[str, Any], **_: Any) -> None:
        if self.away:
            raise TransientError(f"publish to {subject} failed: NATS is away")
        self.events.append((subject, envelope))


def _doc(n: int, created: str = "2026-11-20T10:00:00.000Z") -> dict[str, Any]:
    atlas_id = str(uuid.UUID(int=n))
    return {
        "schema_version": "1.0",
        "id": atlas_id,
        "last_id": str(uuid.UUID(int=10**9 + n)),
        "alt_id": str(uuid.UUID(int=2 * 10**9 + n)),
        "command_id": str(uuid.UUID(int=3 * 10**9 + n)),
        "command": f"İstanbul raporunu hazırla {n}",
        "language": "tr" if n % 3 else "en",
        "success_rate": 1.0,
        "status": "active",
        "tags": ["search", "success:high"],
        "summary": f'"İstanbul raporunu hazırla {n}" ran as 1 segment: success, 100.0% completed.',
        "created_at": created,
        "updated_at": created,
    }


async def _plant(db: Database, docs: list[dict[str, Any]]) -> None:
    async with db.pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO atlas (id, last_id, alt_id, command_id, status, doc, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::timestamptz)",
            [
                (
                    uuid.UUID(d["id"]),
                    uuid.UUID(d["last_id"]),
                    uuid.UUID(d["alt_id"]),
                    uuid.UUID(d["command_id"]),
                    d["status"],
                    json.dumps(d),
                    datetime.fromisoformat(d["created_at"].replace("Z", "+00:00")),
                )
                for d in docs
            ],
        )


async def _catch_up(archive: Archive) -> int:
    total = 0
    while (n := await archive.index_rows()) > 0:
        total += n
    await archive.index.refresh()
    return total


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def engines(
    tmp_path_factory: pytest.TempPathFactory, opensearch_home: Path
) -> AsyncIterator[Engines]:
    root = tmp_path_factory.mktemp("archive-index")
    pg = PostgresServer(root / "pg", root / "postgres.log")
    node = OpenSearchServer(opensearch_home, root / "os", root / "opensearch.log")
    await asyncio.gather(pg.start(), node.start())
    try:
        await pg.create_databases("archive")
        settings = ArchiveSettings(
            database_url=pg.url("archive"), opensearch_url=node.url, index_prefix="t-atlas"
        )
        db = Database(settings, MIGRATIONS)
        await db.connect()
        index = SearchIndex(node.url, "t-atlas", 10.0)
        broker = Announcements()
        archive = Archive(db, index, cast(Messaging, broker))
        try:
            yield Engines(db, index, archive, broker)
        finally:
            await index.close()
            await db.close()
    finally:
        await asyncio.gather(pg.stop(), node.stop())


async def _holders(index: SearchIndex, doc_id: str) -> list[str]:
    resp = await index.client.search(
        index=index.names.read, body={"query": {"ids": {"values": [doc_id]}}}
    )
    return [h["_index"] for h in resp["hits"]["hits"]]


async def test_placements_survive_a_rollover_and_nothing_is_held_twice(engines: Engines) -> None:
    await _plant(engines.db, [_doc(n) for n in range(1, 121)])
    assert await _catch_up(engines.archive) == 120
    first = engines.index.names.index(1)
    passed = await lifecycle.run_once(
        engines.index, engines.db, lifecycle.Policy(max_docs=100).checked()
    )
    assert passed.rolled_over == (first, engines.index.names.index(1, 2)), passed
    second = passed.rolled_over[1]
    # A change to an old record goes where the record is, not to the new write index.
    await engines.archive.set_status(str(uuid.UUID(int=5)), "archived")
    await _plant(engines.db, [_doc(n) for n in range(121, 131)])
    await _catch_up(engines.archive)
    assert await _holders(engines.index, str(uuid.UUID(int=5))) == [first]
    assert await _holders(engines.index, str(uuid.UUID(int=125))) == [second]
    again = await lifecycle.run_once(
        engines.index, engines.db, lifecycle.Policy(max_docs=100).checked()
    )
    assert again.rolled_over is None, "ten documents in the new index are below the threshold"


async def test_a_record_indexed_without_its_placement_is_found_not_copied(
    engines: Engines,
) -> None:
    """A pass that died after its bulk write and before its commit left no placement; after a
    rollover, the next pass must find the record where it is instead of writing a second copy
    through the write alias."""
    layout = await engines.index.layout()
    old = next(iter(sorted(layout.read - {layout.write})))
    victim = str(uuid.UUID(int=60))
    assert await _holders(engines.index, victim) == [old]
    await engines.db.pool.execute(
        "UPDATE atlas SET index_name = NULL, version = version + 1 WHERE id = $1",
        uuid.UUID(victim),
    )
    await _catch_up(engines.archive)
    assert await _holders(engines.index, victim) == [old], "written where it was, once"
    placed = await engines.db.pool.fetchval(
        "SELECT index_name FROM atlas WHERE id = $1", uuid.UUID(victim)
    )
    assert placed == old, placed


async def test_a_closed_fence_defers_indexing_to_the_catch_up(engines: Engines) -> None:
    await _plant(engines.db, [_doc(200)])
    async with engines.db.pool.acquire() as conn, conn.transaction():
        await fence.exclusive(conn, 5)
        with pytest.raises(TransientError, match="paused"):
            await engines.archive.index_rows()
    assert await _catch_up(engines.archive) == 1, "the catch-up takes the row once the fence opens"


async def test_a_refused_row_is_marked_and_not_retried(engines: Engines) -> None:
    bad = _doc(300, created="not a date")
    await _plant(engines.db, [{**bad, "created_at": "2026-11-20T10:00:00.000Z"}])
    async with engines.db.pool.acquire() as conn:
        await conn.execute(
            "UPDATE atlas SET doc = jsonb_set(doc, '{created_at}', '\"not a date\"') WHERE id = $1",
            uuid.UUID(bad["id"]),
        )
    assert await engines.archive.index_rows() == 1, "the refused row is handled (marked)"
    assert await engines.archive.index_rows() == 0, "and not picked up again"
    reason = await engines.db.pool.fetchval(
        "SELECT rejected_reason FROM atlas WHERE id = $1", uuid.UUID(bad["id"])
    )
    assert "created_at" in reason, reason
    await engines.db.pool.execute("DELETE FROM atlas WHERE id = $1", uuid.UUID(bad["id"]))


async def test_migration_run_verify_rollback_and_cleanup(engines: Engines, tmp_path: Path) -> None:
    out = io.StringIO()
    opts = migrate.Options(
        progress="lines", batch_size=40, concurrency=2, reject_file=Path("/dev/null")
    )
    up_to_date = await migrate.Migration(engines.db, engines.index, opts, out).run()
    assert up_to_date.state == "up-to-date", up_to_date
    planned = await migrate.Migration(
        engines.db, engines.index, migrate.Options(dry_run=True, force=True), out
    ).run()
    assert planned.state == "planned" and planned.plan["invalid_count"] == 0, planned.plan
    forced = migrate.Options(
        progress="lines", batch_size=40, force=True, reject_file=Path("/dev/null")
    )
    done = await migrate.Migration(engines.db, engines.index, forced, out).run()
    rows = await engines.db.pool.fetchval("SELECT count(*) FROM atlas")
    assert done.state == "done" and done.copied == rows, (done, rows)
    layout = await engines.index.layout()
    assert layout.read == {done.target} and layout.write == done.target, layout
    report = await verify.verify(engines.db, engines.index, settle_s=5, seed=1)
    assert report.differences == 0, report.to_json()
    assert "backfill" in out.getvalue() and "serves t-atlas now" in out.getvalue(), out.getvalue()
    written = verify.write(report, tmp_path)
    assert "no differences" in Path(written["html"]).read_text(), written
    back = await migrate.Migration(engines.db, engines.index, migrate.Options(), out).rollback()
    assert back["from"] == done.target and (await engines.index.layout()).write != done.target
    after_rollback = await verify.verify(engines.db, engines.index, settle_s=10, seed=1)
    assert after_rollback.differences == 0, after_rollback.to_json()
    deleted = await migrate.Migration(engines.db, engines.index, migrate.Options(), out).cleanup(0)
    assert done.target in deleted, deleted


async def test_a_record_written_while_the_migration_runs_is_in_the_new_index(
    engines: Engines,
) -> None:
    out = io.StringIO()
    opts = migrate.Options(
        progress="off", batch_size=10, max_rate=400, force=True, reject_file=Path("/dev/null")
    )
    task = asyncio.create_task(migrate.Migration(engines.db, engines.index, opts, out).run())
    await asyncio.sleep(0.05)  # let the backfill begin; the writes below race it on purpose
    await _plant(engines.db, [_doc(n) for n in range(400, 410)])
    await engines.archive.set_status(str(uuid.UUID(int=7)), "deleted")
    done = await task
    await _catch_up(engines.archive)
    report = await verify.verify(engines.db, engines.index, settle_s=10, seed=2)
    assert report.differences == 0, (done, report.to_json())


async def test_statistics_count_what_postgresql_holds(engines: Engines) -> None:
    await stats.refresh(engines.db)
    body = await stats.read(engines.db, None, None)
    rows = await engines.db.pool.fetchval("SELECT count(*) FROM atlas")
    assert body["records"] == rows and body["refreshed_at"], body
    languages = dict(
        await engines.db.pool.fetch(
            "SELECT COALESCE(doc->>'language', ''), count(*) FROM atlas GROUP BY 1"
        )
    )
    assert body["totals"]["language"] == languages, (body["totals"], languages)


async def test_retention_deletes_an_index_whose_records_are_old(engines: Engines) -> None:
    # Records of its own (old ones): under xdist this test may be the first of the module.
    await _plant(engines.db, [_doc(n) for n in range(700, 703)])
    await _catch_up(engines.archive)
    policy = lifecycle.Policy(max_docs=1, retention="1s").checked()
    passed = await lifecycle.run_once(engines.index, engines.db, policy)
    assert passed.rolled_over is not None, passed
    layout = await engines.index.layout()
    assert passed.rolled_over[0] not in layout.read and passed.rolled_over[0] in passed.deleted, (
        passed,
        layout,
    )


async def test_every_status_change_is_announced_even_after_the_broker_was_away(
    engines: Engines,
) -> None:
    await _plant(engines.db, [_doc(n) for n in range(600, 602)])
    first, second = str(uuid.UUID(int=600)), str(uuid.UUID(int=601))
    while await engines.archive.announce_pending():  # what earlier tests left (a raw version bump)
        pass
    engines.broker.events.clear()
    await engines.archive.set_status(first, "archived")
    assert [(s, e["id"], e["data"]["version"]) for s, e in engines.broker.events] == [
        ("altlas.atlas.updated", f"atlas.updated:{first}:2", 2)
    ], "a status change must be announced with the record's new version"
    assert engines.broker.events[0][1]["data"]["atlas"]["status"] == "archived"
    engines.broker.away = True
    changed = await engines.archive.set_status(second, "deleted")  # committed, not announced
    assert changed["status"] == "deleted"
    engines.broker.away = False
    engines.broker.events.clear()
    assert await engines.archive.announce_pending() == 1
    assert [e["id"] for _, e in engines.broker.events] == [f"atlas.updated:{second}:2"], (
        "the catch-up must announce the change the broker missed, and only that one"
    )
    assert await engines.archive.announce_pending() == 0
