"""Forwarding to the archive's HTTP API, with timeouts: the gateway never hangs on it."""

from __future__ import annotations

from typing import Any

import httpx

from reference_services.common.errors import NotFound, TransientError


class ArchiveUnavailable(TransientError):
    """The archive timed out, refused or failed; the client should retry later."""


class ArchiveRejected(Exception):
    """The archive answered 4xx; passed through to the client as it came."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(f"archive answered {status}")


class ArchiveClient:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(timeout_s, connect=min(1.0, timeout_s))
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        headers = {"X-Correlation-Id": correlation_id} if correlation_id else {}
        try:
            resp = await self._client.request(
                method, path, params=params, json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"archive unreachable: {type(exc).__name__}") from exc
        if resp.status_code == 404:
            raise NotFound("atlas record", path.rsplit("/", 1)[-1])
        if 400 <= resp.status_code < 500:
            try:
                body = resp.json()
            except ValueError:
                body = {"title": "Archive rejected the request", "status": resp.status_code}
            raise ArchiveRejected(resp.status_code, body)
        if resp.status_code >= 500:
            raise ArchiveUnavailable(f"archive answered {resp.status_code}")
        result: dict[str, Any] = resp.json()
        return result

    async def ready(self) -> bool:
        try:
            resp = await self._client.get("/livez", timeout=2)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200
