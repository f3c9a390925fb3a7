"""The ALT_LAS JSON Schemas, read from reference_services/schemas/ as data (never imported code).

Suites validate what a deployment returns against these files; `HARNESS_SCHEMA_DIR` points
elsewhere if a deployment ships its own copy.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from harness.settings import HarnessSettings

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "reference_services" / "schemas"
BASE = "https://altlas.dev/schemas/"


def schema_dir() -> Path:
    """HARNESS_SCHEMA_DIR (HarnessSettings.schema_dir), or the reference services' schemas."""
    return HarnessSettings().schema_dir or DEFAULT_DIR


@cache
def _registry(folder: Path) -> Registry:
    resources = []
    for path in sorted(folder.rglob("*.schema.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


def errors(kind: str, instance: Any) -> list[str]:
    """Validation errors of a document (`alt`, `last`, `atlas`, `envelope`) or event data
    (`event:alt.created`), each as 'path: message'; empty when valid."""
    uri = (
        f"{BASE}events/{kind[6:]}.schema.json"
        if kind.startswith("event:")
        else f"{BASE}{kind}.schema.json"
    )
    registry = _registry(schema_dir())
    validator = Draft202012Validator(
        registry.contents(uri),
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def status_rank() -> dict[str, int]:
    """Each command status's rank, from `x-altlas-status-order` in the schemas' status.changed
    event (statuses of one group share a rank; a status only ever moves up)."""
    path = schema_dir() / "events" / "status.changed.schema.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    groups = doc.get("x-altlas-status-order")
    if not groups:
        raise ValueError(f"{path} declares no x-altlas-status-order: the checker needs it")
    return {status: rank for rank, group in enumerate(groups) for status in group}


def document_schema(kind: str) -> dict[str, Any]:
    """The raw JSON Schema of a document kind (`alt`, `last`, `atlas`, `envelope`)."""
    path = schema_dir() / f"{kind}.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def search_file(name: str) -> Path:
    """A file of the archive index's design (`search/` beside the schemas: query.json, ...)."""
    return schema_dir() / "search" / name


def search_match(q: str) -> dict[str, Any]:
    """The free-text clause the archive sends for `q` (search/query.json's multi_match)."""
    spec = json.loads(search_file("query.json").read_text(encoding="utf-8"))
    return {"multi_match": {"query": q, **spec["multi_match"]}}


def topology() -> dict[str, Any]:
    """The declared JetStream topology (`topology.json` beside the schemas): streams with
    their limits and durable consumers with their delivery settings."""
    path = schema_dir() / "topology.json"
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: the declared topology is unreadable: {exc}") from exc
    if not isinstance(doc.get("streams"), dict) or not isinstance(doc.get("consumers"), dict):
        raise ValueError(f"{path}: expected objects `streams` and `consumers`")
    return doc
