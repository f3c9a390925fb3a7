"""JSON Schema validation of documents and events against reference_services/schemas/.

The schema files are the single source of truth; this module only loads them into one registry
and turns validation errors into a SchemaViolation that names the offending field.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from reference_services.common.errors import SchemaViolation

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
BASE_URI = "https://altlas.dev/schemas/"

DocumentKind = Literal["alt", "last", "atlas", "envelope"]
EventType = Literal[
    "command.submitted",
    "alt.created",
    "last.created",
    "atlas.created",
    "atlas.updated",
    "status.changed",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@cache
def _validator(uri: str) -> Draft202012Validator:
    schema = _registry().contents(uri)
    return Draft202012Validator(
        schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def schema_uri(kind: str) -> str:
    """URI of a document schema (`alt`) or an event data schema (`event:alt.created`)."""
    if kind.startswith("event:"):
        return f"{BASE_URI}events/{kind.removeprefix('event:')}.schema.json"
    return f"{BASE_URI}{kind}.schema.json"


def schema(kind: str) -> dict[str, Any]:
    """The raw JSON Schema for a kind (see schema_uri)."""
    return dict(_registry().contents(schema_uri(kind)))


@cache
def status_rank() -> dict[str, int]:
    """Each command status's rank, from `x-altlas-status-order` in the status.changed schema
    (statuses of one group share a rank; a status only moves to a higher one)."""
    groups = schema("event:status.changed")["x-altlas-status-order"]
    rank = {status: n for n, group in enumerate(groups) for status in group}
    if not all(s.isascii() and s.isidentifier() and s.islower() for s in rank):
        raise ValueError(f"x-altlas-status-order holds a name that is not a status: {rank}")
    return rank


def errors_of(kind: str, instance: Any) -> list[dict[str, Any]]:
    """All validation errors of `instance`, each with a JSON-pointer-like path and a message."""
    out = []
    for err in sorted(_validator(schema_uri(kind)).iter_errors(instance), key=lambda e: e.path):
        path = "/".join(str(p) for p in err.absolute_path)
        out.append({"path": path, "message": err.message})
    return out


def validate(kind: str, instance: Any) -> None:
    """Raise SchemaViolation unless `instance` is a valid document or event data of `kind`."""
    errors = errors_of(kind, instance)
    if errors:
        raise SchemaViolation(kind, errors)


def validate_event(envelope: dict[str, Any]) -> None:
    """Validate an envelope and then its data against the schema of its type."""
    validate("envelope", envelope)
    validate(f"event:{envelope['type']}", envelope["data"])
