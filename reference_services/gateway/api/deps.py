"""What every router of the gateway depends on: the app's services (built once by `build_app`
and kept on `app.state.gateway`), the database pool, and authentication — a Bearer access
token, the caller's rate limit, and the roles an operation needs."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from reference_services.common.app import problem_responses
from reference_services.common.runtime import Runtime
from reference_services.gateway.api_changes import Deprecation
from reference_services.gateway.apikeys import ApiKeys
from reference_services.gateway.archive_cache import ArchiveCache
from reference_services.gateway.archive_client import ArchiveClient
from reference_services.gateway.auth import AuthError, Principal, TokenService
from reference_services.gateway.login_gate import LoginGate
from reference_services.gateway.oidc import OidcVerifier, ProviderUnavailable
from reference_services.gateway.sessions import Sessions
from reference_services.gateway.shared_ratelimit import SharedLimiter


@dataclass(frozen=True)
class Services:
    tokens: TokenService
    limiter: SharedLimiter
    archive: ArchiveClient
    sessions: Sessions
    login_gate: LoginGate
    api_keys: ApiKeys
    # Access tokens of an external OpenID provider, when one is configured.
    oidc: OidcVerifier | None = None
    # The archive's answers, kept until its change events say otherwise.
    archive_cache: ArchiveCache = field(default_factory=lambda: ArchiveCache(max_entries=0))
    # Users of the provider already given a row (commands reference users), per process.
    provisioned: set[str] = field(default_factory=set)


def services(request: Request) -> Services:
    found: Services = request.app.state.gateway
    return found


def pool(request: Request) -> Any:
    rt: Runtime = request.app.state.runtime
    return rt.database.pool


bearer = HTTPBearer(auto_error=False)
# Documents the other way in: an API key as X-API-Key (or `Authorization: ApiKey …`).
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    x_api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The caller of a valid access token, within its rate limit (else 400, 401 or 429)."""
    authorization = request.headers.getlist("authorization")
    if len(authorization) > 1:
        # Proxies and frameworks disagree on which of two headers counts: refuse both.
        raise HTTPException(400, "more than one Authorization header")
    gateway = services(request)
    scheme, _, value = (authorization[0] if authorization else "").partition(" ")
    if len(request.headers.getlist("x-api-key")) > 1:
        raise HTTPException(400, "more than one X-API-Key header")
    if x_api_key is not None and authorization:
        raise HTTPException(400, "give one credential: Authorization or X-API-Key, not both")
    if scheme.lower() == "apikey" or x_api_key is not None:
        who = await _api_key_caller(request, gateway, x_api_key or value.strip())
    else:
        who = await _token_caller(request, gateway, creds)
    # The limit follows the credential: a key has its own, apart from its owner's sessions.
    limit_key = who.session if who.session.startswith("apikey:") else who.username
    # Who called, for the usage metrics (altlas_api_requests_total).
    request.state.principal = limit_key if limit_key.startswith("apikey:") else f"user:{limit_key}"
    limit = await gateway.limiter.acquire("api", limit_key)
    if not limit.decision.allowed:
        raise HTTPException(
            429, f"rate limit exceeded for user {who.username!r}", headers=limit.headers()
        )
    # On every answer to this request, an error's too (a 404, a 422, which the exception
    # handlers build afresh): the correlation middleware adds them.
    request.state.response_headers = limit.headers()
    return who


async def _api_key_caller(request: Request, gateway: Services, key: str) -> Principal:
    try:
        return await gateway.api_keys.verify(pool(request), key, request.url.path)
    except AuthError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "ApiKey"}) from None
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None


async def _token_caller(
    request: Request, gateway: Services, creds: HTTPAuthorizationCredentials | None
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "a Bearer access token or an API key is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        if gateway.oidc is not None and gateway.oidc.owns(_unverified_issuer(creds.credentials)):
            who = await gateway.oidc.verify(creds.credentials)
            await _provision(request, gateway, who)
            return who
        return gateway.tokens.verify(creds.credentials)
    except AuthError as exc:
        raise HTTPException(
            401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None
    except ProviderUnavailable as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None


def _unverified_issuer(token: str) -> object:
    """Which issuer a token claims (to pick its verifier; the verifier checks the claim)."""
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None


PROVISION_SQL = (
    "INSERT INTO users (username, password_hash, roles) VALUES ($1, '!', $2)"
    " ON CONFLICT (username) DO UPDATE SET roles = EXCLUDED.roles"
)


async def _provision(request: Request, gateway: Services, who: Principal) -> None:
    """Give a provider's user a row the first time this process sees it: commands reference
    users. Its password hash ('!') matches no password, so it cannot log in locally."""
    key = f"{who.username}|{','.join(who.roles)}"
    if key not in gateway.provisioned:
        await pool(request).execute(PROVISION_SQL, who.username, list(who.roles))
        gateway.provisioned.add(key)


def require(*roles: str) -> Any:
    """A dependency: the caller, if it has one of `roles` (else 403)."""

    async def _check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.has_any(roles):
            raise HTTPException(403, f"this operation needs one of the roles {list(roles)}")
        return who

    return _check


any_role = require("admin", "user", "viewer")
# 503: an external identity provider whose keys cannot be fetched.
AUTHN = problem_responses(400, 401, 403, 429, 503)


def deprecated_route(
    deprecation: Deprecation, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[Response], None]:
    """A route dependency: the deprecation headers on its answer; 410 Gone after the sunset."""

    def _mark(response: Response) -> None:
        headers = deprecation.headers()
        if deprecation.gone(clock):
            raise HTTPException(
                410, f"this route was removed; use {deprecation.successor}", headers=headers
            )
        response.headers.update(headers)

    return _mark
