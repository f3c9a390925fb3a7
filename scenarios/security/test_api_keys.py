"""API keys through the gateway's API: created and shown once, listed without their secret,
usable as X-API-Key or `Authorization: ApiKey`, rotated with an overlap, revoked at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.clients.gateway import API, GatewayClient


async def _create(gateway: GatewayClient, **body: Any) -> dict[str, Any]:
    resp = await gateway.request("POST", f"{API}/api-keys", json={"name": "ci", **body})
    if resp.status_code == 404:
        pytest.skip(f"the target has no {API}/api-keys")
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


async def _use(gateway: GatewayClient, key: str, header: str = "x-api-key") -> httpx.Response:
    headers = {"X-API-Key": key} if header == "x-api-key" else {"Authorization": f"ApiKey {key}"}
    return await gateway.http.get(f"{API}/archive/search", headers=headers)


async def test_a_key_is_shown_once_and_works_both_ways(gateway: GatewayClient) -> None:
    created = await _create(gateway, name="rapor betiği", roles=["user"], routes=[f"{API}/archive"])
    key = created["key"]
    assert key.startswith(f"altlas_{created['prefix']}_"), created
    owner = gateway.credentials["user"]["username"]
    assert created["roles"] == ["user"] and created["owner"] == owner, created
    for header in ("x-api-key", "authorization"):
        resp = await _use(gateway, key, header)
        assert resp.status_code == 200, f"{header}: {resp.status_code} {resp.text}"
        assert "ratelimit-remaining" in resp.headers, resp.headers
    listed = (await gateway.request("GET", f"{API}/api-keys")).json()
    mine = [k for k in listed if k["id"] == created["id"]]
    assert mine and "key" not in mine[0], "a listed key carries no secret"
    assert mine[0]["last_used_at"] is not None, "its use is recorded"
    assert key not in str(listed)
    off_route = await gateway.http.post(
        f"{API}/commands", json={"command": "x"}, headers={"X-API-Key": key}
    )
    assert off_route.status_code == 403, "a key limited to the archive cannot submit"
    # A viewer sees every user's commands: a user's key with it would see more than its owner.
    wider = await gateway.request(
        "POST", f"{API}/api-keys", json={"name": "x", "roles": ["viewer"]}
    )
    assert wider.status_code == 403, wider.text


async def test_rotation_keeps_the_old_key_for_its_overlap_then_revocation_is_immediate(
    gateway: GatewayClient,
) -> None:
    first = await _create(gateway)
    rotated = await gateway.request(
        "POST", f"{API}/api-keys/{first['id']}/rotate", json={"overlap_s": 3600}
    )
    assert rotated.status_code == 201, rotated.text
    second = rotated.json()
    assert second["key"] != first["key"] and second["roles"] == first["roles"]
    assert (await _use(gateway, first["key"])).status_code == 200, "the old key, within overlap"
    assert (await _use(gateway, second["key"])).status_code == 200
    again = await gateway.request(
        "POST", f"{API}/api-keys/{second['id']}/rotate", json={"overlap_s": 0}
    )
    third = again.json()
    old = await _use(gateway, second["key"])
    assert old.status_code == 401, f"no overlap: the replaced key stops at once ({old.text})"
    assert (await _use(gateway, third["key"])).status_code == 200
    gone = await gateway.request("DELETE", f"{API}/api-keys/{third['id']}")
    assert gone.status_code == 204, gone.text
    after = await _use(gateway, third["key"])
    assert after.status_code == 401 and "revoked" in after.text, after.text
    assert after.headers["content-type"].startswith("application/problem+json")
