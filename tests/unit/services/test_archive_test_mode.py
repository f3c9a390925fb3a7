"""The archive's provider-state hook exists only in test mode (ALTLAS_TEST_MODE)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from reference_services.archive.app import build_app
from reference_services.archive.provider_states import RECORD_EXISTS, RECORD_MISSING, known_record
from reference_services.archive.settings import ArchiveSettings
from reference_services.common.schemas import validate

HOOK = "/_test/provider-states"


async def _get_hook(*, test_mode: bool) -> httpx.Response:
    # No lifespan runs here (no database, no NATS): only routing is exercised.
    settings = ArchiveSettings(database_url="postgresql://unused/archive", test_mode=test_mode)
    app = build_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://archive") as client:
        return await client.get(HOOK)


async def test_the_hook_is_absent_by_default() -> None:
    resp = await _get_hook(test_mode=False)
    assert resp.status_code == 404, (
        f"without test mode {HOOK} must not exist (404), got {resp.status_code} {resp.text}"
    )


async def test_the_hook_lists_its_states_in_test_mode() -> None:
    resp = await _get_hook(test_mode=True)
    assert resp.status_code == 200, f"expected 200 in test mode, got {resp.status_code}"
    assert resp.json() == {"states": [RECORD_EXISTS, RECORD_MISSING]}, (
        f"expected the two archive states, got {resp.json()}"
    )


@pytest.mark.parametrize("command", ["İstanbul hava durumunu ara", "x" * 4000])
def test_the_known_record_is_a_valid_atlas_record(command: str) -> None:
    atlas_id = str(uuid.uuid4())
    record = known_record(atlas_id, command)
    validate("atlas", record)
    assert (record["id"], record["status"]) == (atlas_id, "active"), (
        f"expected an active record with id {atlas_id}, got {record['id']} ({record['status']})"
    )
