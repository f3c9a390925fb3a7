"""The FastAPI app factory every service uses.

It adds what every service must have: correlation ids, JSON problem details for every error,
/livez, /readyz (each of the service's own dependencies checked), /metrics, request metrics,
and a uvicorn runner with graceful shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import fastapi.routing
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_services.common import metrics, tracing
from reference_services.common.errors import NotFound, SchemaViolation, TransientError
from reference_services.common.logging import correlation_id_var
from reference_services.common.settings import ServiceSettings

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem+json error codes."""
    return {
        code: {
            "description": "Problem details",
            "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}},
        }
        for code in codes
    }


class Readiness:
    """Named readiness checks; /readyz is 200 only when all pass."""

    def __init__(self) -> None:
        self.checks: dict[str, ReadinessCheck] = {}
        self.shutting_down = False

    def add(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    async def run(self) -> dict[str, bool]:
        async def _one(check: ReadinessCheck) -> bool:
            try:
                return await asyncio.wait_for(check(), timeout=3)
            except Exception:
                return False

        names = list(self.checks)
        results = await asyncio.gather(*(_one(self.checks[n]) for n in names))
        return dict(zip(names, results, strict=True))


class CorrelationMiddleware:
    """Correlation id (from X-Correlation-Id, or new) in the log context and on the response,
    and the request metrics. Pure ASGI: Starlette's BaseHTTPMiddleware runs each request in an
    extra task with memory streams, which cost more than the gateway's own work on a read."""

    def __init__(self, app: ASGIApp, trust_traceparent: bool = True) -> None:
        self.app = app
        # False at an edge (the gateway): a client's traceparent becomes a link, not the parent.
        self.trust_traceparent = trust_traceparent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = ""
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                cid = value.decode("latin-1")
                break
        cid = cid or str(uuid.uuid4())
        token = correlation_id_var.set(cid)
        started = time.perf_counter()
        status = 500
        # What handlers leave for this middleware (request.state): `principal`, the caller (the
        # gateway's auth), for the usage metrics; `response_headers`, headers every answer to
        # this request carries — the gateway's RateLimit-* — an error answer included, which an
        # exception handler builds afresh.
        state = scope.setdefault("state", {})

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Correlation-Id"] = cid
                for name, value in (state.get("response_headers") or {}).items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        method = scope["method"]
        incoming = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                    if k in (b"traceparent", b"tracestate")}  # fmt: skip
        with tracing.span(
            f"{method} {scope['path']}",
            kind=SpanKind.SERVER,
            parent_headers=incoming if self.trust_traceparent else None,
            link_headers=None if self.trust_traceparent else incoming,
        ) as current:
            try:
                await self.app(scope, receive, _send)
            finally:
                correlation_id_var.reset(token)
                route = scope.get("route")
                path = getattr(route, "path", "unmatched")
                metrics.HTTP_REQUESTS.labels(method, path, str(status)).inc()
                took = time.perf_counter() - started
                metrics.HTTP_SECONDS.labels(method, path).observe(took)
                if scope["path"].startswith("/api/"):
                    caller = str(state.get("principal") or "anonymous")
                    metrics.API_REQUESTS.labels(caller, method, path, str(status)).inc()
                    metrics.API_SECONDS.labels(caller, path).observe(took)
                current.update_name(f"{method} {path}")
                current.set_attribute("http.response.status_code", status)
                if status >= 500:
                    current.set_status(Status(StatusCode.ERROR))


def create_app(
    *,
    title: str,
    version: str,
    description: str,
    lifespan: Any,
    readiness: Readiness,
    inner_middleware: tuple[Any, ...] = (),
    trust_traceparent: bool = True,
) -> FastAPI:
    """The app with what every service shares; `inner_middleware` runs inside the correlation
    middleware (so its answers, e.g. a 304, are what the request metrics count).
    `trust_traceparent` False: an incoming traceparent is linked, not continued (an edge)."""
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        # 400: a body that is not even text (not UTF-8) fails before JSON parsing does (422).
        responses=problem_responses(400, 422, 500),
    )

    for middleware in inner_middleware:
        app.add_middleware(middleware)
    app.add_middleware(CorrelationMiddleware, trust_traceparent=trust_traceparent)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; Allow must list all.
            headers["Allow"] = _allowed_methods(request.app, request.scope["path"]) or headers.get(
                "Allow", ""
            )
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field'] or '(body)'}: {e['message']}" for e in errors)
        return problem(422, "Unprocessable Content", detail, errors=errors)

    @app.exception_handler(SchemaViolation)
    async def _schema(_: Request, exc: SchemaViolation) -> JSONResponse:
        return problem(422, "Unprocessable Content", str(exc), errors=exc.errors)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, "Not Found", str(exc))

    @app.exception_handler(TransientError)
    async def _transient(_: Request, exc: TransientError) -> JSONResponse:
        # Retry-After has whole seconds only; never 0, which would invite an immediate retry.
        retry_after = max(1, math.ceil(exc.retry_after_s or 0))
        return problem(
            503, "Service Unavailable", str(exc), headers={"Retry-After": str(retry_after)}
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "unexpected error; see the service log")

    @app.get("/livez", tags=["ops"], summary="Liveness: the process serves requests")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness: every dependency of this service answers",
        responses={503: {"description": "Not ready"}},
    )
    async def readyz() -> JSONResponse:
        results = await readiness.run()
        ok = all(results.values()) and not readiness.shutting_down
        return JSONResponse(
            {
                "status": "ready" if ok else "not ready",
                "checks": results,
                "shutting_down": readiness.shutting_down,
            },
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _allowed_methods(app: FastAPI, path: str) -> str:
    # Every route, those of included routers too: FastAPI keeps an included router as one
    # entry of `app.router.routes`; `iter_route_contexts` lists its routes.
    methods: set[str] = set()
    for route in fastapi.routing.iter_route_contexts(app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.fullmatch(path):
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run under uvicorn; SIGTERM stops accepting, drains requests, then runs the lifespan exit."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        lifespan="on",
        # uvloop (from uvicorn[standard]): a faster event loop for the same code; the services'
        # throughput rose with it in `make bench` (see docs/load.md).
        loop="uvloop",
    )
    uvicorn.Server(config).run()
