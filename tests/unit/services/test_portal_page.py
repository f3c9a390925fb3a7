"""The documentation portal, built from the four services' real OpenAPI documents: every
operation is on the page with a request example (when it takes a body) and a response example
per status, the examples fit their schemas, every problem status is in the error catalogue, and
the deprecated route carries its headers (410 after its sunset)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import Depends, FastAPI

from harness.security import forge
from reference_services.archive.app import build_app as archive_app
from reference_services.archive.settings import ArchiveSettings
from reference_services.gateway.api.deps import deprecated_route
from reference_services.gateway.api_changes import API_VERSION, CHANGELOG, Deprecation
from reference_services.gateway.app import build_app as gateway_app
from reference_services.gateway.portal import (
    ERRORS,
    example_for,
    operations,
    render,
    request_example,
    response_examples,
)
from reference_services.gateway.settings import GatewaySettings
from reference_services.runner.app import build_app as runner_app
from reference_services.runner.settings import RunnerSettings
from reference_services.segmentation.app import build_app as segmentation_app
from reference_services.segmentation.settings import SegmentationSettings

DB = "postgresql://unused/db"


def _pem() -> str:
    return forge.private_pem(forge.new_key())


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    # No lifespan runs: only the documents are read.
    return {
        "gateway": gateway_app(GatewaySettings(database_url=DB, jwt_private_key=_pem())).openapi(),
        "segmentation": segmentation_app(SegmentationSettings()).openapi(),
        "runner": runner_app(RunnerSettings(database_url=DB)).openapi(),
        "archive": archive_app(ArchiveSettings(database_url=DB)).openapi(),
    }


def _schema_of(content: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    # The document's components, so $refs resolve inside the validator.
    return {**content.get("schema", {}), "components": doc.get("components", {})}


def test_every_operation_is_on_the_page_with_examples(documents: dict[str, Any]) -> None:
    page = render(documents, nonce="n")
    total = 0
    for service, doc in documents.items():
        for method, path, op in operations(doc):
            total += 1
            assert f'data-method="{method.upper()}" data-path="{path}"' in page, (
                f"{service} {method.upper()} {path} is missing from the portal"
            )
            examples = response_examples(op, doc)
            assert examples, f"{service} {method.upper()} {path}: no response example"
            if "requestBody" in op:
                assert request_example(op, doc) is not None, f"{method} {path}: no request example"
    assert total >= 20, f"only {total} operations in the four documents"
    assert page.count('class="try-it"') == len(list(operations(documents["gateway"])))


def test_json_examples_fit_their_schemas(documents: dict[str, Any]) -> None:
    checked = 0
    for service, doc in documents.items():
        for method, path, op in operations(doc):
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                example = request_example(op, doc)
                assert example is not None
                jsonschema.validate(example[1], _schema_of(body, doc))
                checked += 1
            for status, response in op.get("responses", {}).items():
                content = response.get("content", {})
                media = next(iter(content), None)
                if media is None or "json" not in media:
                    continue
                example = response_examples(op, doc)[status]
                try:
                    jsonschema.validate(example, _schema_of(content[media], doc))
                except jsonschema.ValidationError as exc:
                    raise AssertionError(
                        f"{service} {method.upper()} {path} {status}: the example does not fit"
                        f" its schema: {exc.message}"
                    ) from None
                checked += 1
    assert checked >= 40, f"only {checked} examples were checked"


def test_every_problem_status_is_in_the_error_catalogue(documents: dict[str, Any]) -> None:
    statuses = {
        int(status)
        for doc in documents.values()
        for _, _, op in operations(doc)
        for status in op.get("responses", {})
        if str(status).isdigit() and int(status) >= 400
    }
    missing = statuses - set(ERRORS)
    assert not missing, f"statuses the documents answer with but the catalogue lacks: {missing}"
    page = render(documents, nonce="n")
    for code in statuses:
        assert f'id="error-{code}"' in page


def test_a_command_example_is_turkish(documents: dict[str, Any]) -> None:
    doc = documents["gateway"]
    op = doc["paths"]["/api/v1/commands"]["post"]
    example = request_example(op, doc)
    assert example is not None and any(c in str(example[1]) for c in "çğışöü"), example


def test_a_missing_document_is_shown_as_unavailable(documents: dict[str, Any]) -> None:
    page = render({"gateway": documents["gateway"], "runner": "http://runner: ConnectError"}, "n")
    assert "http://runner: ConnectError" in page and "not configured" in page
    assert 'data-path="/api/v1/commands"' in page


def test_page_text_is_escaped() -> None:
    doc = {"info": {"title": "<script>x</script>"}, "paths": {}}
    page = render({"gateway": doc}, "n")
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page


def test_example_for_handles_refs_enums_formats_and_cycles() -> None:
    doc = {
        "components": {
            "schemas": {
                "Node": {
                    "type": "object",
                    "required": ["id", "kind", "child"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "kind": {"enum": ["ALT", "LAST"]},
                        "child": {"$ref": "#/components/schemas/Node"},
                    },
                }
            }
        }
    }
    example = example_for({"$ref": "#/components/schemas/Node"}, doc)
    assert example["kind"] == "ALT" and len(example["id"]) == 36


def test_the_openapi_version_is_the_changelog_s(documents: dict[str, Any]) -> None:
    assert documents["gateway"]["info"]["version"] == API_VERSION == CHANGELOG[0].version
    versions = [tuple(int(n) for n in c.version.split(".")) for c in CHANGELOG]
    assert versions == sorted(versions, reverse=True), "the changelog is newest first"


def test_the_password_grant_is_flagged_deprecated(documents: dict[str, Any]) -> None:
    op = documents["gateway"]["paths"]["/api/v1/auth/token"]["post"]
    assert op.get("deprecated") is True
    deprecated = [path for _, path, op in operations(documents["gateway"]) if op.get("deprecated")]
    assert deprecated == ["/api/v1/auth/token"], deprecated


async def _call(deprecation: Deprecation, now: datetime) -> httpx.Response:
    app = FastAPI()

    @app.get("/old", dependencies=[Depends(deprecated_route(deprecation, lambda: now))])
    async def old() -> dict[str, str]:
        return {"still": "here"}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        return await client.get("/old")


SINCE = datetime(2026, 12, 2, tzinfo=UTC)
SUNSET = datetime(2027, 6, 30, tzinfo=UTC)


async def test_a_deprecated_route_answers_with_its_headers_until_the_sunset() -> None:
    dep = Deprecation(SINCE, SUNSET, "/api/v1/new")
    before = await _call(dep, SUNSET - timedelta(seconds=1))
    assert before.status_code == 200 and before.json() == {"still": "here"}
    assert before.headers["deprecation"] == f"@{int(SINCE.timestamp())}"
    assert parsedate_to_datetime(before.headers["sunset"]) == SUNSET
    assert '</api/v1/new>; rel="successor-version"' in before.headers["link"]
    after = await _call(dep, SUNSET)
    assert after.status_code == 410, after.text
    assert after.headers["content-type"].startswith("application/json") or after.json()
    assert "/api/v1/new" in after.text


def test_a_sunset_needs_notice() -> None:
    with pytest.raises(ValueError, match="180 days"):
        Deprecation(SINCE, SINCE + timedelta(days=30), "/x")
