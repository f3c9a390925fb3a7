"""The gateway as a consumer of the archive's HTTP API: search, read, and status change.

Each test declares one interaction, drives the gateway's real ArchiveClient (the code behind
/api/v1/archive/*) against Pact's mock server, checks what the gateway got out of it, and writes
the interaction into the gateway-archive pact.
"""

from __future__ import annotations

from typing import Any

import pytest
from pact import match

from contracts import shapes
from contracts._fixtures import PactWriter
from contracts.pacticipants import ARCHIVE, GATEWAY, new_pact
from reference_services.common.errors import NotFound
from reference_services.common.models import AtlasDocument
from reference_services.common.schemas import validate
from reference_services.gateway.archive_client import ArchiveClient

JSON = "application/json"
PROBLEM = "application/problem+json"
# Provider states the archive sets up in test mode (reference_services/archive/provider_states).
RECORD_EXISTS = "an ATLAS record exists"
RECORD_MISSING = "no ATLAS record exists"


def json_content_type() -> Any:
    return match.regex(JSON, regex=r"^application/json(;.*)?$")


async def _call(url: str, method: str, path: str, **kw: Any) -> dict[str, Any]:
    client = ArchiveClient(url, 5.0)
    try:
        return await client.request(method, path, correlation_id="contract-test", **kw)
    finally:
        await client.close()


async def test_search_returns_matching_records_with_facets(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, ARCHIVE)
    (
        pact.upon_receiving("a search for ATLAS records")
        .given(RECORD_EXISTS, id=shapes.ATLAS_ID, command=shapes.COMMAND)
        .with_request("GET", "/v1/atlas/search")
        # What the gateway's /api/v1/archive/search forwards for ?q=istanbul.
        .with_query_parameters({"q": "istanbul", "page": "1", "size": "20"})
        .will_respond_with(200)
        .with_header("Content-Type", json_content_type())
        .with_body(shapes.search_result(), JSON)
    )
    with pact.serve(addr="127.0.0.1") as server:
        result = await _call(
            str(server.url),
            "GET",
            "/v1/atlas/search",
            params=[("page", "1"), ("size", "20"), ("q", "istanbul")],
        )
    assert result["total"] >= len(result["items"]) >= 1, (
        f"expected at least one item and a total that counts it, got {result}"
    )
    for item in result["items"]:
        validate("atlas", item)
        AtlasDocument.model_validate(item)  # the gateway's response model for these items
    assert set(result["facets"]) == {"status", "tags", "language"}, (
        f"expected facets for status, tags and language, got {sorted(result['facets'])}"
    )
    generated_pacts.write(pact)


async def test_read_returns_the_record(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, ARCHIVE)
    (
        pact.upon_receiving("a request for an ATLAS record")
        .given(RECORD_EXISTS, id=shapes.ATLAS_ID, command=shapes.COMMAND)
        .with_request("GET", f"/v1/atlas/{shapes.ATLAS_ID}")
        .will_respond_with(200)
        .with_header("Content-Type", json_content_type())
        .with_body(shapes.atlas(atlas_id=shapes.ATLAS_ID), JSON)
    )
    with pact.serve(addr="127.0.0.1") as server:
        record = await _call(str(server.url), "GET", f"/v1/atlas/{shapes.ATLAS_ID}")
    validate("atlas", record)
    assert record["id"] == shapes.ATLAS_ID, (
        f"expected the record asked for ({shapes.ATLAS_ID}), got {record['id']}"
    )
    generated_pacts.write(pact)


async def test_read_of_a_missing_record_is_not_found(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, ARCHIVE)
    (
        pact.upon_receiving("a request for an ATLAS record that does not exist")
        .given(RECORD_MISSING, id=shapes.MISSING_ATLAS_ID)
        .with_request("GET", f"/v1/atlas/{shapes.MISSING_ATLAS_ID}")
        .will_respond_with(404)
        .with_header("Content-Type", PROBLEM)
        .with_body(
            shapes.problem(404, "Not Found", f"atlas record '{shapes.MISSING_ATLAS_ID}' not found"),
            PROBLEM,
        )
    )
    with pact.serve(addr="127.0.0.1") as server, pytest.raises(NotFound) as caught:
        await _call(str(server.url), "GET", f"/v1/atlas/{shapes.MISSING_ATLAS_ID}")
    assert caught.value.ident == shapes.MISSING_ATLAS_ID, (
        f"expected NotFound for {shapes.MISSING_ATLAS_ID}, got one for {caught.value.ident}"
    )
    generated_pacts.write(pact)


async def test_status_change_returns_the_changed_record(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, ARCHIVE)
    changed = {**shapes.atlas(atlas_id=shapes.ATLAS_ID), "status": "archived"}
    (
        pact.upon_receiving("a request to archive an ATLAS record")
        .given(RECORD_EXISTS, id=shapes.ATLAS_ID, command=shapes.COMMAND)
        .with_request("PATCH", f"/v1/atlas/{shapes.ATLAS_ID}")
        .with_body({"status": "archived"}, JSON)
        .will_respond_with(200)
        .with_header("Content-Type", json_content_type())
        .with_body(changed, JSON)
    )
    with pact.serve(addr="127.0.0.1") as server:
        record = await _call(
            str(server.url), "PATCH", f"/v1/atlas/{shapes.ATLAS_ID}", json={"status": "archived"}
        )
    validate("atlas", record)
    assert (record["id"], record["status"]) == (shapes.ATLAS_ID, "archived"), (
        f"expected record {shapes.ATLAS_ID} with status archived, got {record['id']} "
        f"with status {record['status']}"
    )
    generated_pacts.write(pact)
