"""A typed client of segmentation's synchronous preview, `POST /v1/segment`, with timeouts.

Nothing in the gateway calls it yet: it exists so that the gateway's expectations of that endpoint
are pinned by a consumer contract (contracts/consumer) before a feature relies on them.
"""

from __future__ import annotations

from typing import Any

import httpx

from reference_services.common.errors import SchemaViolation, TransientError
from reference_services.common.models import AltDocument, Language, Mode
from reference_services.common.schemas import validate

__all__ = ["SegmentationClient", "SegmentationRejected", "SegmentationUnavailable"]


class SegmentationUnavailable(TransientError):
    """Segmentation timed out, refused, failed, or answered something that is not an ALT."""


class SegmentationRejected(Exception):
    """Segmentation answered 4xx (the command cannot be segmented as asked): the problem body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(f"segmentation answered {status}: {body.get('detail', body)}")


class SegmentationClient:
    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=min(1.0, timeout_s)),
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SegmentationClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
        headers = {"X-Correlation-Id": correlation_id} if correlation_id else {}
        try:
            resp = await self._client.post("/v1/segment", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SegmentationUnavailable(
                f"segmentation unreachable: {type(exc).__name__}"
            ) from exc
        if 400 <= resp.status_code < 500:
            try:
                problem = resp.json()
            except ValueError:
                problem = {"title": "Segmentation rejected the request", "status": resp.status_code}
            raise SegmentationRejected(resp.status_code, problem)
        if resp.status_code >= 500:
            raise SegmentationUnavailable(f"segmentation answered {resp.status_code}")
        try:
            alt = resp.json()
            # The JSON Schema is the source of truth; the model only gives the caller types.
            validate("alt", alt)
        except (ValueError, SchemaViolation) as exc:
            raise SegmentationUnavailable(f"segmentation answered an invalid ALT: {exc}") from exc
        return AltDocument.model_validate(alt)
