"""Passwords, JWTs (RS256) and the JWKS document.

Access and refresh tokens carry issuer, audience, expiry, subject and roles; a refresh token is
only accepted by /auth/refresh and /auth/logout, an access token only by the API. A refresh token
also carries its session (`sid`): `sessions.py` makes each one usable once (rotation) and ends a
session at logout. A token is refused before any signature work when it is too large, names a
key this service does not have, or asks to be verified with a key it brings along itself
(`jku`, `x5u`, `jwk`, `x5c`: RFC 8725 §3.10).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from reference_services.common.errors import ServiceError

Role = Literal["admin", "user", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "user", "viewer")

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AuthError(ServiceError):
    """Credentials or token rejected; the message is safe to show the client."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), dklen=32, **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest_hex)


@dataclass(frozen=True)
class Principal:
    username: str
    roles: tuple[str, ...]
    # The token's own id and its session (a refresh token's family); empty when not carried.
    token_id: str = ""
    session: str = ""

    def has_any(self, roles: tuple[str, ...]) -> bool:
        return any(r in self.roles for r in roles)


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# Verified tokens remembered (LRU): about one per active session.
VERIFIED_CACHE_SIZE = 10_000
# Our tokens are about 700 bytes; anything far larger is refused before it is decoded.
MAX_TOKEN_BYTES = 8192
# Header parameters that point at a verification key the token brings along itself.
KEY_BEARING_HEADERS = ("jku", "x5u", "jwk", "x5c")


def screened_header(token: str) -> dict[str, Any]:
    """A token's header, after the refusals that need no key: too large, not a JWS, or naming
    its own verification key (any verifier of ours applies them first)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthError(f"token too large (more than {MAX_TOKEN_BYTES} bytes)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    brought = [h for h in KEY_BEARING_HEADERS if h in header]
    if brought:
        raise AuthError(f"token names its own verification key ({', '.join(brought)})")
    return header


class TokenService:
    def __init__(
        self,
        private_pem: str,
        *,
        kid: str,
        issuer: str,
        audience: str,
        access_ttl_s: int,
        refresh_ttl_s: int,
        leeway_s: float = 30.0,
        previous: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._verified: OrderedDict[str, tuple[Principal, str, float]] = OrderedDict()
        self._public_keys: dict[str, RSAPublicKey] = {}
        self.set_keys(private_pem, kid, previous)
        self.issuer = issuer
        self.audience = audience
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        # Clock skew allowed on exp, nbf and iat between this service and whoever checks.
        self.leeway_s = leeway_s

    def set_keys(
        self, private_pem: str, kid: str, previous: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """Sign with `private_pem` (key id `kid`) from now on; tokens of the `previous` keys
        (kid, public PEM) still verify and are listed in the JWKS — a rotation's overlap."""
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("jwt_private_key must be an RSA private key in PEM")
        public: dict[str, RSAPublicKey] = {kid: key.public_key()}
        for old_kid, pem in previous:
            old = serialization.load_pem_public_key(pem.encode())
            if not isinstance(old, RSAPublicKey):
                raise ValueError(f"previous key {old_kid!r} must be an RSA public key in PEM")
            public.setdefault(old_kid, old)
        dropped = set(self._public_keys) - set(public)
        self._private = key
        self._public_keys = public
        self.kid = kid
        # What the keys were set from (the secret refresh compares it to the store's).
        self.key_state = (kid, private_pem, tuple(previous))
        if dropped:
            self._verified.clear()  # a remembered token of a withdrawn key must not live on

    def issue(
        self, username: str, roles: tuple[str, ...], *, session: str, refresh_id: str
    ) -> dict[str, Any]:
        """An access token and a refresh token (id `refresh_id`) of the session `session`."""
        return {
            "access_token": self._token(username, roles, "access", self.access_ttl_s),
            "refresh_token": self._token(
                username, roles, "refresh", self.refresh_ttl_s, jti=refresh_id, sid=session
            ),
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
        }

    def _token(
        self,
        username: str,
        roles: tuple[str, ...],
        typ: str,
        ttl: int,
        *,
        jti: str | None = None,
        sid: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": username,
            "roles": list(roles),
            "typ": typ,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": jti or str(uuid.uuid4()),
        }
        if sid is not None:
            claims["sid"] = sid
        return jwt.encode(claims, self._private, algorithm="RS256", headers={"kid": self.kid})

    def verify(self, token: str, typ: str = "access") -> Principal:
        """The token's principal, if this service signed it and it is current.

        A token seen before is answered from a cache until its own `exp` (an RSA verification
        and three base64 decodes were the largest part of an authenticated read's CPU time);
        a different string, however close, is verified afresh.
        """
        hit = self._verified.get(token)
        if hit is not None:
            principal, hit_typ, exp = hit
            if time.time() < exp + self.leeway_s:
                if hit_typ != typ:
                    raise AuthError(f"expected an {typ} token")
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
            raise AuthError("token expired")
        principal, claims_typ, exp = self._verify_signed(token)
        if claims_typ != typ:
            raise AuthError(f"expected an {typ} token")
        self._verified[token] = (principal, claims_typ, exp)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, str, float]:
        header = screened_header(token)
        public = self._public_keys.get(str(header.get("kid")))
        if public is None:
            raise AuthError("token signed with an unknown key id")
        try:
            claims = jwt.decode(
                token,
                public,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        roles = tuple(r for r in claims.get("roles", []) if r in ROLES)
        who = Principal(str(claims["sub"]), roles, str(claims["jti"]), str(claims.get("sid", "")))
        return who, str(claims.get("typ")), float(claims["exp"])

    def jwks(self) -> dict[str, Any]:
        """Every key a token of ours may be signed with: the current one first."""
        keys = []
        for kid, public in self._public_keys.items():
            numbers = public.public_numbers()
            keys.append(
                {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                 "n": _b64(numbers.n), "e": _b64(numbers.e)}
            )  # fmt: skip
        return {"keys": keys}
