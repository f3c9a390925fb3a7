"""The status projection: stage events → the command row and its documents."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from reference_services.gateway import commands

log = logging.getLogger(__name__)


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
            )
        else:
            log.warning("projection ignores event type %s", kind)
            return
        if not known:
            # Not ours (published by someone else straight to NATS): nothing to project.
            log.warning("event %s for unknown command %s ignored", envelope["id"], command_id)
