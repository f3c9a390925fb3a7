"""The services' hot queries use the index meant for them at volume (EXPLAIN ANALYZE, BUFFERS).

A real PostgreSQL 16 (the local stack's server binary), each service's migrations, 100,000 rows
or more in every table those queries touch — most of the outbox published and most of the
archive indexed, as in production — then each statement exactly as the service sends it
(imported as a constant) through EXPLAIN (ANALYZE, BUFFERS). A plan that reads the table
sequentially, or without the intended index, fails with the plan in the message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from harness.infra.postgres import PostgresServer
from reference_services.archive import service as archive
from reference_services.common.db import migrate
from reference_services.gateway import commands, relay
from reference_services.runner import service as runner

ROWS = 100_000
SERVICES = Path(__file__).resolve().parents[2] / "reference_services"

# Server-side generation: a few seconds for every table.
PLANT = {
    "gateway": [
        "INSERT INTO users (username, password_hash, roles) VALUES ('u', 'x', '{user}')",
        f"INSERT INTO commands (id, username, command, mode, status, request_hash, idempotency_key,"
        f" created_at) SELECT md5(i::text)::uuid, 'u', 'komut ' || i, 'normal', 'archived', 'h',"
        f" 'key-' || i, now() - i * interval '1 minute' FROM generate_series(1, {ROWS}) i",
        # 1 % pending; of the published, the oldest tenth past the one-day retention.
        f"INSERT INTO outbox (event_id, subject, payload, published_at) SELECT 'e' || i,"
        f" 'altlas.command.submitted', '{{}}'::jsonb, CASE WHEN i % 100 = 0 THEN NULL"
        f" WHEN i < {ROWS // 10} THEN now() - interval '2 days' ELSE now() END"
        f" FROM generate_series(1, {ROWS}) i",
        f"INSERT INTO command_documents (command_id, kind, doc) SELECT md5(i::text)::uuid, k, '{{}}'"
        f" FROM generate_series(1, {ROWS}) i, unnest(ARRAY['alt', 'last', 'atlas']) k",
    ],
    "runner": [
        f"INSERT INTO executions (alt_id, last_id, command_id, last, alt) SELECT md5('a' || i)::uuid,"
        f" md5('l' || i)::uuid, md5(i::text)::uuid, '{{}}', '{{}}' FROM generate_series(1, {ROWS}) i",
    ],
    "archive": [
        f"INSERT INTO atlas (id, last_id, alt_id, command_id, status, doc, version, indexed_version,"
        f" created_at) SELECT md5('x' || i)::uuid, md5('l' || i)::uuid, md5('a' || i)::uuid,"
        f" md5(i::text)::uuid, 'active', jsonb_build_object('id', md5('x' || i)::uuid, 'language',"
        f" 'tr', 'success_rate', 1.0, 'tags', jsonb_build_array('search')), 1,"
        f" CASE WHEN i % 200 = 0 THEN 0 ELSE 1 END, now() - i * interval '5 minutes'"
        f" FROM generate_series(1, {ROWS}) i",
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    root = tmp_path_factory.mktemp("pg-plans")
    yield PostgresServer(root / "data", root / "postgres.log")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def databases(server: PostgresServer) -> AsyncIterator[dict[str, str]]:
    async with server:
        await server.create_databases(*PLANT)
        for name, statements in PLANT.items():
            conn = await asyncpg.connect(server.url(name))
            pool = await asyncpg.create_pool(server.url(name), min_size=1, max_size=2)
            try:
                await migrate(pool, SERVICES / name / "migrations")
                for sql in statements:
                    await conn.execute(sql)
                await conn.execute("ANALYZE")
            finally:
                await pool.close()
                await conn.close()
        yield {name: server.url(name) for name in PLANT}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


CASES = [
    ("gateway", commands.BY_ID_SQL, [uuid.UUID(int=7)], "commands", "commands_pkey"),
    ("gateway", commands.BY_KEY_SQL, ["u", "key-500"], "commands", "commands_username_idempotency_key_key"),
    ("gateway", commands.ADVANCE_SQL, [uuid.UUID(int=7), "archived", None, None, None, None, "atlas"], "commands", "commands_pkey"),
    ("gateway", commands.DOCUMENT_SQL, [uuid.UUID(int=7), "alt"], "command_documents", "command_documents_pkey"),
    ("gateway", relay.POLL_SQL, [100], "outbox", "outbox_pending"),
    ("gateway", relay.PENDING_SQL, [], "outbox", "outbox_pending"),
    ("gateway", relay.PRUNE_SQL, [86_400.0, 5000], "outbox", "outbox_published"),
    ("runner", runner.BY_ALT_SQL, [uuid.UUID(int=7)], "executions", "executions_pkey"),
    ("runner", runner.BY_LAST_SQL, [uuid.UUID(int=7)], "executions", "executions_last_id_key"),
    ("archive", archive.GET_SQL, [uuid.UUID(int=7)], "atlas", "atlas_pkey"),
    ("archive", archive.rows_sql(), [], "atlas", "atlas_unindexed"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("db", "sql", "args", "table", "index"), CASES, ids=[f"{c[0]}:{c[4]}" for c in CASES]
)
async def test_the_hot_query_uses_its_index_at_volume(
    databases: dict[str, str], db: str, sql: str, args: list[Any], table: str, index: str
) -> None:
    conn = await asyncpg.connect(databases[db])
    try:
        rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
        assert rows >= ROWS, f"expected at least {ROWS} rows in {table}, planted {rows}"
        tx = conn.transaction()
        await tx.start()  # EXPLAIN ANALYZE runs the statement: an UPDATE is rolled back
        try:
            raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
        finally:
            await tx.rollback()
    finally:
        await conn.close()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    nodes = list(_nodes(plan))
    used = {n.get("Index Name") for n in nodes if n.get("Index Name")}
    scans = [n["Node Type"] for n in nodes if n.get("Relation Name") == table]
    assert index in used and "Seq Scan" not in scans, (
        f"expected {db}'s query on {table} ({rows} rows) to use {index} without a sequential"
        f" scan; the plan used {sorted(used) or 'no index'}, scans {scans}:\n"
        + json.dumps(plan, indent=1)[:3000]
    )
