"""The JSON Schemas accept the documents the services build and reject bad ones by field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reference_services.archive.service import build_atlas
from reference_services.common.errors import SchemaViolation
from reference_services.common.events import decode, encode, make_event
from reference_services.common.schemas import validate, validate_event
from reference_services.segmentation.service import build_alt

CID = "0b0c5f5e-3f7e-4a53-9a55-3a5c1f4f2a10"


@pytest.fixture
def alt() -> dict[str, Any]:
    return build_alt(command_id=CID, command="Raporu oluştur, ardından ekibe gönder")


@pytest.fixture
def last(alt: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "id": "7d1f0c1e-2a4b-4c5d-8e9f-0a1b2c3d4e5f",
        "alt_id": alt["id"],
        "command_id": CID,
        "status": "success",
        "success_rate": 1.0,
        "started_at": "2026-01-01T00:00:00.000Z",
        "finished_at": "2026-01-01T00:00:01.000Z",
        "duration_ms": 1000,
        "task_results": {
            s["id"]: {
                "status": "completed",
                "started_at": "2026-01-01T00:00:00.000Z",
                "finished_at": "2026-01-01T00:00:00.500Z",
                "duration_ms": 500,
                "output": {},
                "error": None,
            }
            for s in alt["segments"]
        },
        "execution_graph": {"nodes": [s["id"] for s in alt["segments"]], "edges": [["s1", "s2"]]},
    }


def test_built_documents_are_valid(alt: dict[str, Any], last: dict[str, Any]) -> None:
    validate("alt", alt)
    validate("last", last)
    validate("atlas", build_atlas(last, alt))


@pytest.mark.parametrize(
    ("kind", "mutate", "field"),
    [
        ("alt", lambda d: d.update(language="de"), "language"),
        ("alt", lambda d: d.update(segments=[]), "segments"),
        ("alt", lambda d: d["segments"][0].update(priority=9), "segments/0/priority"),
        ("alt", lambda d: d["segments"][0].pop("task_type"), "segments/0/task_type"),
        ("alt", lambda d: d.update(id="not-a-uuid"), "id"),
        ("alt", lambda d: d.update(mode="chaos"), "chaos_level"),
        ("alt", lambda d: d.update(chaos_level=5), "chaos_level"),
        ("last", lambda d: d.update(success_rate=1.5), "success_rate"),
        ("last", lambda d: d.update(status="done"), "status"),
        ("last", lambda d: d.update(started_at="yesterday"), "started_at"),
        ("last", lambda d: d["task_results"]["s1"].update(status="ok"), "task_results/s1/status"),
        ("last", lambda d: d.update(extra=1), "extra"),
    ],
)
def test_invalid_documents_name_the_field(
    alt: dict[str, Any], last: dict[str, Any], kind: str, mutate: Any, field: str
) -> None:
    doc = copy.deepcopy(alt if kind == "alt" else last)
    mutate(doc)
    with pytest.raises(SchemaViolation) as info:
        validate(kind, doc)
    message = str(info.value)
    assert field.split("/")[-1] in message, f"expected the error to name {field!r}: {message}"


def test_event_envelope_round_trip(alt: dict[str, Any]) -> None:
    event = make_event(
        "alt.created", source="test", subject=CID, correlation_id="c-1", data={"alt": alt}
    )
    assert decode(encode(event)) == event


def test_event_data_is_validated_against_its_type(alt: dict[str, Any]) -> None:
    event = make_event(
        "alt.created", source="test", subject=CID, correlation_id="c-1", data={"alt": alt}
    )
    event["data"]["alt"]["language"] = "xx"
    with pytest.raises(SchemaViolation, match="language"):
        validate_event(event)
    with pytest.raises(SchemaViolation, match="type"):
        validate_event({**event, "type": "alt.deleted"})


@pytest.mark.parametrize("payload", [b"", b"{", b"[]", b'"text"', "ğ".encode("utf-16")])
def test_decode_rejects_non_events(payload: bytes) -> None:
    with pytest.raises((ValueError, SchemaViolation)):
        decode(payload)
