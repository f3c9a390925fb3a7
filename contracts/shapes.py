"""What the consumers expect of documents and events: example values wrapped in Pact matchers.

Matchers pin shapes (types, formats, enumerations), not values, so a provider passes with its own
ids and timestamps. Plain values pin what a consumer relies on exactly: an event's `type`, the
`schema_version`, a status the consumer branches on.

The examples are valid documents (reference_services/schemas): consumer tests feed them to the real
handlers, which validate what they receive, so an example that drifts from the schema fails there.
Every function returns fresh objects, so one interaction's shape never leaks into another's.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pact import match
from pact.match import AbstractMatcher

# RFC 3339 in UTC with milliseconds, as every service writes times (events.now_iso, and the
# archive's to_char(... 'MS"Z"')), in the Java SimpleDateFormat syntax Pact's matcher uses.
TIMESTAMP_FORMAT: Final = "yyyy-MM-dd'T'HH:mm:ss.SSSX"
SEGMENT_ID: Final = r"^s[0-9]+$"
MODES: Final = ("normal", "dream", "explore", "chaos")
LANGUAGES: Final = ("tr", "en")

COMMAND_ID: Final = "3f2b8c1e-5d4a-4b6e-9c7f-1a2b3c4d5e6f"
ALT_ID: Final = "7a1d2e3f-4b5c-4d6e-8f90-a1b2c3d4e5f6"
LAST_ID: Final = "9c8b7a6f-5e4d-4c3b-a291-0f1e2d3c4b5a"
ATLAS_ID: Final = "b1c2d3e4-f5a6-4b7c-8d9e-0a1b2c3d4e5f"
MISSING_ATLAS_ID: Final = "c0ffee00-0000-4000-8000-000000000404"
COMMAND: Final = "İstanbul hava durumunu ara ve sonuçları özetle"
BLANK_COMMAND: Final = "   "
CORRELATION_ID: Final = "contract-correlation-id"
USERNAME: Final = "demo-user"
AT: Final = "2026-01-15T09:30:00.000Z"
LATER: Final = "2026-01-15T09:30:00.250Z"
SUMMARY: Final = f'"{COMMAND}" ran as 1 segment: success, 100.0% completed.'


def timestamp(example: str = AT) -> AbstractMatcher[str]:
    """Any timestamp written the way the services write them."""
    return match.datetime(example, TIMESTAMP_FORMAT, disable_conversion=True)


def one_of(example: str, choices: tuple[str, ...]) -> AbstractMatcher[str]:
    """A string that is one of `choices` (an enumeration of the schemas)."""
    return match.regex(example, regex="^(" + "|".join(re.escape(c) for c in choices) + ")$")


def segment_id(example: str = "s1") -> AbstractMatcher[str]:
    return match.regex(example, regex=SEGMENT_ID)


def segment() -> dict[str, Any]:
    return {
        "id": segment_id(),
        "task_type": match.str("search"),
        "content": match.str("İstanbul hava durumunu ara"),
        "parameters": match.like({}),
        "dependencies": match.like([]),
        "priority": match.int(3),
    }


def alt(*, command: str = COMMAND) -> dict[str, Any]:
    """An ALT document in normal mode without a persona (what the examples' commands give)."""
    return {
        "schema_version": "1.0",
        "id": match.uuid(ALT_ID),
        "command_id": match.uuid(COMMAND_ID),
        "command": match.str(command),
        "language": one_of("tr", LANGUAGES),
        "mode": one_of("normal", MODES),
        "chaos_level": None,
        "persona": None,
        "created_at": timestamp(),
        "segments": match.each_like(segment(), min=1),
    }


def task_result() -> dict[str, Any]:
    return {
        "status": one_of("completed", ("completed", "failed", "skipped")),
        "started_at": timestamp(AT),
        "finished_at": timestamp(LATER),
        "duration_ms": match.int(12),
        "output": match.like({}),
        "error": None,
    }


def last() -> dict[str, Any]:
    """A LAST document of a run whose segments all completed."""
    return {
        "schema_version": "1.0",
        "id": match.uuid(LAST_ID),
        "alt_id": match.uuid(ALT_ID),
        "command_id": match.uuid(COMMAND_ID),
        "status": one_of("success", ("success", "partial_success", "failure")),
        "success_rate": match.number(1.0),
        "started_at": timestamp(AT),
        "finished_at": timestamp(LATER),
        "duration_ms": match.int(250),
        # Keys are segment ids. Pact's eachValue rule does not carry nested rules to every value,
        # so the example key's value is shape-checked and every key's format is.
        "task_results": match.each_key_matches({"s1": task_result()}, rules=segment_id()),
        "execution_graph": {
            "nodes": match.each_like(segment_id(), min=1),
            "edges": match.like([]),
        },
    }


def atlas(*, atlas_id: str | AbstractMatcher[str] | None = None) -> dict[str, Any]:
    """An ATLAS record; `atlas_id` pins the id (a read answers with the id it was asked for)."""
    return {
        "schema_version": "1.0",
        "id": atlas_id if atlas_id is not None else match.uuid(ATLAS_ID),
        "last_id": match.uuid(LAST_ID),
        "alt_id": match.uuid(ALT_ID),
        "command_id": match.uuid(COMMAND_ID),
        "command": match.str(COMMAND),
        "language": one_of("tr", LANGUAGES),
        "success_rate": match.number(1.0),
        "status": one_of("active", ("active", "archived", "deleted")),
        "tags": match.like(["search", "success:high"], min=1),
        "summary": match.str(SUMMARY),
        "created_at": timestamp(AT),
        "updated_at": timestamp(AT),
    }


def counts(example_key: str) -> AbstractMatcher[Any]:
    """A facet: value → number of matching records (which values appear depends on the data)."""
    return match.each_value_matches({example_key: 1}, rules=match.int(1))


def search_result() -> dict[str, Any]:
    return {
        "total": match.int(1),
        "page": 1,
        "size": 20,
        "items": match.each_like(atlas(), min=1),
        "facets": {
            "status": counts("active"),
            "tags": counts("search"),
            "language": counts("tr"),
        },
    }


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """An RFC 9457 problem body: the status exactly, the words by type."""
    return {"title": match.str(title), "status": status, "detail": match.str(detail)}


def envelope(
    event_type: str, *, source: str, event_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The event envelope every message travels in (envelope.schema.json)."""
    return {
        "id": match.str(event_id),
        "type": event_type,
        "source": match.str(source),
        "time": timestamp(),
        "subject": match.uuid(COMMAND_ID),
        "schema_version": "1.0",
        "correlation_id": match.str(CORRELATION_ID),
        "data": data,
    }


def command_submitted() -> dict[str, Any]:
    """data of command.submitted for a normal-mode command without persona or language hint."""
    return {
        "command_id": match.uuid(COMMAND_ID),
        "command": match.str(COMMAND),
        "mode": one_of("normal", MODES),
        "chaos_level": None,
        "persona": None,
        "language": None,
        "metadata": match.like({}),
        "submitted_by": match.str(USERNAME),
        "submitted_at": timestamp(),
    }


def status_changed(stage: str, status: str, **ids: Any) -> dict[str, Any]:
    """data of status.changed: stage and status exactly, plus the ids (or detail) given."""
    return {
        "command_id": match.uuid(COMMAND_ID),
        "stage": stage,
        "status": status,
        **ids,
        "at": timestamp(),
    }
