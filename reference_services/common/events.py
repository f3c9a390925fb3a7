"""The event envelope: build one, serialise it, parse and validate one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from reference_services.common import topology
from reference_services.common.schemas import EventType, validate_event

SCHEMA_VERSION = "1.0"
NAMESPACE = uuid.UUID("6f1c2a36-8a4e-4c8e-9a57-3e1d7b0c5a11")


def now_iso() -> str:
    """UTC now in RFC 3339 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def derived_id(kind: str, *parts: str) -> str:
    """A stable UUID for something derived from other ids, so a retried step makes the same one."""
    return str(uuid.uuid5(NAMESPACE, ":".join((kind, *parts))))


def make_event(
    event_type: EventType,
    *,
    source: str,
    subject: str,
    correlation_id: str,
    data: dict[str, Any],
    event_id: str | None = None,
) -> dict[str, Any]:
    """Build and validate an envelope. A stable `event_id` makes republishing idempotent."""
    envelope = {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "source": source,
        "time": now_iso(),
        "subject": subject,
        "schema_version": SCHEMA_VERSION,
        "correlation_id": correlation_id,
        "data": data,
    }
    validate_event(envelope)
    return envelope


class Publisher(Protocol):
    async def publish(self, subject: str, envelope: dict[str, Any]) -> None: ...


async def publish_status(
    messaging: Publisher,
    stage: str,
    status: str,
    *,
    source: str,
    command_id: str,
    correlation_id: str,
    **refs: str | None,
) -> None:
    """Publish a stage's `status.changed` for a command, on the stage's status subject. `refs`
    are the ids known so far and `detail` (each stage names those it has); the event id is
    stable per (stage, status, command), so a republish is deduplicated."""
    event = make_event(
        "status.changed",
        source=source,
        subject=command_id,
        correlation_id=correlation_id,
        data={"command_id": command_id, "stage": stage, "status": status, **refs, "at": now_iso()},
        event_id=f"status:{stage}:{status}:{command_id}",
    )
    await messaging.publish(topology.status_subject(stage), event)


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def decode(payload: bytes) -> dict[str, Any]:
    """Parse and validate; raises ValueError (bad JSON) or SchemaViolation."""
    try:
        envelope = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"payload is not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise ValueError("payload is not a JSON object")
    validate_event(envelope)
    return envelope
