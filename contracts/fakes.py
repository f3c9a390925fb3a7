"""In-memory stand-ins for the handlers' I/O: a Messaging that records, and the few tables used.

The handlers under contract run unchanged; only NATS, PostgreSQL and OpenSearch are replaced.
Each fake table knows exactly the statements its handler runs and fails loudly on any other, so
a handler that starts running new SQL shows up here instead of passing against a fake that
silently answers nothing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from reference_services.archive.search.index import Layout, Written
from reference_services.common.messaging import Messaging
from reference_services.common.settings import ServiceSettings

__all__ = [
    "Advance",
    "AtlasTable",
    "CapturingMessaging",
    "CommandsTable",
    "ExecutionsTable",
    "FakeDatabase",
    "FakeIndex",
    "Published",
    "UnexpectedStatement",
]


class UnexpectedStatement(AssertionError):
    """A handler ran SQL that its fake table does not know."""

    def __init__(self, table: str, sql: str) -> None:
        super().__init__(
            f"the fake {table} table does not know this statement: {_one_line(sql)!r};"
            " teach contracts/fakes.py what it should answer"
        )


def _one_line(sql: str) -> str:
    return " ".join(sql.split())


def _expect(table: str, sql: str, *prefixes: str) -> str:
    flat = _one_line(sql)
    for prefix in prefixes:
        if flat.startswith(prefix):
            return prefix
    raise UnexpectedStatement(table, sql)


@dataclass(frozen=True)
class Published:
    """One publish: the subject and the envelope, as they would have gone to JetStream."""

    subject: str
    envelope: dict[str, Any]


class CapturingMessaging(Messaging):
    """A Messaging that records what would be published instead of talking to NATS."""

    def __init__(self) -> None:
        super().__init__(ServiceSettings())
        self.published: list[Published] = []

    async def publish(
        self,
        subject: str,
        envelope: dict[str, Any],
        timeout: float = 5.0,
        *,
        traceparent: str | None = None,
    ) -> None:
        self.published.append(Published(subject, envelope))

    def of_type(self, event_type: str) -> list[Published]:
        return [p for p in self.published if p.envelope["type"] == event_type]


@dataclass
class FakeDatabase:
    """Stands in for common.db.Database, of which the handlers only use `.pool`."""

    pool: Any


class ExecutionsTable:
    """The runner's `executions` table, for what RunnerHandler runs."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def fetchval(self, sql: str, *args: Any) -> Any:
        _expect("executions", sql, "SELECT last FROM executions WHERE alt_id = $1")
        row = self.rows.get(args[0])
        return None if row is None else row["last"]

    async def execute(self, sql: str, *args: Any) -> str:
        _expect("executions", sql, "INSERT INTO executions")
        alt_id, last_id, command_id, last, alt = args
        # ON CONFLICT (alt_id) DO NOTHING: the first execution stored wins.
        self.rows.setdefault(
            alt_id, {"last_id": last_id, "command_id": command_id, "last": last, "alt": alt}
        )
        return "INSERT 0 1"


class AtlasTable:
    """The archive's `atlas` table, for what Archive.handle_last_created runs."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.indexed: dict[str, int] = {}

    async def execute(self, sql: str, *args: Any) -> str:
        _expect("atlas", sql, "INSERT INTO atlas")
        atlas_id, last_id, alt_id, command_id, status, doc = args
        if any(r["last_id"] == last_id for r in self.rows.values()):
            return "INSERT 0 0"  # ON CONFLICT (last_id) DO NOTHING
        self.rows[atlas_id] = {
            "id": atlas_id,
            "last_id": last_id,
            "alt_id": alt_id,
            "command_id": command_id,
            "status": status,
            "doc": doc,
            "version": 1,
        }
        return "INSERT 0 1"

    async def fetchval(self, sql: str, *args: Any) -> Any:
        which = _expect(
            "atlas",
            sql,
            "SELECT doc FROM atlas WHERE id = $1",
            "SELECT pg_try_advisory_xact_lock_shared($1)",
        )
        if which.startswith("SELECT pg_try"):
            return True  # no index maintenance runs here: the search-write fence is open
        row = self.rows.get(args[0])
        return None if row is None else row["doc"]

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        _expect("atlas", sql, "SELECT id, doc, version, index_name FROM atlas WHERE")
        # The archive indexes one record by id right after storing it: answer that record, or
        # every row behind its version for the catch-up form of the query.
        wanted = [r for r in self.rows.values() if r["id"] in sql]
        if not wanted:
            wanted = [r for r in self.rows.values() if self.indexed.get(r["id"], 0) < r["version"]]
        return [
            {"id": r["id"], "doc": r["doc"], "version": r["version"], "index_name": None}
            for r in wanted
        ]

    async def executemany(self, sql: str, args: Sequence[tuple[Any, ...]]) -> None:
        _expect("atlas", sql, "UPDATE atlas SET indexed_version")
        for atlas_id, version, _index_name in args:
            key = str(atlas_id)
            self.indexed[key] = max(self.indexed.get(key, 0), version)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[AtlasTable]:
        yield self

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


class FakeIndex:
    """Stands in for the archive's SearchIndex: remembers what was indexed (one index)."""

    INDEX = "altlas-atlas-v1-000001"

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    async def layout(self) -> Layout:
        return Layout(frozenset({self.INDEX}), self.INDEX)

    async def locate(self, ids: Sequence[str], layout: Layout) -> dict[str, str]:
        return {}  # one index, which is the write index: nothing to find elsewhere

    async def index(self, docs: Sequence[Any]) -> Written:
        for placed in docs:
            self.documents[placed.doc["id"]] = dict(placed.doc)
        return Written({placed.doc["id"]: self.INDEX for placed in docs}, {}, {})


@dataclass(frozen=True)
class Advance:
    """One call of commands.advance as the projection made it."""

    command_id: str
    status: str
    alt_id: str | None
    last_id: str | None
    atlas_id: str | None
    detail: str | None


@dataclass
class CommandsTable:
    """The gateway's `commands` and `command_documents` tables, for what StatusProjection runs."""

    known: set[str]
    advances: list[Advance] = field(default_factory=list)
    documents: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[CommandsTable]:
        yield self

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def fetchval(self, sql: str, *args: Any) -> Any:
        _expect("commands", sql, "UPDATE commands SET")
        # The 7th parameter (the document a status.changed waits for) is the projection's
        # ordering rule (tests/infra/test_projection_order.py), not part of the contract.
        command_id, status, alt_id, last_id, atlas_id, detail, _after_document = args
        if command_id not in self.known:
            return None
        self.advances.append(Advance(command_id, status, alt_id, last_id, atlas_id, detail))
        return command_id

    async def execute(self, sql: str, *args: Any) -> str:
        _expect("command_documents", sql, "INSERT INTO command_documents")
        command_id, kind, doc = args
        self.documents.setdefault((command_id, kind), json.loads(doc))
        return "INSERT 0 1"

    def statuses(self) -> list[str]:
        return [a.status for a in self.advances]
