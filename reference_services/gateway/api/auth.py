"""Tokens: the public keys that sign them, login with a password, refresh, and logout.

Failed logins are throttled per username (`login_failure_burst`, refilled at
`login_failure_refill_per_min`; see `login_gate.py`): a password cannot be guessed faster than
that from any number of addresses or connections, and a correct password is refused too while
the name is throttled, so the answer does not tell a guesser when it hit. Each refresh token
works once (see `sessions.py`).
"""

import asyncio
import functools
import secrets
import urllib.parse
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from reference_services.common.app import problem_responses
from reference_services.gateway.api.deps import deprecated_route, pool, services
from reference_services.gateway.api_changes import PASSWORD_GRANT
from reference_services.gateway.auth import AuthError, Principal, hash_password, verify_password
from reference_services.gateway.login_gate import Throttled
from reference_services.gateway.models import API, LoginRequest, RefreshRequest, TokenResponse
from reference_services.gateway.ratelimit import TokenBucketLimiter

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public keys that sign tokens")
async def jwks(request: Request) -> dict[str, Any]:
    return services(request).tokens.jwks()


@router.post(
    f"{API}/auth/login",
    response_model=TokenResponse,
    summary="Exchange username and password for tokens",
    responses=problem_responses(401, 422, 429),
)
async def login(body: LoginRequest, request: Request) -> dict[str, Any]:
    return await _password_login(request, body.username, body.password)


async def _password_login(request: Request, username: str, password: str) -> dict[str, Any]:
    gateway = services(request)
    try:
        async with gateway.login_gate.attempt(username) as attempt:
            row = await pool(request).fetchrow(
                "SELECT password_hash, roles FROM users WHERE username = $1", username
            )
            # Check a hash even for unknown users, so timing does not reveal which names exist.
            stored = row["password_hash"] if row else _dummy_hash()
            ok = await asyncio.to_thread(verify_password, password, stored)
            if row is None or not ok:
                attempt.failed()
    except Throttled as throttled:
        raise HTTPException(
            429,
            f"too many failed logins for {username!r}: try again later",
            headers={"Retry-After": TokenBucketLimiter.retry_after_header(throttled.decision)},
        ) from None
    if row is None or not ok:
        raise HTTPException(401, "unknown user or wrong password")
    issued = await gateway.sessions.start(pool(request), username)
    return gateway.tokens.issue(
        username, tuple(row["roles"]), session=issued.session, refresh_id=issued.token_id
    )


_FORM = "application/x-www-form-urlencoded"


@router.post(
    f"{API}/auth/token",
    response_model=TokenResponse,
    summary="OAuth 2.0 password grant (deprecated: use /api/v1/auth/login)",
    description=(
        "Form-encoded `grant_type=password&username=…&password=…` (RFC 6749 §4.3), kept for"
        " older clients. Deprecated: the answer carries `Deprecation`, `Sunset` and `Link`"
        " headers, and after the sunset this route answers 410."
    ),
    deprecated=True,
    responses={**problem_responses(400, 401, 410, 415, 422, 429)},
    dependencies=[Depends(deprecated_route(PASSWORD_GRANT))],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                _FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "username", "password"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["password"]},
                            # The same rules as the JSON login's body.
                            **LoginRequest.model_json_schema()["properties"],
                        },
                    }
                }
            },
        }
    },
)
async def password_grant(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        raise HTTPException(415, f"send the form as {_FORM}")
    raw = await request.body()
    try:
        form = urllib.parse.parse_qs(
            raw.decode(), keep_blank_values=True, strict_parsing=bool(raw), errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form is not valid URL-encoded UTF-8") from None
    # Other fields (scope, client_id, ...) are ignored, as RFC 6749 lets a server do.
    fields = {k: v for k, v in form.items() if k in ("grant_type", "username", "password")}
    if any(len(v) != 1 for v in fields.values()):
        raise HTTPException(400, "grant_type, username and password may each be given once")
    if fields.get("grant_type") != ["password"]:
        raise HTTPException(400, "grant_type must be password")
    try:
        body = LoginRequest.model_validate(
            {k: fields[k][0] for k in ("username", "password") if k in fields}
        )
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return await _password_login(request, body.username, body.password)


@functools.cache
def _dummy_hash() -> str:
    """One hash of a random password, made once (hashing is slow on purpose)."""
    return hash_password(secrets.token_urlsafe(16))


def _refresh_principal(request: Request, token: str) -> Principal:
    try:
        return services(request).tokens.verify(token, typ="refresh")
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from None


@router.post(
    f"{API}/auth/refresh",
    response_model=TokenResponse,
    summary="Exchange a refresh token for new tokens (the old one stops working)",
    responses=problem_responses(401, 422),
)
async def refresh(body: RefreshRequest, request: Request) -> dict[str, Any]:
    gateway = services(request)
    who = _refresh_principal(request, body.refresh_token)
    try:
        issued = await gateway.sessions.rotate(pool(request), who.token_id, who.username)
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from None
    row = await pool(request).fetchrow("SELECT roles FROM users WHERE username = $1", who.username)
    if row is None:
        raise HTTPException(401, "user no longer exists")
    return gateway.tokens.issue(
        who.username, tuple(row["roles"]), session=issued.session, refresh_id=issued.token_id
    )


@router.post(
    f"{API}/auth/logout",
    status_code=204,
    summary="End the session of a refresh token (its access tokens expire on their own)",
    responses=problem_responses(401, 422),
)
async def logout(body: RefreshRequest, request: Request) -> Response:
    who = _refresh_principal(request, body.refresh_token)
    if not await services(request).sessions.end(pool(request), who.token_id):
        raise HTTPException(401, "unknown refresh token")
    return Response(status_code=204)
