"""Access tokens from a real OpenID provider (oidc-provider, started by the local stack): the
gateway finds it by discovery, verifies its JWT access tokens against its JWKS, maps scopes to
roles, refuses what RFC 9068 and the key's algorithm rule out, and follows a key rotation without
a restart of its own.

Service accounts use the client-credentials grant (the stack's `oidc-<role>` credentials). The
cases that forge tokens with the provider's key read it from the provider's config in the
stack's state directory, so they run on the local stack only.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwt.algorithms import RSAAlgorithm

from harness.clients.gateway import API, GatewayClient
from harness.infra import oidc
from harness.polling import poll_until
from harness.security import forge
from harness.settings import HarnessSettings
from harness.stack import local
from harness.stack.state import StackState, load_state


@pytest.fixture(scope="module")
def idp(stack: StackState) -> dict[str, Any]:
    if "oidc" not in stack.endpoints or "oidc-user" not in stack.credentials:
        pytest.skip("the stack runs no OpenID provider (make setup installs it; needs Node.js)")
    return {"issuer": stack.endpoints["oidc"], "creds": stack.credentials}


async def _token(idp: dict[str, Any], role: str) -> str:
    resp = await oidc.client_credentials_token(idp["creds"][f"oidc-{role}"])
    assert resp.status_code == 200, f"client credentials for {role}: {resp.status_code} {resp.text}"
    return str(resp.json()["access_token"])


async def _get(gateway: GatewayClient, token: str, path: str) -> httpx.Response:
    return await gateway.http.get(path, headers={"Authorization": f"Bearer {token}"})


async def test_the_provider_issues_rfc_9068_access_tokens(idp: dict[str, Any]) -> None:
    header, claims, _ = forge.parts(await _token(idp, "user"))
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256", header
    assert claims["iss"] == idp["issuer"] and claims["aud"] == oidc.AUDIENCE, claims
    assert claims["scope"] == oidc.ROLE_SCOPES["user"], claims
    refused = await oidc.client_credentials_token(idp["creds"]["oidc-user"], scope="altlas.admin")
    assert refused.status_code == 400, f"a client must not get a scope it lacks: {refused.text}"


async def test_scopes_map_to_roles(idp: dict[str, Any], gateway: GatewayClient) -> None:
    user, viewer, admin = [await _token(idp, r) for r in ("user", "viewer", "admin")]
    submitted = await gateway.http.post(
        f"{API}/commands",
        json={"command": "servis hesabıyla dosyaları listele"},
        headers={"Authorization": f"Bearer {user}"},
    )
    assert submitted.status_code == 202, f"a user-scoped service account submits: {submitted.text}"
    status = await _get(gateway, user, f"{API}/commands/{submitted.json()['id']}")
    assert status.status_code == 200, status.text
    assert status.json()["submitted_by"] == "oidc:altlas-user-service", status.json()
    as_viewer = await gateway.http.post(
        f"{API}/commands", json={"command": "x"}, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert as_viewer.status_code == 403, (
        f"a viewer-scoped account must not submit: {as_viewer.text}"
    )
    assert (await _get(gateway, viewer, f"{API}/archive/search")).status_code == 200
    patch = await gateway.http.patch(
        f"{API}/archive/{uuid.uuid4()}",
        json={"status": "archived"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert patch.status_code == 404, f"an admin-scoped account passes the role check: {patch.text}"
    # The provider's user cannot log in locally with any password.
    login = await gateway.login("oidc:altlas-user-service", "!")
    assert login.status_code == 401, login.text


def _provider_config(stack: StackState) -> Path:
    record = stack.processes.get("oidc")
    if record is None or "config" not in record.extra:
        pytest.skip("the provider's keys are only at hand on the local stack")
    return Path(record.extra["config"])


def _signing_key(config: Path) -> tuple[str, Any]:
    first = json.loads(config.read_text())["jwks"]["keys"][0]
    return first["kid"], RSAAlgorithm.from_jwk(json.dumps(first))


async def test_tokens_the_rules_refuse(
    idp: dict[str, Any], gateway: GatewayClient, stack: StackState
) -> None:
    kid, key = _signing_key(_provider_config(stack))
    real = await _token(idp, "admin")
    _, claims, _ = forge.parts(real)
    now = int(time.time())
    pem = forge.jwk_public_pems(json.loads(RSAAlgorithm.to_jwk(key.public_key())))[0]
    cases = {
        "typ JWT, not at+jwt": forge.rs256(claims, key, kid=kid, typ="JWT"),
        "no typ": forge.rs256(claims, key, kid=kid, typ=None),
        "another audience": forge.rs256({**claims, "aud": "urn:other"}, key, kid=kid, typ="at+jwt"),
        "another issuer": forge.rs256(
            {**claims, "iss": "http://127.0.0.1:1"}, key, kid=kid, typ="at+jwt"
        ),
        "expired": forge.rs256(
            {**claims, "iat": now - 7200, "exp": now - 3600}, key, kid=kid, typ="at+jwt"
        ),
        "no sub": forge.rs256(
            {k: v for k, v in claims.items() if k != "sub"}, key, kid=kid, typ="at+jwt"
        ),
        "unknown kid": forge.rs256(claims, forge.new_key(), kid="idp-unknown", typ="at+jwt"),
        "HS256 with the provider's public key": forge.hmac_signed(
            claims, pem, kid=kid, typ="at+jwt"
        ),
        "alg none": forge.unsigned(claims),
        "tampered scope": forge.with_claims(real, scope="altlas.admin altlas.user"),
    }
    assert (await _get(gateway, real, f"{API}/archive/search")).status_code == 200
    got = {
        name: (await _get(gateway, token, f"{API}/archive/search")).status_code
        for name, token in cases.items()
    }
    assert all(code == 401 for code in got.values()), f"each must be 401: {got}"


async def test_a_key_rotation_needs_no_gateway_restart(
    idp: dict[str, Any],
    gateway: GatewayClient,
    stack: StackState,
    harness_settings: HarnessSettings,
) -> None:
    config = _provider_config(stack)
    before = await _token(idp, "viewer")
    old_kid = forge.parts(before)[0]["kid"]
    # Read now: earlier tests may have restarted the gateway since the session began.
    gateway_pid = load_state(harness_settings).processes["gateway"].pid
    assert (await _get(gateway, before, f"{API}/archive/search")).status_code == 200
    new_kid = oidc.rotate_keys(config)
    await local.restart(harness_settings, "oidc", progress=lambda _: None)
    after = await _token(idp, "viewer")
    assert forge.parts(after)[0]["kid"] == new_kid != old_kid, "the provider signs with the new key"
    # The gateway refetches the JWKS for an unknown kid at most once a second (a flood of made-up
    # kids must not hammer the provider), so the new key's first token may wait that long.
    started = time.monotonic()

    async def _accepted() -> bool:
        return (await _get(gateway, after, f"{API}/archive/search")).status_code == 200

    await poll_until(_accepted, 10, "the gateway to accept a token of the provider's new key")
    print(f"new key accepted {time.monotonic() - started:.2f} s after the rotation")
    old = await _get(gateway, before, f"{API}/archive/search")
    assert old.status_code == 200, (
        f"the old key is still published: its token stays valid ({old.text})"
    )
    state = load_state(harness_settings)
    assert state.processes["gateway"].pid == gateway_pid, "the gateway was not restarted"
