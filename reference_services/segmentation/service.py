"""Segmentation's work: command.submitted → ALT document → alt.created + status event."""

from __future__ import annotations

import logging
from typing import Any

from reference_services.common import topology
from reference_services.common.events import derived_id, make_event, now_iso, publish_status
from reference_services.common.messaging import Messaging
from reference_services.common.schemas import validate
from reference_services.segmentation.segmenter import segment

log = logging.getLogger(__name__)
SOURCE = "altlas/segmentation"


def build_alt(
    *,
    command_id: str,
    command: str,
    mode: str = "normal",
    chaos_level: int | None = None,
    persona: str | None = None,
    language: str | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """The ALT for a command; its id is derived from the command id, so a retry makes the same."""
    result = segment(
        command, language=language, mode=mode, chaos_level=chaos_level if mode == "chaos" else None
    )
    alt = {
        "schema_version": "1.0",
        "id": derived_id("alt", command_id),
        "command_id": command_id,
        "command": command,
        "language": result.language,
        "mode": mode,
        "chaos_level": chaos_level if mode == "chaos" else None,
        "persona": persona,
        "created_at": created_at or now_iso(),
        "segments": result.segments,
    }
    validate("alt", alt)
    return alt


class SegmentationHandler:
    def __init__(self, messaging: Messaging) -> None:
        self.messaging = messaging

    async def __call__(self, envelope: dict[str, Any]) -> None:
        data = envelope["data"]
        command_id = data["command_id"]
        try:
            alt = build_alt(
                command_id=command_id,
                command=data["command"],
                mode=data["mode"],
                chaos_level=data.get("chaos_level"),
                persona=data.get("persona"),
                language=data.get("language"),
            )
        except ValueError as exc:
            log.warning("command cannot be segmented: %s", exc)
            await self._status(envelope, "failed", detail=f"segmentation failed: {exc}")
            return
        event = make_event(
            "alt.created",
            source=SOURCE,
            subject=command_id,
            correlation_id=envelope["correlation_id"],
            data={"alt": alt},
            event_id=f"alt.created:{alt['id']}",
        )
        await self.messaging.publish(topology.SUBJECT_ALT_CREATED, event)
        await self._status(envelope, "segmented", alt_id=alt["id"])
        log.info("segmented into %d segments", len(alt["segments"]))

    async def _status(
        self,
        envelope: dict[str, Any],
        status: str,
        *,
        alt_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        await publish_status(
            self.messaging, "segmentation", status, source=SOURCE,
            command_id=envelope["data"]["command_id"], correlation_id=envelope["correlation_id"],
            alt_id=alt_id, detail=detail,
        )  # fmt: skip
