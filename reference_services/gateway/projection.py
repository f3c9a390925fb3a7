"""The status projection: stage events → the command row and its documents.

Ordering guarantee (docs/messaging.md, "Ordering"): whatever order the events of a command
arrive in, duplicated or handled concurrently by competing replicas, its status only moves
forward in stage order, a status that stands for a document (segmented: the ALT; completed or
failed with a LAST: the LAST; archived: the ATLAS) is shown only once that document is stored,
and the final row and documents are those of in-order delivery. A `status.changed` that names a
document (by its id) it does not carry leaves the status to the document's own event.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from reference_services.gateway import commands

log = logging.getLogger(__name__)


# The document a status stands for, and the id in a status.changed that names it.
DOCUMENT_OF_STATUS = {
    "segmented": ("alt", "alt_id"),
    "completed": ("last", "last_id"),
    "failed": ("last", "last_id"),
    "archived": ("atlas", "atlas_id"),
}


def document_of(data: dict[str, Any]) -> str | None:
    """The document kind a status.changed's status waits for: the one it names by id (a
    runner failure before any LAST names none, and moves the status itself)."""
    found = DOCUMENT_OF_STATUS.get(str(data.get("status")))
    if found is None or not data.get(found[1]):
        return None
    return found[0]


class StatusProjection:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, envelope: dict[str, Any]) -> None:
        kind, data = envelope["type"], envelope["data"]
        command_id = envelope["subject"]
        if kind == "alt.created":
            alt = data["alt"]
            known = await commands.advance(
                self.pool, command_id, "segmented", alt_id=alt["id"], document=("alt", alt)
            )
        elif kind == "last.created":
            last = data["last"]
            status = "failed" if last["status"] == "failure" else "completed"
            known = await commands.advance(
                self.pool,
                command_id,
                status,
                alt_id=last["alt_id"],
                last_id=last["id"],
                document=("last", last),
            )
        elif kind == "atlas.created":
            atlas = data["atlas"]
            known = await commands.advance(
                self.pool,
                command_id,
                "archived",
                alt_id=atlas["alt_id"],
                last_id=atlas["last_id"],
                atlas_id=atlas["id"],
                document=("atlas", atlas),
            )
        elif kind == "status.changed":
            known = await commands.advance(
                self.pool,
                command_id,
                data["status"],
                alt_id=data.get("alt_id"),
                last_id=data.get("last_id"),
                atlas_id=data.get("atlas_id"),
                detail=data.get("detail"),
                after_document=document_of(data),
            )
        else:
            log.warning("projection ignores event type %s", kind)
            return
        if not known:
            # Not ours (published by someone else straight to NATS): nothing to project.
            log.warning("event %s for unknown command %s ignored", envelope["id"], command_id)
