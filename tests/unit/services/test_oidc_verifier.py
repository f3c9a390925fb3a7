"""The gateway's verifier of an external provider's access tokens, against a provider in memory
(discovery and JWKS served by an httpx MockTransport)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from reference_services.gateway.auth import AuthError
from reference_services.gateway.oidc import OidcVerifier, ProviderUnavailable

ISSUER = "https://idp.example"
AUD = "urn:altlas:api"
SCOPES = {"altlas.admin": "admin", "altlas.user": "user", "altlas.viewer": "viewer"}


class Provider:
    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.algs: dict[str, str | None] = {}
        self.jwks_fetches = 0
        self.down = False

    def add_key(self, kid: str, alg: str | None = "RS256") -> Any:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.algs[kid] = alg
        return self.keys[kid]

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        self.jwks_fetches += 1
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, use="sig")
            if self.algs[kid]:
                jwk["alg"] = self.algs[kid]
            keys.append(jwk)
        return httpx.Response(200, json={"keys": keys})

    def token(self, kid: str, alg: str = "RS256", typ: str = "at+jwt", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUD, "sub": "svc", "iat": now, "exp": now + 60}
        body.update(claims)
        return jwt.encode(body, self.keys[kid], algorithm=alg, headers={"kid": kid, "typ": typ})


@pytest.fixture
def provider() -> Provider:
    p = Provider()
    p.add_key("k1")
    return p


def _verifier(provider: Provider, **kw: Any) -> OidcVerifier:
    args: dict[str, Any] = {"role_scopes": SCOPES, "refetch_min_s": 0.0, "ttl_s": 300.0}
    args.update(kw)
    return OidcVerifier(ISSUER, AUD, transport=httpx.MockTransport(provider.handler), **args)


async def test_a_provider_token_maps_its_scopes_to_roles(provider: Provider) -> None:
    who = await _verifier(provider).verify(provider.token("k1", scope="altlas.user openid"))
    assert (who.username, who.roles) == ("oidc:svc", ("user",))
    none = await _verifier(provider).verify(provider.token("k1", scope="openid"))
    assert none.roles == (), "no mapped scope, no role (the API then answers 403)"


async def test_a_roles_claim_at_a_path_counts_too(provider: Provider) -> None:
    v = _verifier(provider, roles_claim="realm_access.roles")
    who = await v.verify(provider.token("k1", realm_access={"roles": ["viewer", "offline"]}))
    assert who.roles == ("viewer",)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"typ": "JWT"}, "at\\+jwt"),
        ({"aud": "urn:other"}, "(?i)audience"),
        ({"iss": "https://evil.example"}, "(?i)issuer"),
        ({"exp": int(time.time()) - 3600}, "expired"),
    ],
)
async def test_what_rfc_9068_rules_out_is_refused(
    provider: Provider, change: dict[str, Any], reason: str
) -> None:
    typ = change.pop("typ", "at+jwt")
    with pytest.raises(AuthError, match=reason):
        await _verifier(provider).verify(provider.token("k1", typ=typ, **change))


async def test_a_key_verifies_only_its_own_algorithm(provider: Provider) -> None:
    token = provider.token("k1", alg="PS256")  # the key says RS256
    with pytest.raises(AuthError, match="not allowed for key"):
        await _verifier(provider).verify(token)
    provider.add_key("k2", alg=None)  # no alg: its type's algorithms, within the allowlist
    assert (await _verifier(provider).verify(provider.token("k2", alg="PS256"))).username
    with pytest.raises(AuthError, match="not allowed"):
        await _verifier(provider, algorithms=("RS256",)).verify(provider.token("k2", alg="PS256"))


async def test_an_unknown_kid_refetches_at_most_once_per_interval(provider: Provider) -> None:
    v = _verifier(provider, refetch_min_s=3600.0)
    await v.verify(provider.token("k1"))
    assert provider.jwks_fetches == 1
    provider.add_key("k2")
    for _ in range(5):
        with pytest.raises(AuthError, match="does not publish"):
            await v.verify(provider.token("k2"))
    assert provider.jwks_fetches == 1, "made-up kids must not hammer the provider"
    eager = _verifier(provider, refetch_min_s=0.0)
    await eager.verify(provider.token("k1"))
    provider.add_key("k3")
    assert (await eager.verify(provider.token("k3"))).username == "oidc:svc"


async def test_cached_keys_outlive_a_provider_outage(provider: Provider) -> None:
    v = _verifier(provider, ttl_s=0.0)  # every call wants a refresh
    await v.verify(provider.token("k1"))
    provider.down = True
    assert (await v.verify(provider.token("k1"))).username == "oidc:svc"
    provider.add_key("k2")
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        await v.verify(provider.token("k2"))


async def test_discovery_must_name_the_configured_issuer(provider: Provider) -> None:
    v = OidcVerifier(
        "https://idp.example/other",
        AUD,
        role_scopes=SCOPES,
        transport=httpx.MockTransport(provider.handler),
    )
    token = provider.token("k1", iss="https://idp.example/other")
    with pytest.raises(ProviderUnavailable, match="discovery names issuer"):
        await v.verify(token)


async def test_a_failing_provider_is_asked_once_per_interval_and_answers_503(
    provider: Provider,
) -> None:
    provider.down = True
    v = _verifier(provider, refetch_min_s=3600.0)
    for _ in range(5):
        with pytest.raises(ProviderUnavailable):
            await v.verify(provider.token("k1"))
    assert provider.jwks_fetches == 0
    provider.down = False
    calls = {"n": 0}

    def garbage(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(200, text="<html>not json</html>")

    broken = OidcVerifier(ISSUER, AUD, role_scopes=SCOPES, transport=httpx.MockTransport(garbage))
    with pytest.raises(ProviderUnavailable, match="no JSON"):
        await broken.verify(provider.token("k1"))
