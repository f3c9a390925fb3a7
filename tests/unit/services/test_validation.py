"""The request rules in common.validation: what the code checks equals what the schema states.

Schemathesis judges the services by their published JSON Schema, with jsonschema-rs; these
properties hold the hand-written checks to the same verdicts on any input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from reference_services.common.validation import (
    CHAOS_LEVEL_RULE,
    NOT_BLANK,
    ChaosLevel,
    Metadata,
    check_command,
    parse_date_time,
)

# Characters on which Python, ECMA-262 and Rust disagree about whitespace, plus plain ones.
TRICKY = "\x00\t\n\x0b\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2028\u202f\u3000\ufeffa.ç"
not_blank_schema = jsonschema_rs.validator_for({"type": "string", "pattern": NOT_BLANK})
date_time_schema = jsonschema_rs.validator_for(
    {"type": "string", "format": "date-time"}, validate_formats=True
)


def _accepts(command: str, mode: str = "normal", chaos_level: int | None = None) -> bool:
    try:
        check_command(command, mode, chaos_level)
    except ValueError:
        return False
    return True


# Lone surrogates cannot arrive: the body is UTF-8 (and jsonschema-rs refuses them).
@given(
    st.text(alphabet=st.sampled_from(TRICKY) | st.characters(exclude_categories=["Cs"]), max_size=6)
)
def test_blank_means_the_same_to_the_check_and_the_schema(command: str) -> None:
    assert _accepts(command) == not_blank_schema.is_valid(command), (
        f"{command!r}: check_command and the schema's pattern must agree on blankness"
    )


@given(
    st.sampled_from(["normal", "dream", "explore", "chaos"]),
    st.one_of(st.none(), st.integers(1, 10)),
)
def test_chaos_level_rule_means_the_same_to_the_check_and_the_schema(
    mode: str, chaos_level: int | None
) -> None:
    schema = jsonschema_rs.validator_for(CHAOS_LEVEL_RULE)
    body = {"mode": mode, "chaos_level": chaos_level}
    assert _accepts("aç", mode, chaos_level) == schema.is_valid(body), body


chaos_level = TypeAdapter(ChaosLevel | None)
chaos_level_schema = jsonschema_rs.validator_for(chaos_level.json_schema())


@given(
    st.none()
    | st.booleans()
    | st.integers(-2, 12)
    | st.floats(-2, 12, allow_nan=False)
    | st.integers(-2, 12).map(float)
    | st.integers(-2, 12).map(str)
)
def test_chaos_level_type_means_the_same_to_the_model_and_the_schema(value: object) -> None:
    try:
        chaos_level.validate_json(json.dumps(value))
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == chaos_level_schema.is_valid(value), f"chaos_level {value!r}"


# Strings shaped like RFC 3339 date-times, with fields in and out of range.
date_time_like = st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?",
    fullmatch=True,
)


@given(date_time_like | st.text(max_size=30))
def test_date_time_means_the_same_to_the_parser_and_the_schema(text: str) -> None:
    try:
        parse_date_time(text)
        parsed = True
    except ValueError:
        parsed = False
    assert parsed == date_time_schema.is_valid(text), (
        f"{text!r}: the parser and format: date-time must agree"
    )


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
def test_date_time_parses_to_the_same_instant_in_utc(local: datetime, offset_min: int) -> None:
    aware = local.replace(tzinfo=timezone(timedelta(minutes=offset_min)))
    parsed = parse_date_time(aware.isoformat())
    assert parsed == aware and parsed.tzinfo is UTC, (aware.isoformat(), parsed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0000-01-01T00:00:00Z", datetime.min.replace(tzinfo=UTC)),
        ("0001-01-01T00:00:00+05:00", datetime.min.replace(tzinfo=UTC)),
        ("9999-12-31T23:59:59-05:00", datetime.max.replace(tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
        ("2024-05-01t12:00:00.1234569z", datetime(2024, 5, 1, 12, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_date_time_edges_clamp_to_what_python_holds(text: str, expected: datetime) -> None:
    assert parse_date_time(text) == expected


@pytest.mark.parametrize(
    "text", ["0.5", "2024-01-01", "2024-01-01T00:00:00", "2016-12-31T12:59:60Z"]
)
def test_date_time_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(ValueError, match="date-time"):
        parse_date_time(text)


metadata = TypeAdapter(Metadata)
metadata_schema = jsonschema_rs.validator_for(metadata.json_schema())
keys = st.text(alphabet=st.sampled_from("ab\x00ç"), max_size=3)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from("x\x00 "), max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(keys, json_values, max_size=3))
def test_metadata_means_the_same_to_the_model_and_the_schema(value: dict[str, Any]) -> None:
    try:
        metadata.validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == metadata_schema.is_valid(value), value
    assert accepted == (not _holds_nul(value)), f"refused exactly when it holds NUL: {value!r}"


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False


SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]


@pytest.mark.parametrize("lone", SURROGATES)
def test_a_lone_surrogate_anywhere_in_metadata_is_refused_naming_it(lone: str) -> None:
    # JSON's "\\ud800" escape parses to a lone surrogate, which has no UTF-8 form: jsonb and NATS
    # cannot take it (it answered 500), so the model refuses it like NUL.
    for value in ({"a": lone}, {lone: 1}, {"a": [{"b": f"x{lone}y"}]}):
        with pytest.raises(
            ValidationError, match=f"lone UTF-16 surrogate \\(U\\+{ord(lone):04X}\\)"
        ):
            metadata.validate_python(value)
    # A surrogate *pair* in JSON is one character, and welcome.
    pair = json.loads('{"emoji": "\\ud83d\\ude00"}')
    assert metadata.validate_python(pair) == {"emoji": "\U0001f600"}
