"""The gateway's ETag middleware: a tag that follows the body, 304 on a match, Cache-Control per
route, and nothing done to other routes, methods or statuses."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_services.gateway.caching import ETagMiddleware, etag_of

STATE = {"status": "accepted"}


async def command(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["cid"], "status": STATE["status"]})


async def missing(request: Request) -> Response:
    return JSONResponse({"detail": "no"}, status_code=404)


async def other(request: Request) -> Response:
    return JSONResponse({"ok": True})


app = ETagMiddleware(
    Starlette(
        routes=[
            Route("/api/v1/commands/missing", missing),
            Route("/api/v1/commands/{cid}", command, methods=["GET", "POST"]),
            Route("/api/v1/other", other),
        ]
    )
)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_changed_body_gets_a_new_tag_and_an_unchanged_one_a_304() -> None:
    STATE["status"] = "accepted"
    async with _client() as c:
        first = await c.get("/api/v1/commands/c1")
        tag = first.headers["etag"]
        assert tag == etag_of(first.content)
        assert first.headers["cache-control"] == "private, no-cache"
        same = await c.get("/api/v1/commands/c1", headers={"If-None-Match": tag})
        assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == tag
        weak = await c.get("/api/v1/commands/c1", headers={"If-None-Match": f'"x", W/{tag}'})
        assert weak.status_code == 304
        STATE["status"] = "archived"
        changed = await c.get("/api/v1/commands/c1", headers={"If-None-Match": tag})
        assert changed.status_code == 200, "a changed answer is never a 304"
        assert changed.json()["status"] == "archived" and changed.headers["etag"] != tag


async def test_other_routes_methods_and_statuses_are_left_alone() -> None:
    async with _client() as c:
        assert "etag" not in (await c.get("/api/v1/other")).headers
        assert "etag" not in (await c.post("/api/v1/commands/c1")).headers
        miss = await c.get("/api/v1/commands/missing", headers={"If-None-Match": "*"})
        assert miss.status_code == 404 and "etag" not in miss.headers
