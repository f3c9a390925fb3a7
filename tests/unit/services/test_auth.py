"""Tokens: signed, scoped to issuer and audience, typed, expiring; passwords hashed."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reference_services.gateway.auth import AuthError, TokenService, hash_password, verify_password


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def pem() -> str:
    return _pem()


def _service(pem: str, **kw: object) -> TokenService:
    args: dict[str, object] = dict(
        kid="k1", issuer="iss", audience="aud", access_ttl_s=60, refresh_ttl_s=120
    )
    args.update(kw)
    return TokenService(pem, **args)  # type: ignore[arg-type]


def test_issue_and_verify(pem: str) -> None:
    tokens = _service(pem).issue("ayşe", ("user",))
    who = _service(pem).verify(tokens["access_token"])
    assert (who.username, who.roles) == ("ayşe", ("user",))
    assert _service(pem).verify(tokens["refresh_token"], typ="refresh").username == "ayşe"


def test_token_types_are_not_interchangeable(pem: str) -> None:
    tokens = _service(pem).issue("u", ("user",))
    with pytest.raises(AuthError, match="access"):
        _service(pem).verify(tokens["refresh_token"])
    with pytest.raises(AuthError, match="refresh"):
        _service(pem).verify(tokens["access_token"], typ="refresh")


def test_wrong_audience_issuer_or_key_is_rejected(pem: str) -> None:
    token = _service(pem).issue("u", ("user",))["access_token"]
    for other in (_service(pem, audience="x"), _service(pem, issuer="x"), _service(_pem())):
        with pytest.raises(AuthError):
            other.verify(token)


def test_expired_token_is_rejected(pem: str) -> None:
    svc = _service(pem)
    claims = {"iss": "iss", "aud": "aud", "sub": "u", "typ": "access", "exp": int(time.time()) - 5}
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    token = jwt.encode(claims, key, algorithm="RS256")  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="expired"):
        svc.verify(token)


def test_jwks_verifies_issued_tokens(pem: str) -> None:
    svc = _service(pem)
    token = svc.issue("u", ("admin",))["access_token"]
    key = jwt.PyJWK(svc.jwks()["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="aud", issuer="iss")
    assert claims["roles"] == ["admin"]


def test_passwords() -> None:
    stored = hash_password("gizli-şifre")
    assert stored.startswith("scrypt$") and "gizli" not in stored
    assert verify_password("gizli-şifre", stored)
    assert not verify_password("gizli-sifre", stored)
    assert not verify_password("x", "garbage")


def test_a_remembered_token_still_expires(pem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = _service(pem)
    token = svc.issue("ayşe", ("user",))["access_token"]
    assert svc.verify(token).username == "ayşe"  # verified, now remembered
    later = time.time() + svc.access_ttl_s + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthError, match="expired"):
        svc.verify(token)


def test_a_remembered_token_keeps_its_type(pem: str) -> None:
    svc = _service(pem)
    refresh = svc.issue("ayşe", ("user",))["refresh_token"]
    assert svc.verify(refresh, typ="refresh").username == "ayşe"
    with pytest.raises(AuthError, match="expected an access token"):
        svc.verify(refresh)


def test_a_token_changed_after_it_was_remembered_is_verified_afresh(pem: str) -> None:
    svc = _service(pem)
    token = svc.issue("ayşe", ("user",))["access_token"]
    svc.verify(token)
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}AAAA"
    with pytest.raises(AuthError, match="invalid token"):
        svc.verify(forged)
