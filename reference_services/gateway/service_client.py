"""What the gateway's clients of other services share: one async JSON client with timeouts
and the correlation id, and one reading of the answers. A 4xx means the service is up and
judged the request (`Rejected`, with its problem body); a 5xx, a timeout, a refused connection
or a 2xx that is not JSON means it could not serve (`Unavailable`, a TransientError: retry
later). Each client names its service and its two exceptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

import httpx
from opentelemetry.trace import SpanKind

from reference_services.common import tracing
from reference_services.common.errors import TransientError


class Unavailable(TransientError):
    """The service timed out, refused, failed, or answered what is not JSON."""


class Rejected(Exception):
    """The service answered 4xx; its problem body, passed on as it came."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(f"answered {status}: {body.get('detail', body)}")


class ServiceClient:
    service: ClassVar[str]
    unavailable: ClassVar[type[Unavailable]]
    rejected: ClassVar[type[Rejected]]

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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        correlation_id: str | None = None,
        on_404: Callable[[], Exception] | None = None,
    ) -> Any:
        """One request; its JSON body, or the exception its answer means (`on_404` makes the
        one a 404 raises; otherwise it is a rejection like any 4xx)."""
        headers = {"X-Correlation-Id": correlation_id} if correlation_id else {}
        with tracing.span(
            f"{method} {self.service}",
            kind=SpanKind.CLIENT,
            attributes={"peer.service": self.service},
        ) as current:
            tracing.inject_headers(headers)
            try:
                resp = await self._client.request(
                    method, path, params=params, json=json, headers=headers
                )
            except httpx.HTTPError as exc:
                tracing.fail(current, exc)
                raise self.unavailable(f"{self.service} unreachable: {type(exc).__name__}") from exc
            current.set_attribute("http.response.status_code", resp.status_code)
        if resp.status_code == 404 and on_404 is not None:
            raise on_404()
        if 400 <= resp.status_code < 500:
            try:
                body = resp.json()
            except ValueError:
                title = f"{self.service.capitalize()} rejected the request"
                body = {"title": title, "status": resp.status_code}
            raise self.rejected(resp.status_code, body)
        if resp.status_code >= 500:
            raise self.unavailable(f"{self.service} answered {resp.status_code}")
        try:
            return resp.json()
        except ValueError as exc:
            # A 2xx that is not JSON is a broken service, not a broken request.
            message = f"{self.service} answered {resp.status_code} without JSON"
            raise self.unavailable(message) from exc
