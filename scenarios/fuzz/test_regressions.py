"""Regression tests for the bugs API fuzzing found, one per bug, against the running stack.

Each test replays the kind of request Schemathesis caught and asserts the fixed behaviour, so the
bug stays fixed even on a fuzzing run that happens not to generate that input again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness.clients.gateway import API, GatewayClient
from harness.stack.state import StackState

PROBLEM = "application/problem+json"
SPEC = "urn:altlas:openapi"


@pytest_asyncio.fixture(loop_scope="session")
async def archive(stack: StackState) -> AsyncIterator[httpx.AsyncClient]:
    if "archive" not in stack.endpoints:
        pytest.skip("the deployment exposes no archive: set HARNESS_ARCHIVE_URL")
    async with httpx.AsyncClient(base_url=stack.endpoints["archive"], timeout=10) as client:
        yield client


async def _request_schema(http: httpx.AsyncClient, path: str, method: str) -> Draft202012Validator:
    """A validator for the JSON body of an operation, as the deployment's document states it."""
    spec = (await http.get("/openapi.json")).json()
    body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return Draft202012Validator(
        {"$ref": SPEC + body["$ref"]}, registry=Registry().with_resource(SPEC, resource)
    )


# Bodies on each side of the rules pydantic's field types could not state, which the document
# left out: Schemathesis sent schema-valid bodies the service refused (and the reverse).
COMMAND_BODIES: dict[str, dict[str, Any]] = {
    "chaos_level without chaos mode": {"command": "aç", "mode": "normal", "chaos_level": 3},
    "chaos mode without chaos_level": {"command": "aç", "mode": "chaos"},
    "chaos mode with chaos_level": {"command": "aç", "mode": "chaos", "chaos_level": 3},
    "null chaos_level in normal mode": {"command": "aç", "chaos_level": None},
    "chaos_level true (lax pydantic read it as 1)": {
        "command": "aç",
        "mode": "chaos",
        "chaos_level": True,
    },
    "chaos_level as a string": {"command": "aç", "mode": "chaos", "chaos_level": "3"},
    "chaos_level 3.0 (an integer to JSON Schema)": {
        "command": "aç",
        "mode": "chaos",
        "chaos_level": 3.0,
    },
    "only ASCII spaces": {"command": " \t\n"},
    "only U+001C (Python whitespace, not ECMA)": {"command": "\x1c"},
    "only U+FEFF (ECMA whitespace, not Python)": {"command": "\ufeff"},
    "only U+3000 ideographic space": {"command": "\u3000"},
    "text around U+001C": {"command": "a\x1cb"},
}
STORED_BODIES: dict[str, dict[str, Any]] = {
    "NUL in the command": {"command": "dosya\x00aç"},
    "NUL in the persona": {"command": "aç", "persona": "\x00"},
    "NUL in a metadata key": {"command": "aç", "metadata": {"k\x00": 1}},
    "NUL deep in metadata": {"command": "aç", "metadata": {"a": [{"b": "\x00"}]}},
    "nested metadata": {"command": "aç", "metadata": {"a": [1, 2.5, True, None, {"b": "c"}]}},
}


async def test_command_rules_in_the_schema_match_the_gateway(gateway: GatewayClient) -> None:
    schema = await _request_schema(gateway.http, f"{API}/commands", "post")
    for name, body in {**COMMAND_BODIES, **STORED_BODIES}.items():
        valid = schema.is_valid(body)
        resp = await gateway.request("POST", f"{API}/commands", json=body)
        # 500 was the answer to NUL before the fix (PostgreSQL cannot store it).
        expected = 202 if valid else 422
        assert resp.status_code == expected, (
            f"{name}: the published schema calls the body {'valid' if valid else 'invalid'},"
            f" so expected {expected}, got {resp.status_code} {resp.text[:300]}"
        )


async def test_command_rules_in_the_schema_match_segmentation(stack: StackState) -> None:
    if "segmentation" not in stack.endpoints:
        pytest.skip("the deployment exposes no segmentation: set HARNESS_SEGMENTATION_URL")
    async with httpx.AsyncClient(base_url=stack.endpoints["segmentation"], timeout=10) as http:
        schema = await _request_schema(http, "/v1/segment", "post")
        for name, body in COMMAND_BODIES.items():
            valid = schema.is_valid(body)
            resp = await http.post("/v1/segment", json=body)
            expected = 200 if valid else 422
            assert resp.status_code == expected, (
                f"{name}: the published schema calls the body {'valid' if valid else 'invalid'},"
                f" so expected {expected}, got {resp.status_code} {resp.text[:300]}"
            )


async def test_login_with_nul_in_the_name_is_refused_not_a_crash(gateway: GatewayClient) -> None:
    resp = await gateway.login("\x00demo", "whatever")
    assert resp.status_code == 422, f"NUL in a username: expected 422, got {resp.status_code}"
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers


async def test_a_body_that_is_not_utf8_is_a_documented_400(gateway: GatewayClient) -> None:
    resp = await gateway.http.post(
        f"{API}/auth/login", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400, f"undecodable body: expected 400, got {resp.status_code}"
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    spec = (await gateway.http.get("/openapi.json")).json()
    declared = spec["paths"][f"{API}/auth/login"]["post"]["responses"]
    assert "400" in declared, f"400 must be a documented answer, documented: {sorted(declared)}"


async def test_405_names_every_method_of_the_path(
    gateway: GatewayClient, archive: httpx.AsyncClient
) -> None:
    record = str(uuid.uuid4())
    cases = [
        (gateway.http, f"{API}/archive/{record}", "GET, PATCH"),
        (gateway.http, f"{API}/archive/search", "GET"),
        (archive, f"/v1/atlas/{record}", "GET, PATCH"),
        (archive, "/v1/atlas/search", "GET"),
    ]
    for http, path, allow in cases:
        resp = await http.request("OPTIONS", path)
        assert resp.status_code == 405, f"OPTIONS {path}: expected 405, got {resp.status_code}"
        assert resp.headers.get("allow") == allow, (
            f"OPTIONS {path}: Allow should be {allow!r}, got {resp.headers.get('allow')!r}"
        )


async def test_patch_on_search_is_405_not_an_invalid_id(
    gateway: GatewayClient, archive: httpx.AsyncClient
) -> None:
    # `search` used to match the `{atlas_id}` route too, and fail as a malformed UUID (422).
    resp = await gateway.request(
        "PATCH", f"{API}/archive/search", role="admin", json={"status": "archived"}
    )
    assert resp.status_code == 405, f"PATCH search via gateway: expected 405, {resp.status_code}"
    resp = await archive.patch("/v1/atlas/search", json={"status": "archived"})
    assert resp.status_code == 405, f"PATCH search on archive: expected 405, {resp.status_code}"


SEARCH_DATES_REFUSED = ["0.5", "1700000000", "2024-01-01", "2024-01-01T00:00:00", "yesterday"]
SEARCH_DATES_ACCEPTED = [
    "0767-05-27T02:46:59.0-18:13",  # OpenSearch refused the offset (503) until dates went UTC
    "0001-01-01T00:00:00+05:00",  # before year 1 once in UTC
    "9999-12-31T23:59:59-05:00",  # after year 9999 once in UTC
    "0000-01-01T00:00:00Z",  # RFC 3339 has a year 0000; Python does not
    "2016-12-31T23:59:60Z",  # a leap second
    "2024-05-01t12:00:00.123456789z",
]


async def test_search_dates_are_rfc3339_date_times(
    gateway: GatewayClient, archive: httpx.AsyncClient
) -> None:
    for value in SEARCH_DATES_REFUSED:
        for name in ("created_from", "created_to"):
            resp = await gateway.search(**{name: value})
            assert resp.status_code == 422, (
                f"{name}={value!r} is no date-time: expected 422, got {resp.status_code}"
            )
            resp = await archive.get("/v1/atlas/search", params={name: value})
            assert resp.status_code == 422, f"archive {name}={value!r}: got {resp.status_code}"
    for value in SEARCH_DATES_ACCEPTED:
        for name in ("created_from", "created_to"):
            resp = await gateway.search(**{name: value})
            assert resp.status_code == 200, (
                f"{name}={value!r} is a valid date-time: expected 200, got {resp.status_code}"
                f" {resp.text[:300]}"
            )
            resp = await archive.get("/v1/atlas/search", params={name: value})
            assert resp.status_code == 200, f"archive {name}={value!r}: {resp.text[:300]}"


async def test_deepest_search_page_stays_inside_the_result_window(
    gateway: GatewayClient, archive: httpx.AsyncClient
) -> None:
    # page 953 × size 66 asked OpenSearch for hit 62 898 (its window ends at 10 000): a 503.
    deepest = await gateway.search(page=100, size=100)
    assert deepest.status_code == 200, f"page 100 × 100: expected 200, got {deepest.text[:300]}"
    beyond = await gateway.search(page=101, size=1)
    assert beyond.status_code == 422, f"page 101 is past the limit: got {beyond.status_code}"
    resp = await archive.get("/v1/atlas/search", params={"page": 100, "size": 100})
    assert resp.status_code == 200, f"archive page 100 × 100: {resp.text[:300]}"
    resp = await archive.get("/v1/atlas/search", params={"page": 953, "size": 66})
    assert resp.status_code == 422, f"archive page 953: expected 422, got {resp.status_code}"
