"""Tokens: the public keys that sign them, login with a password, and refresh."""

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from reference_services.common.app import problem_responses
from reference_services.gateway.api.deps import pool, services
from reference_services.gateway.auth import AuthError, hash_password, verify_password
from reference_services.gateway.models import API, LoginRequest, RefreshRequest, TokenResponse

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public keys that sign tokens")
async def jwks(request: Request) -> dict[str, Any]:
    return services(request).tokens.jwks()


@router.post(
    f"{API}/auth/login",
    response_model=TokenResponse,
    summary="Exchange username and password for tokens",
    responses=problem_responses(401, 422),
)
async def login(body: LoginRequest, request: Request) -> dict[str, Any]:
    row = await pool(request).fetchrow(
        "SELECT password_hash, roles FROM users WHERE username = $1", body.username
    )
    # Hash even for unknown users so timing does not reveal which names exist.
    stored = row["password_hash"] if row else hash_password("x")
    ok = await asyncio.to_thread(verify_password, body.password, stored)
    if row is None or not ok:
        raise HTTPException(401, "unknown user or wrong password")
    return services(request).tokens.issue(body.username, tuple(row["roles"]))


@router.post(
    f"{API}/auth/refresh",
    response_model=TokenResponse,
    summary="Exchange a refresh token for new tokens",
    responses=problem_responses(401, 422),
)
async def refresh(body: RefreshRequest, request: Request) -> dict[str, Any]:
    tokens = services(request).tokens
    try:
        who = tokens.verify(body.refresh_token, typ="refresh")
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from None
    row = await pool(request).fetchrow("SELECT roles FROM users WHERE username = $1", who.username)
    if row is None:
        raise HTTPException(401, "user no longer exists")
    return tokens.issue(who.username, tuple(row["roles"]))
