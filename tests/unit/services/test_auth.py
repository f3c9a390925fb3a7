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


def _issue(svc: TokenService, username: str, roles: tuple[str, ...]) -> dict[str, str]:
    return svc.issue(username, roles, session="s-1", refresh_id="r-1")


def _signed(pem: str, claims: dict[str, object], **headers: object) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)  # type: ignore[arg-type]


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "iss", "aud": "aud", "sub": "u", "typ": "access", "iat": now, "nbf": now,
        "exp": now + 60, "jti": "j-1",
    }  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_issue_and_verify(pem: str) -> None:
    tokens = _issue(_service(pem), "ayşe", ("user",))
    who = _service(pem).verify(tokens["access_token"])
    assert (who.username, who.roles) == ("ayşe", ("user",))
    assert _service(pem).verify(tokens["refresh_token"], typ="refresh").username == "ayşe"


def test_token_types_are_not_interchangeable(pem: str) -> None:
    tokens = _issue(_service(pem), "u", ("user",))
    with pytest.raises(AuthError, match="access"):
        _service(pem).verify(tokens["refresh_token"])
    with pytest.raises(AuthError, match="refresh"):
        _service(pem).verify(tokens["access_token"], typ="refresh")


def test_wrong_audience_issuer_or_key_is_rejected(pem: str) -> None:
    token = _issue(_service(pem), "u", ("user",))["access_token"]
    for other in (_service(pem, audience="x"), _service(pem, issuer="x"), _service(_pem())):
        with pytest.raises(AuthError):
            other.verify(token)


def test_expired_token_is_rejected(pem: str) -> None:
    svc = _service(pem, leeway_s=0)
    with pytest.raises(AuthError, match="expired"):
        svc.verify(_signed(pem, _claims(exp=int(time.time()) - 5), kid="k1"))


def test_the_leeway_covers_a_small_skew_and_no_more(pem: str) -> None:
    svc = _service(pem, leeway_s=30)
    now = int(time.time())
    assert svc.verify(_signed(pem, _claims(exp=now - 10), kid="k1")).username == "u"
    assert svc.verify(_signed(pem, _claims(nbf=now + 10, iat=now + 10), kid="k1")).username == "u"
    for late in (_claims(exp=now - 60), _claims(nbf=now + 600), _claims(iat=now + 600)):
        with pytest.raises(AuthError):
            svc.verify(_signed(pem, late, kid="k1"))


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub", "jti"])
def test_a_token_without_a_required_claim_is_rejected(pem: str, missing: str) -> None:
    with pytest.raises(AuthError, match=missing):
        _service(pem).verify(_signed(pem, _claims(**{missing: None}), kid="k1"))


def test_a_token_for_another_key_id_is_rejected_even_when_our_key_signed_it(pem: str) -> None:
    for headers in ({"kid": "k2"}, {}, {"kid": "../../../../dev/null"}):
        with pytest.raises(AuthError, match="unknown key id"):
            _service(pem).verify(_signed(pem, _claims(), **headers))


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
def test_a_token_bringing_its_own_key_is_rejected(pem: str, header: str) -> None:
    value: object = {"kty": "RSA"} if header == "jwk" else "https://evil.example/k"
    with pytest.raises(AuthError, match=header):
        _service(pem).verify(_signed(pem, _claims(), kid="k1", **{header: value}))


def test_an_oversized_token_is_rejected_before_decoding(pem: str) -> None:
    token = _signed(pem, _claims(padding="x" * 9000), kid="k1")
    with pytest.raises(AuthError, match="too large"):
        _service(pem).verify(token)


def test_a_refresh_token_carries_its_session_and_id(pem: str) -> None:
    svc = _service(pem)
    who = svc.verify(
        svc.issue("u", ("user",), session="s-9", refresh_id="r-9")["refresh_token"], typ="refresh"
    )
    assert (who.session, who.token_id) == ("s-9", "r-9")


def test_jwks_verifies_issued_tokens(pem: str) -> None:
    svc = _service(pem)
    token = _issue(svc, "u", ("admin",))["access_token"]
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
    token = _issue(svc, "ayşe", ("user",))["access_token"]
    assert svc.verify(token).username == "ayşe"  # verified, now remembered
    later = time.time() + svc.access_ttl_s + svc.leeway_s + 1  # past exp and the leeway
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthError, match="expired"):
        svc.verify(token)


def test_a_remembered_token_keeps_its_type(pem: str) -> None:
    svc = _service(pem)
    refresh = _issue(svc, "ayşe", ("user",))["refresh_token"]
    assert svc.verify(refresh, typ="refresh").username == "ayşe"
    with pytest.raises(AuthError, match="expected an access token"):
        svc.verify(refresh)


def test_a_token_changed_after_it_was_remembered_is_verified_afresh(pem: str) -> None:
    svc = _service(pem)
    token = _issue(svc, "ayşe", ("user",))["access_token"]
    svc.verify(token)
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}AAAA"
    with pytest.raises(AuthError, match="invalid token"):
        svc.verify(forged)


def test_a_rotated_keyring_verifies_old_tokens_and_signs_with_the_new_key(pem: str) -> None:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    svc = _service(pem)
    old_token = _issue(svc, "u", ("user",))["access_token"]
    old_public = (
        load_pem_private_key(pem.encode(), password=None)
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    svc.set_keys(_pem(), "k2", (("k1", old_public),))
    assert [k["kid"] for k in svc.jwks()["keys"]] == ["k2", "k1"], "both keys are published"
    assert svc.verify(old_token).username == "u", "the old key's token, during the overlap"
    new_token = _issue(svc, "u", ("user",))["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    svc.set_keys(_pem(), "k3")  # the overlap is over: k1 (and k2) withdrawn
    for token in (old_token, new_token):
        with pytest.raises(AuthError, match="unknown key id"):
            svc.verify(token)  # even though it was remembered as verified


def test_a_remembered_token_is_judged_with_the_leeway_like_a_fresh_one(
    pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = _service(pem, leeway_s=30)
    token = _issue(svc, "u", ("user",))["access_token"]
    svc.verify(token)
    within = time.time() + svc.access_ttl_s + 10  # expired 10 s ago, within the leeway
    monkeypatch.setattr(time, "time", lambda: within)
    for _ in range(3):  # remembered or not, the same answer each time
        assert svc.verify(token).username == "u"
