"""The archive as a consumer of the runner's `last.created` events.

The message goes to the real Archive.handle_last_created with an in-memory `atlas` table, a search
index that remembers what it was given, and a Messaging that records what it publishes.
"""

from __future__ import annotations

import json
from typing import Any, cast

from contracts import shapes
from contracts._fixtures import PactWriter
from contracts.fakes import AtlasTable, CapturingMessaging, FakeDatabase, FakeIndex
from contracts.messages import LAST_CREATED, deliver, expect, subscribed
from contracts.pacticipants import ARCHIVE, RUNNER_EVENTS, new_pact
from reference_services.archive.search.index import SearchIndex
from reference_services.archive.service import Archive
from reference_services.common import topology
from reference_services.common.db import Database


async def test_a_last_is_archived_as_an_atlas_record(generated_pacts: PactWriter) -> None:
    pact = new_pact(ARCHIVE, RUNNER_EVENTS)
    expect(
        pact,
        LAST_CREATED,
        shapes.envelope(
            "last.created",
            source="altlas/runner",
            event_id=f"last.created:{shapes.LAST_ID}",
            data={"last": shapes.last(), "alt": shapes.alt()},
        ),
        command=shapes.COMMAND,
    )
    bus = CapturingMessaging()
    table, index = AtlasTable(), FakeIndex()
    archive = Archive(cast(Database, FakeDatabase(table)), cast(SearchIndex, index), bus)

    async def receive(envelope: dict[str, Any], metadata: dict[str, object]) -> None:
        assert subscribed(topology.ARCHIVE, metadata.get("subject")), (
            f"the archive's durable does not receive subject {metadata.get('subject')!r}"
        )
        await archive.handle_last_created(envelope)

    await deliver(pact, receive)

    stored = [json.loads(row["doc"]) for row in table.rows.values()]
    assert [(a["last_id"], a["alt_id"]) for a in stored] == [(shapes.LAST_ID, shapes.ALT_ID)], (
        f"expected one record of LAST {shapes.LAST_ID} / ALT {shapes.ALT_ID}, got {stored}"
    )
    atlas = stored[0]
    assert atlas["command"] == shapes.COMMAND and "success:high" in atlas["tags"], (
        f"expected the command's text and a success:high tag (rate 1.0), got {atlas}"
    )
    assert list(index.documents) == [atlas["id"]], (
        f"expected record {atlas['id']} indexed for search, got {list(index.documents)}"
    )
    created = bus.of_type("atlas.created")
    assert [p.envelope["data"]["atlas"]["id"] for p in created] == [atlas["id"]], (
        f"expected atlas.created for {atlas['id']}, got {[p.envelope for p in created]}"
    )
    statuses = [p.envelope["data"]["status"] for p in bus.of_type("status.changed")]
    assert statuses == ["archived"], f"expected one status event, archived; got {statuses}"
    generated_pacts.write(pact)
