"""What every router of the gateway depends on: the app's services (built once by `build_app`
and kept on `app.state.gateway`), the database pool, and authentication — a Bearer access
token, the caller's rate limit, and the roles an operation needs."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reference_services.common.app import problem_responses
from reference_services.common.runtime import Runtime
from reference_services.gateway.archive_client import ArchiveClient
from reference_services.gateway.auth import AuthError, Principal, TokenService
from reference_services.gateway.ratelimit import TokenBucketLimiter
from reference_services.gateway.sessions import Sessions


@dataclass(frozen=True)
class Services:
    tokens: TokenService
    limiter: TokenBucketLimiter
    archive: ArchiveClient
    sessions: Sessions
    login_throttle: TokenBucketLimiter


def services(request: Request) -> Services:
    found: Services = request.app.state.gateway
    return found


def pool(request: Request) -> Any:
    rt: Runtime = request.app.state.runtime
    return rt.database.pool


bearer = HTTPBearer(auto_error=False)


async def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller of a valid access token, within its rate limit (else 400, 401 or 429)."""
    if len(request.headers.getlist("authorization")) > 1:
        # Proxies and frameworks disagree on which of two headers counts: refuse both.
        raise HTTPException(400, "more than one Authorization header")
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(
            401, "a Bearer access token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    gateway = services(request)
    try:
        who = gateway.tokens.verify(creds.credentials)
    except AuthError as exc:
        raise HTTPException(
            401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None
    decision = gateway.limiter.acquire(who.username)
    if not decision.allowed:
        raise HTTPException(
            429,
            f"rate limit exceeded for user {who.username!r}",
            headers={"Retry-After": gateway.limiter.retry_after_header(decision)},
        )
    return who


def require(*roles: str) -> Any:
    """A dependency: the caller, if it has one of `roles` (else 403)."""

    async def _check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.has_any(roles):
            raise HTTPException(403, f"this operation needs one of the roles {list(roles)}")
        return who

    return _check


any_role = require("admin", "user", "viewer")
AUTHN = problem_responses(400, 401, 403, 429)
