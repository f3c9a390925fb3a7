"""Provider states for contract verification: test mode only.

The Pact verifier replays each consumer interaction against the running archive, and before each
one it asks the archive to be in the state the consumer assumed (`given(...)` in the consumer
test) with `POST /_test/provider-states {"state", "params", "action"}`. This module answers that
request by writing a known ATLAS record straight into PostgreSQL and OpenSearch (or removing it).

`build_app` mounts the router only when ALTLAS_TEST_MODE=true: without it the route does not
exist (404), so no deployment can be told to plant or delete records this way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from reference_services.archive.service import Archive
from reference_services.archive.tags import derive_tags, summarize
from reference_services.common.events import derived_id, now_iso
from reference_services.common.schemas import validate

__all__ = ["RECORD_EXISTS", "RECORD_MISSING", "known_record", "router"]

RECORD_EXISTS: Final = "an ATLAS record exists"
RECORD_MISSING: Final = "no ATLAS record exists"
STATES: Final = (RECORD_EXISTS, RECORD_MISSING)
DEFAULT_COMMAND: Final = "İstanbul hava durumunu ara ve sonuçları özetle"


class StateChange(BaseModel):
    """The body the Pact verifier sends (state change with `body=True`)."""

    model_config = ConfigDict(extra="ignore")

    state: str
    action: Literal["setup", "teardown"] = "setup"
    params: dict[str, Any] = Field(default_factory=dict)


def _atlas_id(params: dict[str, Any]) -> str:
    # The id ends up in SQL (index_rows takes a WHERE clause): only a real UUID gets that far.
    try:
        return str(uuid.UUID(str(params["id"])))
    except (KeyError, ValueError):
        raise HTTPException(422, "params.id must be a UUID") from None


def known_record(atlas_id: str, command: str = DEFAULT_COMMAND) -> dict[str, Any]:
    """A valid, active ATLAS record with the given id; its other ids are derived from it."""
    now = now_iso()
    rate = 1.0
    atlas = {
        "schema_version": "1.0",
        "id": atlas_id,
        "last_id": derived_id("provider-state:last", atlas_id),
        "alt_id": derived_id("provider-state:alt", atlas_id),
        "command_id": derived_id("provider-state:command", atlas_id),
        "command": command,
        "language": "tr",
        "success_rate": rate,
        "status": "active",
        "tags": derive_tags(["search", "summarize"], rate),
        "summary": summarize(command, 2, "success", rate),
        "created_at": now,
        "updated_at": now,
    }
    validate("atlas", atlas)
    return atlas


async def _put(archive: Archive, atlas: dict[str, Any]) -> None:
    # An upsert that resets the record: an interaction that changed it (PATCH) must not leak
    # into the next one that assumes the same state.
    await archive.db.pool.execute(
        "INSERT INTO atlas (id, last_id, alt_id, command_id, status, doc)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
        " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, doc = EXCLUDED.doc,"
        " version = atlas.version + 1, updated_at = now()",
        atlas["id"],
        atlas["last_id"],
        atlas["alt_id"],
        atlas["command_id"],
        atlas["status"],
        json.dumps(atlas),
    )
    # Indexed through the archive's own path, then refreshed so that a search replayed right
    # after this state change already finds the record.
    await archive.index_rows(f"id = '{atlas['id']}'::uuid")
    await archive.index.refresh()


async def _remove(archive: Archive, atlas_id: str) -> None:
    await archive.db.pool.execute("DELETE FROM atlas WHERE id = $1", atlas_id)
    await archive.index.delete(atlas_id)


def router(archive_of: Callable[[Request], Archive]) -> APIRouter:
    """The test-mode routes; `archive_of` finds the running Archive for a request."""
    routes = APIRouter(prefix="/_test", tags=["test mode"], include_in_schema=False)

    @routes.get("/provider-states", summary="The provider states this archive can set up")
    async def list_states() -> dict[str, Any]:
        return {"states": list(STATES)}

    @routes.post("/provider-states", summary="Put the archive into a named provider state")
    async def change_state(change: StateChange, request: Request) -> dict[str, Any]:
        if change.action == "teardown":
            # Every setup resets what it needs, so nothing has to be undone afterwards.
            return {"state": change.state, "action": change.action}
        handlers: dict[str, Callable[[Archive, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            RECORD_EXISTS: _record_exists,
            RECORD_MISSING: _record_missing,
        }
        handler = handlers.get(change.state)
        if handler is None:
            raise HTTPException(400, f"unknown provider state {change.state!r}; known: {STATES}")
        result = await handler(archive_of(request), change.params)
        return {"state": change.state, "action": change.action, **result}

    return routes


async def _record_exists(archive: Archive, params: dict[str, Any]) -> dict[str, Any]:
    atlas = known_record(_atlas_id(params), str(params.get("command") or DEFAULT_COMMAND))
    await _put(archive, atlas)
    return {"atlas": atlas}


async def _record_missing(archive: Archive, params: dict[str, Any]) -> dict[str, Any]:
    atlas_id = _atlas_id(params)
    await _remove(archive, atlas_id)
    return {"id": atlas_id}
