"""The gateway's promises about bad input, authentication, roles and idempotency."""

from __future__ import annotations

import secrets

import httpx

from harness.clients.gateway import API, GatewayClient

PROBLEM = "application/problem+json"


async def test_idempotency_key_returns_the_same_command(gateway: GatewayClient) -> None:
    key = secrets.token_hex(8)
    first = await gateway.submit("Raporu oluştur ve gönder", idempotency_key=key)
    again = await gateway.submit("Raporu oluştur ve gönder", idempotency_key=key)
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"], (
        "a retry with the same key must return the same id"
    )
    other = await gateway.submit("Raporu oluştur ve gönder")
    assert other.json()["id"] != first.json()["id"], "without a key a new command is created"
    changed = await gateway.submit("Başka bir komut", idempotency_key=key)
    assert changed.status_code == 409, (
        f"reusing a key with another body: expected 409, got {changed.status_code}"
    )
    assert changed.headers["content-type"].startswith(PROBLEM)


async def test_invalid_input_is_422_problem(gateway: GatewayClient) -> None:
    cases = {
        "empty command": {"command": ""},
        "blank command": {"command": "   "},
        "too long": {"command": "a" * 4001},
        "unknown mode": {"command": "aç", "mode": "turbo"},
        "chaos without level": {"command": "aç", "mode": "chaos"},
        "level out of range": {"command": "aç", "mode": "chaos", "chaos_level": 11},
        "unknown field": {"command": "aç", "colour": "red"},
    }
    for name, body in cases.items():
        resp = await gateway.request("POST", f"{API}/commands", json=body)
        assert resp.status_code == 422, f"{name}: expected 422, got {resp.status_code} {resp.text}"
        assert resp.headers["content-type"].startswith(PROBLEM), f"{name}: {resp.headers}"
        problem = resp.json()
        assert problem["status"] == 422 and problem["detail"], f"{name}: {problem}"
    not_json = await gateway.request(
        "POST", f"{API}/commands", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422, not_json.text


async def test_a_lone_surrogate_is_422_naming_the_field(gateway: GatewayClient) -> None:
    # JSON's \\ud800 escape is valid JSON but no character: it cannot be stored as UTF-8 (it was
    # a 500). Sent as raw bytes: an HTTP client would refuse to encode such a string itself.
    cases = {
        "metadata": rb'{"command": "dosyalari listele", "metadata": {"a": "\ud800"}}',
        "command": rb'{"command": "dosyalari \udfff listele"}',
        "persona": rb'{"command": "dosyalari listele", "persona": "\udc00"}',
    }
    for field, raw in cases.items():
        resp = await gateway.request(
            "POST", f"{API}/commands", content=raw, headers={"Content-Type": "application/json"}
        )
        assert resp.status_code == 422, f"{field}: expected 422, got {resp.status_code} {resp.text}"
        assert resp.headers["content-type"].startswith(PROBLEM), f"{field}: {resp.headers}"
        assert field in resp.text, f"the 422 must name {field!r}: {resp.text}"
    pair = rb'{"command": "dosyalari listele \ud83d\ude00"}'  # a surrogate *pair* is one emoji
    ok = await gateway.request(
        "POST", f"{API}/commands", content=pair, headers={"Content-Type": "application/json"}
    )
    assert ok.status_code == 202, f"an escaped surrogate pair is a character: {ok.text}"


async def test_no_token_is_401_and_wrong_role_is_403(gateway: GatewayClient) -> None:
    anon = await gateway.request("POST", f"{API}/commands", role=None, json={"command": "aç"})
    assert anon.status_code == 401, f"expected 401 without a token, got {anon.status_code}"
    assert anon.headers["content-type"].startswith(PROBLEM)
    assert anon.headers.get("www-authenticate", "").startswith("Bearer")
    bogus = await gateway.http.get(
        f"{API}/commands/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert bogus.status_code == 401, bogus.text
    viewer = await gateway.submit("Dosyayı aç", role="viewer")
    assert viewer.status_code == 403, f"a viewer must not submit commands, got {viewer.status_code}"
    assert viewer.headers["content-type"].startswith(PROBLEM)


async def test_login_refresh_and_jwks(gateway: GatewayClient, stack) -> None:  # type: ignore[no-untyped-def]
    cred = stack.credentials["user"]
    bad = await gateway.login(cred["username"], "wrong")
    assert bad.status_code == 401, bad.text
    good = await gateway.login(cred["username"], cred["password"])
    assert good.status_code == 200, good.text
    tokens = good.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0  # noqa: S105 not a secret
    refreshed = await gateway.http.post(
        f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    as_refresh = await gateway.http.post(
        f"{API}/auth/refresh", json={"refresh_token": tokens["access_token"]}
    )
    assert as_refresh.status_code == 401, "an access token must not work as a refresh token"
    jwks = (await gateway.http.get("/.well-known/jwks.json")).json()
    assert jwks["keys"] and jwks["keys"][0]["kty"] == "RSA", jwks


async def test_unknown_command_is_404(gateway: GatewayClient) -> None:
    resp = await gateway.request("GET", f"{API}/commands/3f2b8c1e-0000-4000-8000-000000000000")
    assert resp.status_code == 404 and resp.headers["content-type"].startswith(PROBLEM), resp.text


async def test_every_service_serves_openapi_and_ops(stack) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=5) as client:
        for name in ("gateway", "segmentation", "runner", "archive"):
            base = stack.endpoints[name]
            spec = await client.get(f"{base}/openapi.json")
            assert spec.status_code == 200 and spec.json()["openapi"].startswith("3."), name
            assert (await client.get(f"{base}/docs")).status_code == 200, name
            assert (await client.get(f"{base}/livez")).status_code == 200, name
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 200, f"{name} not ready: {ready.text}"
            metrics = await client.get(f"{base}/metrics")
            assert "altlas_http_requests_total" in metrics.text, (
                f"{name} /metrics lacks request counters"
            )
