"""A typed client of segmentation's synchronous preview, `POST /v1/segment`, with timeouts.

Nothing in the gateway calls it yet: it exists so that the gateway's expectations of that endpoint
are pinned by a consumer contract (contracts/consumer) before a feature relies on them.
"""

from __future__ import annotations

from typing import Any

from reference_services.common.errors import SchemaViolation
from reference_services.common.models import AltDocument, Language, Mode
from reference_services.common.schemas import validate
from reference_services.gateway.service_client import Rejected, ServiceClient, Unavailable

__all__ = ["SegmentationClient", "SegmentationRejected", "SegmentationUnavailable"]


class SegmentationUnavailable(Unavailable):
    """Segmentation timed out, refused, failed, or answered something that is not an ALT."""


class SegmentationRejected(Rejected):
    """Segmentation answered 4xx (the command cannot be segmented as asked): the problem body."""


class SegmentationClient(ServiceClient):
    service = "segmentation"
    unavailable = SegmentationUnavailable
    rejected = SegmentationRejected

    async def segment(
        self,
        command: str,
        *,
        mode: Mode = "normal",
        chaos_level: int | None = None,
        persona: str | None = None,
        language: Language | None = None,
        correlation_id: str | None = None,
    ) -> AltDocument:
        """The ALT that segmentation would make of `command`; nothing is published.

        Raises SegmentationRejected for a 4xx answer and SegmentationUnavailable otherwise.
        """
        body: dict[str, Any] = {"command": command, "mode": mode}
        # Unset options are left out rather than sent as null: the request says only what it means.
        for name, value in (
            ("chaos_level", chaos_level),
            ("persona", persona),
            ("language", language),
        ):
            if value is not None:
                body[name] = value
        alt = await self._json("POST", "/v1/segment", json=body, correlation_id=correlation_id)
        try:
            # The JSON Schema is the source of truth; the model only gives the caller types.
            validate("alt", alt)
        except SchemaViolation as exc:
            raise SegmentationUnavailable(f"segmentation answered an invalid ALT: {exc}") from exc
        return AltDocument.model_validate(alt)
