"""The gateway's public API under /api/v1: auth, commands, documents, archive search."""

import asyncio
import logging
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from reference_services.common import topology
from reference_services.common.app import Readiness, create_app, problem, problem_responses
from reference_services.common.db import Database
from reference_services.common.logging import correlation_id_var, log_context
from reference_services.common.models import (
    AltDocument,
    AtlasDocument,
    AtlasStatus,
    Language,
    LastDocument,
    Mode,
)
from reference_services.common.resilience import CircuitBreaker, RetryPolicy
from reference_services.common.runtime import Runtime, lifespan_for
from reference_services.common.validation import (
    CHAOS_LEVEL_RULE,
    NOT_BLANK,
    ChaosLevel,
    DateTime,
    Metadata,
    NoNul,
    SchemaPattern,
    check_command,
)
from reference_services.gateway import commands
from reference_services.gateway.archive_client import ArchiveClient, ArchiveRejected
from reference_services.gateway.auth import (
    AuthError,
    Principal,
    TokenService,
    hash_password,
    verify_password,
)
from reference_services.gateway.projection import StatusProjection
from reference_services.gateway.ratelimit import TokenBucketLimiter
from reference_services.gateway.relay import OutboxRelay
from reference_services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
API = "/api/v1"
CommandStatusName = Literal["accepted", "segmented", "running", "completed", "failed", "archived"]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Looked up in PostgreSQL, which cannot take NUL: such a name is refused, not a 500.
    username: Annotated[str, Field(min_length=1, max_length=100), NoNul()]
    password: str = Field(min_length=1, max_length=200)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=4000)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class CommandRequest(BaseModel):
    # The schema states the cross-field rules the validator checks (see common.validation).
    model_config = ConfigDict(extra="forbid", json_schema_extra=CHAOS_LEVEL_RULE)

    # Text fields and metadata are stored in PostgreSQL, so they hold no NUL (see NoNul).
    command: Annotated[str, Field(min_length=1, max_length=4000), NoNul(), SchemaPattern(NOT_BLANK)]
    mode: Mode = "normal"
    chaos_level: ChaosLevel | None = None
    persona: Annotated[str, Field(max_length=100), NoNul()] | None = None
    language: Language | None = None
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _check(self) -> "CommandRequest":
        check_command(self.command, self.mode, self.chaos_level)
        return self


class CommandLinks(BaseModel):
    self: str
    alt: str
    last: str
    atlas: str


class CommandAccepted(BaseModel):
    id: uuid.UUID
    status: CommandStatusName
    links: CommandLinks


class CommandStatus(BaseModel):
    id: uuid.UUID
    status: CommandStatusName
    final: bool = Field(
        description="True when nothing more will happen to this command: it is archived, or a"
        " stage failed it before execution produced a LAST (a failed execution is still archived)"
    )
    detail: str | None
    command: str
    mode: Mode
    language: Language | None
    submitted_by: str
    alt_id: uuid.UUID | None
    last_id: uuid.UUID | None
    atlas_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    links: CommandLinks


class ArchiveSearchResult(BaseModel):
    total: int
    page: int
    size: int
    items: list[AtlasDocument]
    facets: dict[str, dict[str, int]]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: AtlasStatus


# OpenAPI links: where a client goes next with the id in an answer. Stateful API fuzzing follows
# them: submit → status → documents. Documents hang off the status, not the submission: a 202
# promises processing, not documents, which appear (404 + Retry-After until then) stage by stage.
ACCEPTED_LINKS: dict[str, Any] = {
    "GetCommandStatus": {
        "operationId": "get_command",
        "parameters": {"command_id": "$response.body#/id"},
        "description": "The accepted command's status",
    }
}
STATUS_LINKS: dict[str, Any] = {
    f"GetCommand{kind.capitalize()}": {
        "operationId": f"get_command_{kind}",
        "parameters": {"command_id": "$response.body#/id"},
        "description": f"The command's {kind.upper()} document, once that stage has produced it",
    }
    for kind in ("alt", "last", "atlas")
}


def _links(command_id: str) -> dict[str, str]:
    base = f"{API}/commands/{command_id}"
    return {"self": base, "alt": f"{base}/alt", "last": f"{base}/last", "atlas": f"{base}/atlas"}


def _status_body(row: dict[str, Any]) -> dict[str, Any]:
    cid = str(row["id"])
    return {
        "id": cid,
        "status": row["status"],
        "final": row["status"] == "archived"
        or (row["status"] == "failed" and row["last_id"] is None),
        "detail": row["status_detail"],
        "command": row["command"],
        "mode": row["mode"],
        "language": row["language"],
        "submitted_by": row["username"],
        "alt_id": row["alt_id"],
        "last_id": row["last_id"],
        "atlas_id": row["atlas_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "links": _links(cid),
    }


def build_app(settings: GatewaySettings) -> FastAPI:
    readiness = Readiness()
    runtime = Runtime(settings, readiness)
    tokens = TokenService(
        settings.jwt_private_key,
        kid=settings.jwt_key_id,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl_s=settings.access_token_ttl_s,
        refresh_ttl_s=settings.refresh_token_ttl_s,
    )
    limiter = TokenBucketLimiter(settings.rate_limit_capacity, settings.rate_limit_refill_per_s)
    archive = ArchiveClient(
        settings.archive_url,
        settings.archive_timeout_s,
        breaker=CircuitBreaker(
            settings.archive_breaker_failures, settings.archive_breaker_reset_s, name="archive"
        ),
        retry=RetryPolicy(
            base_s=settings.archive_retry_base_s,
            max_s=4 * settings.archive_retry_base_s,
            max_attempts=settings.archive_retry_attempts,
        ),
    )

    async def start(rt: Runtime) -> None:
        pool = rt.database.pool
        for user in settings.seed_users:
            await pool.execute(
                "INSERT INTO users (username, password_hash, roles) VALUES ($1, $2, $3)"
                " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
                " roles = EXCLUDED.roles",
                user["username"],
                hash_password(user["password"]),
                [user["role"]],
            )
        relay = OutboxRelay(
            pool,
            rt.messaging,
            poll_s=settings.outbox_poll_s,
            batch=settings.outbox_batch,
            retention_s=settings.outbox_retention_s,
            prune_every_s=settings.outbox_prune_every_s,
        )
        relay.start()
        rt.extras["relay"] = relay
        rt.messaging.consume(topology.GATEWAY_PROJECTION, StatusProjection(pool))

    async def stop(rt: Runtime) -> None:
        relay: OutboxRelay | None = rt.extras.get("relay")
        if relay is not None:
            await relay.stop()
        await archive.close()

    app = create_app(
        title="ALT_LAS API Gateway",
        version="1.0.0",
        description=(
            "Public API of ALT_LAS: submit natural-language commands (Turkish or English), follow"
            " their status through segmentation, execution and archiving, and search the archive."
        ),
        lifespan=lifespan_for(
            runtime, database=Database(settings, MIGRATIONS), start=start, stop=stop
        ),
        readiness=readiness,
    )
    bearer = HTTPBearer(auto_error=False)

    def _pool(request: Request) -> Any:
        rt: Runtime = request.app.state.runtime
        return rt.database.pool

    async def principal(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(
                401, "a Bearer access token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            who = tokens.verify(creds.credentials)
        except AuthError as exc:
            raise HTTPException(
                401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
        decision = limiter.acquire(who.username)
        if not decision.allowed:
            raise HTTPException(
                429,
                f"rate limit exceeded for user {who.username!r}",
                headers={"Retry-After": limiter.retry_after_header(decision)},
            )
        return who

    def require(*roles: str) -> Any:
        async def _check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            if not who.has_any(roles):
                raise HTTPException(403, f"this operation needs one of the roles {list(roles)}")
            return who

        return _check

    any_role = require("admin", "user", "viewer")
    authn = problem_responses(401, 403, 429)

    @app.get("/.well-known/jwks.json", tags=["auth"], summary="Public keys that sign tokens")
    async def jwks() -> dict[str, Any]:
        return tokens.jwks()

    @app.post(
        f"{API}/auth/login",
        response_model=TokenResponse,
        tags=["auth"],
        summary="Exchange username and password for tokens",
        responses=problem_responses(401, 422),
    )
    async def login(body: LoginRequest, request: Request) -> dict[str, Any]:
        row = await _pool(request).fetchrow(
            "SELECT password_hash, roles FROM users WHERE username = $1", body.username
        )
        # Hash even for unknown users so timing does not reveal which names exist.
        stored = row["password_hash"] if row else hash_password("x")
        ok = await asyncio.to_thread(verify_password, body.password, stored)
        if row is None or not ok:
            raise HTTPException(401, "unknown user or wrong password")
        return tokens.issue(body.username, tuple(row["roles"]))

    @app.post(
        f"{API}/auth/refresh",
        response_model=TokenResponse,
        tags=["auth"],
        summary="Exchange a refresh token for new tokens",
        responses=problem_responses(401, 422),
    )
    async def refresh(body: RefreshRequest, request: Request) -> dict[str, Any]:
        try:
            who = tokens.verify(body.refresh_token, typ="refresh")
        except AuthError as exc:
            raise HTTPException(401, str(exc)) from None
        row = await _pool(request).fetchrow(
            "SELECT roles FROM users WHERE username = $1", who.username
        )
        if row is None:
            raise HTTPException(401, "user no longer exists")
        return tokens.issue(who.username, tuple(row["roles"]))

    @app.post(
        f"{API}/commands",
        status_code=202,
        response_model=CommandAccepted,
        tags=["commands"],
        summary="Submit a command; it is processed asynchronously",
        responses={**authn, **problem_responses(409, 422), 202: {"links": ACCEPTED_LINKS}},
        operation_id="submit_command",
    )
    async def submit(
        body: CommandRequest,
        request: Request,
        response: Response,
        who: Annotated[Principal, Depends(require("admin", "user"))],
        idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
    ) -> dict[str, Any]:
        try:
            row, created = await commands.accept(
                _pool(request),
                username=who.username,
                body=body.model_dump(),
                idempotency_key=idempotency_key,
                correlation_id=correlation_id_var.get() or "",
            )
        except commands.IdempotencyConflict as exc:
            raise HTTPException(409, str(exc)) from None
        cid = str(row["id"])
        response.headers["Location"] = f"{API}/commands/{cid}"
        if not created:
            response.headers["Idempotent-Replayed"] = "true"
        with log_context(command_id=cid):
            log.info("command accepted" if created else "idempotent replay of an accepted command")
        return {"id": cid, "status": row["status"], "links": _links(cid)}

    async def _own_command(
        request: Request, command_id: uuid.UUID, who: Principal
    ) -> dict[str, Any]:
        row = await commands.get(_pool(request), str(command_id))
        if row["username"] != who.username and not who.has_any(("admin", "viewer")):
            # Same answer as a missing command: do not confirm that someone else's id exists.
            raise HTTPException(404, f"command {str(command_id)!r} not found")
        return row

    @app.get(
        f"{API}/commands/{{command_id}}",
        response_model=CommandStatus,
        tags=["commands"],
        summary="A command's status and the ids of its documents",
        responses={**authn, **problem_responses(404, 422), 200: {"links": STATUS_LINKS}},
        operation_id="get_command",
    )
    async def command_status(
        command_id: uuid.UUID,
        request: Request,
        who: Annotated[Principal, Depends(any_role)],
    ) -> dict[str, Any]:
        return _status_body(await _own_command(request, command_id, who))

    def _document_route(kind: str, model: Any) -> None:
        async def read_document(
            command_id: uuid.UUID,
            request: Request,
            who: Annotated[Principal, Depends(any_role)],
        ) -> Any:
            await _own_command(request, command_id, who)
            doc = await commands.get_document(_pool(request), str(command_id), kind)
            if doc is None:
                return problem(
                    404,
                    "Not Found",
                    f"the {kind} document of command {command_id} is not available yet",
                    headers={"Retry-After": "1"},
                )
            return doc

        app.get(
            f"{API}/commands/{{command_id}}/{kind}",
            response_model=model,
            tags=["commands"],
            summary=f"The {kind.upper()} document of a command",
            responses={**authn, **problem_responses(404, 422)},
            operation_id=f"get_command_{kind}",
        )(read_document)

    _document_route("alt", AltDocument)
    _document_route("last", LastDocument)
    _document_route("atlas", AtlasDocument)

    async def _forward(request: Request, method: str, path: str, **kw: Any) -> Any:
        try:
            return await archive.request(
                method, path, correlation_id=correlation_id_var.get(), **kw
            )
        except ArchiveRejected as exc:
            return JSONResponse(
                exc.body, status_code=exc.status, media_type="application/problem+json"
            )

    @app.get(
        f"{API}/archive/search",
        response_model=ArchiveSearchResult,
        tags=["archive"],
        summary="Search archived commands (full text, filters, facets)",
        responses={**authn, **problem_responses(422, 503)},
    )
    async def archive_search(
        request: Request,
        who: Annotated[Principal, Depends(any_role)],
        q: Annotated[str | None, Query(max_length=500)] = None,
        status: AtlasStatus | None = None,
        tag: Annotated[list[str] | None, Query(max_length=10)] = None,
        language: Language | None = None,
        min_success_rate: Annotated[float | None, Query(ge=0, le=1)] = None,
        created_from: DateTime | None = None,
        created_to: DateTime | None = None,
        # page × size stays within OpenSearch's 10 000-hit result window (the archive's limits).
        page: Annotated[int, Query(ge=1, le=100)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Any:
        params: list[tuple[str, str]] = [("page", str(page)), ("size", str(size))]
        for name, value in (
            ("q", q),
            ("status", status),
            ("language", language),
            ("min_success_rate", min_success_rate),
            ("created_from", created_from.isoformat() if created_from else None),
            ("created_to", created_to.isoformat() if created_to else None),
        ):
            if value is not None:
                params.append((name, str(value)))
        params.extend(("tag", t) for t in tag or [])
        return await _forward(request, "GET", "/v1/atlas/search", params=params)

    # `:uuid` keeps ".../search" from also matching this route: a PATCH there is a 405, not an
    # id that fails validation (422), and a 405's Allow header names only the search's GET.
    @app.get(
        f"{API}/archive/{{atlas_id:uuid}}",
        response_model=AtlasDocument,
        tags=["archive"],
        summary="One archived record",
        responses={**authn, **problem_responses(404, 422, 503)},
    )
    async def archive_read(
        atlas_id: uuid.UUID,
        request: Request,
        who: Annotated[Principal, Depends(any_role)],
    ) -> Any:
        return await _forward(request, "GET", f"/v1/atlas/{atlas_id}")

    @app.patch(
        f"{API}/archive/{{atlas_id:uuid}}",
        response_model=AtlasDocument,
        tags=["archive"],
        summary="Change an archived record's status (admin)",
        responses={**authn, **problem_responses(404, 422, 503)},
    )
    async def archive_change(
        atlas_id: uuid.UUID,
        body: StatusChange,
        request: Request,
        who: Annotated[Principal, Depends(require("admin"))],
    ) -> Any:
        return await _forward(request, "PATCH", f"/v1/atlas/{atlas_id}", json=body.model_dump())

    return app
