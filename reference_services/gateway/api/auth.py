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
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from reference_services.common.app import problem_responses
from reference_services.gateway.api.deps import pool, services
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
    gateway = services(request)
    try:
        async with gateway.login_gate.attempt(body.username) as attempt:
            row = await pool(request).fetchrow(
                "SELECT password_hash, roles FROM users WHERE username = $1", body.username
            )
            # Check a hash even for unknown users, so timing does not reveal which names exist.
            stored = row["password_hash"] if row else _dummy_hash()
            ok = await asyncio.to_thread(verify_password, body.password, stored)
            if row is None or not ok:
                attempt.failed()
    except Throttled as throttled:
        raise HTTPException(
            429,
            f"too many failed logins for {body.username!r}: try again later",
            headers={"Retry-After": TokenBucketLimiter.retry_after_header(throttled.decision)},
        ) from None
    if row is None or not ok:
        raise HTTPException(401, "unknown user or wrong password")
    issued = await gateway.sessions.start(pool(request), body.username)
    return gateway.tokens.issue(
        body.username, tuple(row["roles"]), session=issued.session, refresh_id=issued.token_id
    )


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
