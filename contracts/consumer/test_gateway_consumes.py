"""The gateway as a consumer of every stage's events: its StatusProjection.

Each stage's messages go to the real StatusProjection, whose `commands` and `command_documents`
tables are in memory and know the example command. One test per producing stage, one pact each.
"""

from __future__ import annotations

from typing import Any, cast

import asyncpg
from pact import Pact, match

from contracts import shapes
from contracts._fixtures import PactWriter
from contracts.fakes import Advance, CommandsTable
from contracts.messages import (
    ALT_CREATED,
    ARCHIVED,
    ATLAS_CREATED,
    COMPLETED,
    LAST_CREATED,
    RUNNING,
    SEGMENTATION_FAILED,
    SEGMENTED,
    deliver,
    expect,
    subscribed,
)
from contracts.pacticipants import (
    ARCHIVE_EVENTS,
    GATEWAY,
    RUNNER_EVENTS,
    SEGMENTATION_EVENTS,
    new_pact,
)
from reference_services.common import topology
from reference_services.gateway.projection import StatusProjection


async def _project(pact: Pact) -> CommandsTable:
    """Deliver every message of `pact` to a StatusProjection; the tables it wrote."""
    table = CommandsTable(known={shapes.COMMAND_ID})
    projection = StatusProjection(cast(asyncpg.Pool, table))

    async def receive(envelope: dict[str, Any], metadata: dict[str, object]) -> None:
        assert subscribed(topology.GATEWAY_PROJECTION, metadata.get("subject")), (
            f"the gateway's projection does not receive subject {metadata.get('subject')!r}"
        )
        await projection(envelope)

    await deliver(pact, receive)
    return table


def _advance(
    status: str,
    *,
    alt_id: str | None = None,
    last_id: str | None = None,
    atlas_id: str | None = None,
    detail: str | None = None,
) -> Advance:
    """The commands.advance call expected for the example command."""
    return Advance(shapes.COMMAND_ID, status, alt_id, last_id, atlas_id, detail)


async def test_segmentation_events_move_the_command(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, SEGMENTATION_EVENTS)
    source = "altlas/segmentation"
    expect(
        pact,
        ALT_CREATED,
        shapes.envelope(
            "alt.created",
            source=source,
            event_id=f"alt.created:{shapes.ALT_ID}",
            data={"alt": shapes.alt()},
        ),
        command=shapes.COMMAND,
    )
    expect(
        pact,
        SEGMENTED,
        shapes.envelope(
            "status.changed",
            source=source,
            event_id=f"status:segmentation:segmented:{shapes.COMMAND_ID}",
            data=shapes.status_changed(
                "segmentation", "segmented", alt_id=match.uuid(shapes.ALT_ID)
            ),
        ),
        command=shapes.COMMAND,
    )
    expect(
        pact,
        SEGMENTATION_FAILED,
        shapes.envelope(
            "status.changed",
            source=source,
            event_id=f"status:segmentation:failed:{shapes.COMMAND_ID}",
            data=shapes.status_changed(
                "segmentation",
                "failed",
                alt_id=None,
                detail=match.str("segmentation failed: command is blank"),
            ),
        ),
        command=shapes.BLANK_COMMAND,
    )
    table = await _project(pact)

    expected = {
        _advance("segmented", alt_id=shapes.ALT_ID),  # from alt.created and from status.changed
        _advance("failed", detail="segmentation failed: command is blank"),
    }
    assert set(table.advances) == expected, f"expected {expected}, got {table.advances}"
    assert table.documents[(shapes.COMMAND_ID, "alt")]["id"] == shapes.ALT_ID, (
        f"expected the ALT stored with the command, got {table.documents}"
    )
    generated_pacts.write(pact)


async def test_runner_events_move_the_command(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, RUNNER_EVENTS)
    source = "altlas/runner"
    expect(
        pact,
        RUNNING,
        shapes.envelope(
            "status.changed",
            source=source,
            event_id=f"status:runner:running:{shapes.COMMAND_ID}",
            data=shapes.status_changed("runner", "running", alt_id=match.uuid(shapes.ALT_ID)),
        ),
        command=shapes.COMMAND,
    )
    expect(
        pact,
        LAST_CREATED,
        shapes.envelope(
            "last.created",
            source=source,
            event_id=f"last.created:{shapes.LAST_ID}",
            data={"last": shapes.last(), "alt": shapes.alt()},
        ),
        command=shapes.COMMAND,
    )
    expect(
        pact,
        COMPLETED,
        shapes.envelope(
            "status.changed",
            source=source,
            event_id=f"status:runner:completed:{shapes.COMMAND_ID}",
            data=shapes.status_changed(
                "runner",
                "completed",
                alt_id=match.uuid(shapes.ALT_ID),
                last_id=match.uuid(shapes.LAST_ID),
            ),
        ),
        command=shapes.COMMAND,
    )
    table = await _project(pact)

    expected = {
        _advance("running", alt_id=shapes.ALT_ID),
        _advance("completed", alt_id=shapes.ALT_ID, last_id=shapes.LAST_ID),
    }
    assert set(table.advances) == expected, f"expected {expected}, got {table.advances}"
    assert table.documents[(shapes.COMMAND_ID, "last")]["id"] == shapes.LAST_ID, (
        f"expected the LAST stored with the command, got {table.documents}"
    )
    generated_pacts.write(pact)


async def test_archive_events_move_the_command(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, ARCHIVE_EVENTS)
    source = "altlas/archive"
    expect(
        pact,
        ATLAS_CREATED,
        shapes.envelope(
            "atlas.created",
            source=source,
            event_id=f"atlas.created:{shapes.ATLAS_ID}",
            data={"atlas": shapes.atlas()},
        ),
        command=shapes.COMMAND,
    )
    expect(
        pact,
        ARCHIVED,
        shapes.envelope(
            "status.changed",
            source=source,
            event_id=f"status:archive:archived:{shapes.COMMAND_ID}",
            data=shapes.status_changed(
                "archive",
                "archived",
                alt_id=match.uuid(shapes.ALT_ID),
                last_id=match.uuid(shapes.LAST_ID),
                atlas_id=match.uuid(shapes.ATLAS_ID),
            ),
        ),
        command=shapes.COMMAND,
    )
    table = await _project(pact)

    archived = _advance(
        "archived", alt_id=shapes.ALT_ID, last_id=shapes.LAST_ID, atlas_id=shapes.ATLAS_ID
    )
    assert set(table.advances) == {archived}, f"expected {archived}, got {table.advances}"
    assert table.documents[(shapes.COMMAND_ID, "atlas")]["id"] == shapes.ATLAS_ID, (
        f"expected the ATLAS record stored with the command, got {table.documents}"
    )
    generated_pacts.write(pact)
