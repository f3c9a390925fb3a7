"""Tokens an attacker can make: re-signed, unsigned, tampered, or signed with the wrong key.

Pure functions over compact JWS strings; no network. A token is forged from a real one the
target issued (its claims are the starting point), so every case differs from a valid token in
exactly the way its name says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, claims and signature of a compact JWS, unverified."""
    head, body, sig = token.split(".")
    return _unb64json(head), _unb64json(body), sig


def _unb64json(part: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    """`alg: none` (in any spelling) and no signature."""
    return f"{_b64json({'alg': alg, 'typ': 'JWT'})}.{_b64json(claims)}."


def with_claims(token: str, **changes: Any) -> str:
    """The token with its claims changed and its original signature kept."""
    _, claims, sig = parts(token)
    claims.update(changes)
    head = token.split(".", 1)[0]
    return f"{head}.{_b64json(claims)}.{sig}"


def without_signature(token: str) -> str:
    head, body, _ = token.split(".")
    return f"{head}.{body}."


def hmac_signed(claims: dict[str, Any], secret: bytes, **header: Any) -> str:
    """HS256 with `secret`, written by hand: PyJWT refuses a PEM as an HMAC secret, on purpose."""
    head = _b64json({"alg": "HS256", "typ": "JWT", **header})
    body = _b64json(claims)
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: RSAPrivateKey) -> str:
    """The key as unencrypted PKCS#8 PEM, the form a gateway is configured with."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_key(pem: str) -> RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("the signing key must be an RSA private key in PEM")
    return key


def rs256(claims: dict[str, Any], key: RSAPrivateKey, **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers=header)


def public_jwk(key: RSAPrivateKey, kid: str) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()

    def _int(n: int) -> str:
        return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": _int(numbers.n),
        "e": _int(numbers.e),
    }


def jwk_public_pems(jwk: dict[str, Any]) -> list[bytes]:
    """The public key of a JWK in the PEM forms a confused verifier might use as HMAC secret."""
    key = jwt.PyJWK(jwk).key
    spki = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return [spki, pkcs1]
