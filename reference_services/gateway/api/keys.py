"""API keys: a caller creates keys that act for them (shown once), lists, revokes and rotates
them; an admin sees and manages everyone's. See `apikeys.py`."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from reference_services.common.app import problem_responses
from reference_services.common.validation import Storable
from reference_services.gateway.api.deps import AUTHN, pool, require, services
from reference_services.gateway.auth import Principal, Role
from reference_services.gateway.models import API

router = APIRouter(tags=["api-keys"])
# Keys are made with a session token, not with another key (a leaked key must not mint more).
key_owner = require("admin", "user", "viewer")


class ApiKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100), Storable()]
    roles: list[Role] | None = Field(
        None, min_length=1, description="At most the caller's roles; all of them by default"
    )
    routes: list[Annotated[str, Field(pattern=r"^/[^\x00]*$", max_length=200)]] | None = Field(
        None, min_length=1, max_length=20, description="Path prefixes the key may call"
    )
    expires_in_s: int | None = Field(None, ge=60, le=366 * 86_400)


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlap_s: int = Field(
        3600, ge=0, le=30 * 86_400, description="How long the old key keeps working"
    )


class ApiKeyInfo(BaseModel):
    id: uuid.UUID
    prefix: str
    owner: str
    name: str
    roles: list[str]
    routes: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    replaced_by: uuid.UUID | None


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


def _session_caller(who: Principal) -> Principal:
    if who.session.startswith("apikey:"):
        raise HTTPException(403, "API keys are managed with a login token, not with an API key")
    return who


@router.post(
    f"{API}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key acting for the caller (the key is shown once)",
    responses={**AUTHN, **problem_responses(422)},
)
async def create_key(
    body: ApiKeyRequest, request: Request, who: Annotated[Principal, Depends(key_owner)]
) -> dict[str, Any]:
    _session_caller(who)
    try:
        new = await services(request).api_keys.create(
            pool(request),
            who,
            name=body.name,
            roles=tuple(body.roles) if body.roles else None,
            routes=body.routes,
            expires_in_s=body.expires_in_s,
        )
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None
    return {**new.row, "key": new.key}


@router.get(
    f"{API}/api-keys",
    response_model=list[ApiKeyInfo],
    summary="The caller's API keys (an admin: everyone's), without their secrets",
    responses=AUTHN,
)
async def list_keys(
    request: Request, who: Annotated[Principal, Depends(key_owner)]
) -> list[dict[str, Any]]:
    return await services(request).api_keys.list(pool(request), _session_caller(who))


@router.delete(
    f"{API}/api-keys/{{key_id}}",
    status_code=204,
    summary="Revoke an API key at once",
    responses={**AUTHN, **problem_responses(404, 422)},
)
async def revoke_key(
    key_id: uuid.UUID, request: Request, who: Annotated[Principal, Depends(key_owner)]
) -> Response:
    if not await services(request).api_keys.revoke(pool(request), _session_caller(who), key_id):
        raise HTTPException(404, f"API key {str(key_id)!r} not found")
    return Response(status_code=204)


@router.post(
    f"{API}/api-keys/{{key_id}}/rotate",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="A successor for an API key; the old one keeps working for overlap_s",
    responses={**AUTHN, **problem_responses(404, 422)},
)
async def rotate_key(
    key_id: uuid.UUID,
    body: RotateRequest,
    request: Request,
    who: Annotated[Principal, Depends(key_owner)],
) -> dict[str, Any]:
    new = await services(request).api_keys.rotate(
        pool(request), _session_caller(who), key_id, body.overlap_s
    )
    if new is None:
        raise HTTPException(404, f"API key {str(key_id)!r} not found or revoked")
    return {**new.row, "key": new.key}
