"""Request rules the services check and their OpenAPI documents state in the same words.

A request the published schema admits must be one the service accepts, and a request it refuses
must be refused (API fuzzing holds every service to both). So each rule that pydantic's field
constraints cannot express is written once here, as a check *and* as the JSON Schema that says it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypeAliasType

# "Has a character that is not whitespace". Python's `\s`, ECMA-262's (JSON Schema) and Rust's
# (pydantic, jsonschema-rs) disagree on U+001C–U+001F, U+0085 and U+FEFF, so those are listed: the
# class then means the same in every engine, and the schema's `pattern` and the check agree.
NOT_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"
_NOT_BLANK = re.compile(NOT_BLANK)

# PostgreSQL text and jsonb cannot hold U+0000, so text the gateway stores must not contain it
# (the schema says so with this pattern). Nor can UTF-8, the wire to PostgreSQL and NATS, hold a
# lone UTF-16 surrogate (U+D800–U+DFFF), which JSON's "\\ud800" escape and Python's JSON parser
# let through; that rule is checked but not stated in the schema: a JSON Schema string is Unicode
# text, which has no lone surrogate, and Rust's regex engine (jsonschema-rs, which Schemathesis
# uses) refuses a pattern that names one. Hypothesis never generates one either.
NO_NUL = r"^[^\x00]*$"
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class SchemaPattern:
    """Adds a `pattern` to a string's JSON Schema, for a rule the service checks in code."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if "pattern" in json_schema:  # one pattern per schema object; more go in allOf
            json_schema.setdefault("allOf", []).append({"pattern": self.pattern})
        else:
            json_schema["pattern"] = self.pattern
        return json_schema


class Storable(SchemaPattern):
    """A string the gateway stores: 422 when it holds NUL or a lone surrogate, and the schema
    says so."""

    def __init__(self) -> None:
        super().__init__(NO_NUL)

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_storable, handler(source))


def _storable(value: str) -> str:
    found = _UNSTORABLE.search(value)
    if found is None:
        return value
    if found.group() == "\x00":
        raise ValueError("must not contain NUL (U+0000)")
    code = ord(found.group())
    raise ValueError(
        f"must not contain a lone UTF-16 surrogate (U+{code:04X}): it has no UTF-8 form"
    )


StoredText = Annotated[str, Storable()]


class _KeysByName:
    """Write a dict's key rule as `propertyNames`, so no key outside it counts as valid.

    pydantic states constrained keys as `patternProperties`, under which a key that does not
    match the pattern is merely unconstrained, i.e. valid: the opposite of what is checked.
    """

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        ((pattern, values),) = json_schema.pop("patternProperties").items()
        return {
            **json_schema,
            "propertyNames": {"pattern": pattern},
            "additionalProperties": values,
        }


# Client metadata: any JSON the gateway can store (no NUL or lone surrogate; no NaN or ±Infinity,
# which Python's JSON parser takes but jsonb refuses), nested as deep as the client likes.
MetadataValue = TypeAliasType(
    "MetadataValue",
    "StoredText | int | Annotated[float, Field(allow_inf_nan=False)] | bool"
    " | list[MetadataValue] | Metadata | None",
)
Metadata = TypeAliasType(
    "Metadata",
    Annotated[dict[StoredText, MetadataValue], _KeysByName()],
)


def _json_integer(value: object) -> object:
    # pydantic's lax mode also reads `true` and "3" as integers; JSON Schema counts neither
    # (3.0 it does count, and pydantic takes it, so strict mode would be wrong too).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    return value


ChaosLevel = Annotated[int, Field(ge=1, le=10), BeforeValidator(_json_integer)]

# mode = chaos ⇔ chaos_level is given; `if`/`then`/`else` is how OpenAPI 3.1 states such a rule.
CHAOS_LEVEL_RULE: dict[str, Any] = {
    "if": {"properties": {"mode": {"const": "chaos"}}, "required": ["mode"]},
    "then": {"properties": {"chaos_level": {"type": "integer"}}, "required": ["chaos_level"]},
    "else": {"properties": {"chaos_level": {"type": "null"}}},
}


def check_command(command: str, mode: str, chaos_level: int | None) -> None:
    """The rules of a command request beyond field types; ValueError names the broken one."""
    if not _NOT_BLANK.search(command):
        raise ValueError("command must contain non-whitespace characters")
    if mode == "chaos" and chaos_level is None:
        raise ValueError("chaos_level (1-10) is required when mode is 'chaos'")
    if mode != "chaos" and chaos_level is not None:
        raise ValueError("chaos_level is only allowed when mode is 'chaos'")


# RFC 3339 `date-time` as JSON Schema reads it: `T`/`Z` in either case, a leap second allowed.
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_MIN = datetime.min.replace(tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)


def _days_in(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_date_time(text: str) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime; ValueError for anything else.

    pydantic alone also takes `0.5` (a Unix time), `2024-01-01` and naive times, none of which is a
    `date-time`, and refuses year 0000 and leap seconds, which are. Instants Python cannot hold
    (year 0, or past year 9999 once moved to UTC) clamp to the earliest or latest it can: these
    values only ever bound a search, and no record lies beyond them.
    """
    m = _DATE_TIME.fullmatch(text)
    if m is None:
        raise ValueError("must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    off_h, off_m = (int(m[10]), int(m[11])) if m[9] else (0, 0)
    offset = (off_h * 60 + off_m) * (-1 if m[9] == "-" else 1)
    utc_minute = (hour * 60 + minute - offset) % 1440
    if not (
        1 <= month <= 12
        and 1 <= day <= _days_in(year, month)
        and hour <= 23
        and minute <= 59
        and (second <= 59 or (second == 60 and utc_minute == 23 * 60 + 59))
        and off_h <= 23
        and off_m <= 59
    ):
        raise ValueError(f"{text!r} is not a valid date-time (a field is out of range)")
    if year == 0:
        return _MIN
    micro = int((m[7] or "").ljust(6, "0")[:6])
    # A leap second is the last instant of its minute: a range bound loses nothing by it.
    local = datetime(
        year, month, day, hour, minute, min(second, 59), 999_999 if second == 60 else micro
    )
    try:
        return local.replace(tzinfo=timezone(timedelta(minutes=offset))).astimezone(UTC)
    except OverflowError:
        return _MIN if year == 1 else _MAX


def _date_time_input(value: object) -> object:
    if isinstance(value, str):
        return parse_date_time(value)
    if isinstance(value, datetime):
        return value
    raise ValueError("must be an RFC 3339 date-time string")


# A `format: date-time` parameter that accepts exactly what that format means, as UTC.
DateTime = Annotated[datetime, BeforeValidator(_date_time_input)]

_FULL_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _date_input(value: object) -> object:
    # RFC 3339 full-date only: pydantic alone would also take 0 (a Unix time) or a date-time.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _FULL_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date") from None
    raise ValueError("must be an RFC 3339 full-date, YYYY-MM-DD")


# A `format: date` parameter: YYYY-MM-DD and nothing else.
Date = Annotated[date, BeforeValidator(_date_input)]
