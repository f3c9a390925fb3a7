"""A 405 names every method of the path in `Allow`, for routes on the app itself and on routers
it includes (the gateway's routes live on routers; FastAPI keeps an included router as one
entry of the app's routes)."""

from __future__ import annotations

import uuid

import httpx
from fastapi import APIRouter, FastAPI

from reference_services.common.app import Readiness, create_app


def _app() -> FastAPI:
    app = create_app(title="t", version="1", description="d", lifespan=None, readiness=Readiness())
    router = APIRouter()

    @router.get("/things/{thing:uuid}")
    async def read(thing: uuid.UUID) -> dict[str, str]:
        return {"id": str(thing)}

    @router.patch("/things/{thing:uuid}")
    async def change(thing: uuid.UUID) -> dict[str, str]:
        return {"id": str(thing)}

    @app.get("/own")
    async def own() -> dict[str, str]:
        return {}

    app.include_router(router)
    return app


async def _call(method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        return await client.request(method, path)


async def test_a_405_on_an_included_router_names_every_method_of_the_path() -> None:
    answer = await _call("DELETE", f"/things/{uuid.uuid4()}")
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == "GET, PATCH", (
        f"expected Allow to list both methods of the path, got {answer.headers.get('allow')!r}"
    )


async def test_a_405_on_the_apps_own_route_names_its_method() -> None:
    answer = await _call("POST", "/own")
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == "GET", answer.headers
