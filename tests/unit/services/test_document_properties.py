"""Any valid ALT/LAST/ATLAS (generated from the JSON Schemas) survives serialise → validate →
parse unchanged, alone and inside an event; an invalid one is rejected naming the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.strategies import documents
from reference_services.common.errors import SchemaViolation
from reference_services.common.events import decode, encode, make_event
from reference_services.common.schemas import schema, validate

KINDS = ("alt", "last", "atlas")
EVENT_OF = {"alt": "alt.created", "atlas": "atlas.created"}


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_valid_documents_round_trip(kind: str, data: st.DataObject) -> None:
    doc = data.draw(documents(kind))
    text = json.dumps(doc, ensure_ascii=False)
    parsed = json.loads(text)
    validate(kind, parsed)
    assert parsed == doc, "serialise → parse changed the document"


@pytest.mark.parametrize("kind", ["alt", "atlas"])
@given(data=st.data())
def test_valid_documents_round_trip_inside_events(kind: str, data: st.DataObject) -> None:
    doc = data.draw(documents(kind))
    event = make_event(
        EVENT_OF[kind],  # type: ignore[arg-type]
        source="property-test",
        subject=doc["command_id"],
        correlation_id="prop",
        data={kind: doc},
    )
    assert decode(encode(event)) == event


def _wrong_value(prop: dict[str, Any]) -> Any:
    """A value that no schema of ours accepts for this property."""
    types = prop.get("type")
    if types == "object" or (isinstance(types, list) and "object" in types):
        return "not an object"
    return {"unexpected": "object"}


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_invalid_documents_are_rejected_naming_the_field(kind: str, data: st.DataObject) -> None:
    doc = data.draw(documents(kind))
    props = schema(kind)["properties"]
    field = data.draw(st.sampled_from(sorted(schema(kind)["required"])))
    broken = copy.deepcopy(doc)
    how = data.draw(st.sampled_from(["remove", "wrong type"]))
    if how == "remove":
        del broken[field]
    else:
        broken[field] = _wrong_value(props[field])
    with pytest.raises(SchemaViolation) as info:
        validate(kind, broken)
    assert field in str(info.value), f"{how} {field!r}: the error should name it: {info.value}"
