"""The documentation portal (`portal.py`): the page, and the four documents it is made from.

The gateway's own document is its live OpenAPI; the other services' are fetched from
`portal_openapi_urls` (settings) and remembered for a minute, so a page view does not hit them.
A service that does not answer is shown as unavailable, not as an error page.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from reference_services.gateway.portal import SERVICES, render

router = APIRouter(tags=["docs"])

_TTL_S = 60.0


class PortalSources:
    """The other services' OpenAPI documents, fetched on demand and kept for `_TTL_S`."""

    def __init__(self, urls: dict[str, str], timeout_s: float = 2.0) -> None:
        unknown = set(urls) - set(SERVICES)
        if unknown:
            raise ValueError(f"portal_openapi_urls: unknown services {sorted(unknown)}")
        self.urls = urls
        self.timeout_s = timeout_s
        self._cache: dict[str, tuple[float, dict[str, Any] | str]] = {}

    async def documents(self) -> dict[str, dict[str, Any] | str]:
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            names = [s for s in SERVICES if s != "gateway"]
            found = await asyncio.gather(*(self._one(http, name) for name in names))
        return dict(zip(names, found, strict=True))

    async def _one(self, http: httpx.AsyncClient, name: str) -> dict[str, Any] | str:
        url = self.urls.get(name)
        if url is None:
            return "no portal_openapi_urls entry for it"
        hit = self._cache.get(name)
        if hit is not None and time.monotonic() - hit[0] < _TTL_S:
            return hit[1]
        try:
            resp = await http.get(url)
            resp.raise_for_status()
            doc: dict[str, Any] | str = resp.json()
            if not isinstance(doc, dict) or "paths" not in doc:
                doc = f"{url} did not answer with an OpenAPI document"
        except (httpx.HTTPError, ValueError) as exc:
            return f"{url}: {type(exc).__name__}"  # not remembered: try again next time
        self._cache[name] = (time.monotonic(), doc)
        return doc


async def _all(request: Request) -> dict[str, dict[str, Any] | str]:
    sources: PortalSources = request.app.state.portal_sources
    return {"gateway": request.app.openapi(), **(await sources.documents())}


@router.get("/portal", response_class=HTMLResponse, summary="API documentation portal")
async def portal(request: Request) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(
        render(await _all(request), nonce),
        headers={
            "Content-Security-Policy": (
                f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}';"
                " img-src 'self' data:;"
                " connect-src 'self'; frame-ancestors 'none'"
            ),
            "Cache-Control": "no-cache",
        },
    )


@router.get("/portal/openapi.json", summary="The four services' OpenAPI documents")
async def portal_documents(request: Request) -> JSONResponse:
    return JSONResponse(await _all(request))
