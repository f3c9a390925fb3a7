"""Access tokens from an external OpenID provider: discovery, a JWKS cache, RFC 9068 checks.

The issuer is found by discovery (`<issuer>/.well-known/openid-configuration`, whose `issuer`
must be the configured one, OpenID Connect Discovery §4.3), its keys at the document's
`jwks_uri`. Keys are cached; a token under a `kid` the cache lacks refetches them (at most once
per `refetch_min_s`, so a flood of made-up kids cannot turn the gateway against the provider),
and they are refreshed every `ttl_s` anyway, so a key the provider removed stops working. Each
key verifies only the algorithms it allows: its own `alg` if it names one, else those of its
type — within the configured allowlist. A token must be `typ: at+jwt`, for our audience, from
the issuer, current (`exp`, `nbf`, `iat` within the leeway) and name its subject. Its scopes
(`scope`, space-separated, or `scp`) and optionally a roles claim map to our roles.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from reference_services.common.errors import ServiceError
from reference_services.gateway.auth import ROLES, AuthError, Principal, screened_header

log = logging.getLogger(__name__)

ALGORITHMS_BY_KTY = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


class ProviderUnavailable(ServiceError):
    """The provider's discovery document or keys cannot be fetched: not the token's fault."""


class OidcVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256"),
        role_scopes: Mapping[str, str],
        roles_claim: str | None = None,
        username_prefix: str = "oidc:",
        leeway_s: float = 30.0,
        refetch_min_s: float = 1.0,
        ttl_s: float = 300.0,
        timeout_s: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.algorithms = algorithms
        self.role_scopes = dict(role_scopes)
        self.roles_claim = roles_claim
        self.username_prefix = username_prefix
        self.leeway_s = leeway_s
        self.refetch_min_s = refetch_min_s
        self.ttl_s = ttl_s
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self._jwks_uri: str | None = None
        self._keys: dict[str, tuple[jwt.PyJWK, tuple[str, ...]]] = {}
        self._fetched_at = float("-inf")
        self._last_error: ProviderUnavailable | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    def owns(self, claims_iss: object) -> bool:
        return isinstance(claims_iss, str) and claims_iss.rstrip("/") == self.issuer

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            resp = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"identity provider unreachable: {exc}") from None
        if resp.status_code != 200:
            raise ProviderUnavailable(f"identity provider answered {resp.status_code} for {url}")
        try:
            body = resp.json()
        except ValueError:
            raise ProviderUnavailable(f"identity provider answered no JSON at {url}") from None
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"identity provider answered no JSON object at {url}")
        return body

    async def _refresh(self) -> None:
        # An attempt counts, answered or not: a failing provider is not asked on every request.
        self._fetched_at = time.monotonic()
        if self._jwks_uri is None:
            meta = await self._get(f"{self.issuer}/.well-known/openid-configuration")
            if str(meta.get("issuer", "")).rstrip("/") != self.issuer:
                raise ProviderUnavailable(
                    f"discovery names issuer {meta.get('issuer')!r}, not {self.issuer!r}"
                )
            if not isinstance(meta.get("jwks_uri"), str):
                raise ProviderUnavailable("the discovery document names no jwks_uri")
            self._jwks_uri = meta["jwks_uri"]
        doc = await self._get(self._jwks_uri)
        if not isinstance(doc.get("keys"), list):
            raise ProviderUnavailable("the provider's JWKS holds no key list")
        keys: dict[str, tuple[jwt.PyJWK, tuple[str, ...]]] = {}
        for raw in doc["keys"]:
            if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or "kid" not in raw:
                continue
            allowed = (
                (raw["alg"],) if "alg" in raw else ALGORITHMS_BY_KTY.get(raw.get("kty", ""), ())
            )
            allowed = tuple(a for a in allowed if a in self.algorithms)
            if not allowed:
                continue
            try:
                keys[str(raw["kid"])] = (jwt.PyJWK(raw, algorithm=allowed[0]), allowed)
            except jwt.PyJWTError as exc:
                log.warning("ignoring the provider's key %s: %s", raw.get("kid"), exc)
        self._keys = keys
        self._fetched_at = time.monotonic()
        log.info("fetched %d signing keys from %s", len(keys), self._jwks_uri)

    async def _key(self, kid: str) -> tuple[jwt.PyJWK, tuple[str, ...]]:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > self.ttl_s or (kid not in self._keys and age > self.refetch_min_s):
                try:
                    await self._refresh()
                    self._last_error = None
                except ProviderUnavailable as exc:
                    self._last_error = exc
                    if kid not in self._keys:
                        raise
                    # Keep serving the keys we have; try again after refetch_min_s.
                    log.warning("keeping %d cached keys: %s", len(self._keys), exc)
                    self._fetched_at = time.monotonic() - self.ttl_s + self.refetch_min_s
        found = self._keys.get(kid)
        if found is None and self._last_error is not None:
            raise self._last_error  # the provider is away: the token may well be fine
        if found is None:
            raise AuthError("token signed with a key the identity provider does not publish")
        return found

    async def verify(self, token: str) -> Principal:
        header = screened_header(token)
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise AuthError("not an access token (typ must be at+jwt, RFC 9068)")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise AuthError("token names no key id")
        key, allowed = await self._key(kid)
        if header.get("alg") not in allowed:
            raise AuthError(f"algorithm {header.get('alg')!r} is not allowed for key {kid!r}")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(allowed),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        return Principal(
            f"{self.username_prefix}{claims['sub']}",
            self.roles(claims),
            str(claims.get("jti", "")),
        )

    def roles(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        scopes = claims.get("scope", "")
        granted = set(scopes.split()) if isinstance(scopes, str) else set()
        scp = claims.get("scp")
        if isinstance(scp, list):
            granted |= {s for s in scp if isinstance(s, str)}
        found = {self.role_scopes[s] for s in granted if s in self.role_scopes}
        if self.roles_claim:
            value: Any = claims
            for part in self.roles_claim.split("."):  # e.g. realm_access.roles (Keycloak)
                value = value.get(part) if isinstance(value, Mapping) else None
            if isinstance(value, list):
                found |= {r for r in value if isinstance(r, str)}
        return tuple(r for r in ROLES if r in found)
