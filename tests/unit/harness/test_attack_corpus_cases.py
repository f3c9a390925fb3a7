"""The attack corpus's cases: each documented, forged tokens differ from the real one only where
their name says."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from harness.security import corpus, forge

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"


def test_every_case_is_documented_with_its_answer() -> None:
    text = DOC.read_text()
    for c in corpus.CASES:
        row = f"| `{c.name}` | {c.attack} | {' or '.join(map(str, c.expected))} |"
        assert row in text, f"docs/security.md has no row for {c.name}: {row}"
    assert len({c.name for c in corpus.CASES}) == len(corpus.CASES), "case names are unique"


@pytest.fixture(scope="module")
def key() -> RSAPrivateKey:
    return forge.new_key()


def _real(key: RSAPrivateKey) -> str:
    claims = {"sub": "ayşe", "roles": ["user"], "aud": "a", "iss": "i", "exp": 2_000_000_000}
    return forge.rs256(claims, key, kid="k1")


def test_a_tampered_token_keeps_its_signature_and_changes_only_the_claim(
    key: RSAPrivateKey,
) -> None:
    real = _real(key)
    tampered = forge.with_claims(real, roles=["admin"])
    header, claims, sig = forge.parts(tampered)
    assert sig == real.split(".")[2] and header == forge.parts(real)[0]
    assert claims == {**forge.parts(real)[1], "roles": ["admin"]}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, key.public_key(), algorithms=["RS256"], audience="a")


def test_the_confused_hmac_token_verifies_with_the_public_pem_as_secret(
    key: RSAPrivateKey,
) -> None:
    # What a verifier that lets the token pick its algorithm would accept.
    jwk = forge.public_jwk(key, "k1")
    pem = forge.jwk_public_pems(jwk)[0]
    token = forge.hmac_signed({"sub": "x"}, pem, kid="k1")
    head, body, sig = token.split(".")
    expected = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert sig == forge.b64url(expected)
    assert forge.parts(token)[0] == {"alg": "HS256", "typ": "JWT", "kid": "k1"}


def test_unsigned_tokens_have_no_signature(key: RSAPrivateKey) -> None:
    token = forge.unsigned({"sub": "x"}, alg="nOnE")
    assert token.endswith(".") and forge.parts(token)[0]["alg"] == "nOnE"
    assert forge.without_signature(_real(key)).endswith(".")


def test_the_table_counts_every_verdict() -> None:
    outcomes = [
        corpus.Outcome("a", "x", "401", "401 problem+json", corpus.REFUSED),
        corpus.Outcome("b", "y", "401", "200 application/json", corpus.ACCEPTED),
        corpus.Outcome("c", "z", "404", "needs a second user", corpus.SKIPPED),
    ]
    text = corpus.table(outcomes)
    assert text.splitlines()[-1] == "1 refused, 1 ACCEPTED, 0 wrong answer, 1 skipped"
    assert "200 application/json" in text
