"""HTTP caching at the gateway: a status or archive read carries an ETag and a Cache-Control;
revalidating an unchanged answer is a 304; a changed one — the command moved on, an admin
changed the record's status — is never answered from the old tag."""

from __future__ import annotations

import httpx
import pytest

from harness.clients.gateway import API, GatewayClient


async def _get(gateway: GatewayClient, path: str, role: str, tag: str | None) -> httpx.Response:
    headers = {"If-None-Match": tag} if tag else {}
    return await gateway.request("GET", path, role=role, headers=headers)


async def test_a_status_is_revalidated_and_never_served_stale(gateway: GatewayClient) -> None:
    cid = await gateway.submit_ok("önbellek denemesi: raporu hazırla")
    path = f"{API}/commands/{cid}"
    first = await _get(gateway, path, "user", None)
    tag = first.headers.get("etag")
    if tag is None:
        pytest.skip("the gateway sends no ETag on a command's status")
    assert "no-cache" in first.headers.get("cache-control", ""), first.headers
    assert "private" in first.headers.get("cache-control", ""), first.headers
    again = await _get(gateway, path, "user", tag)
    if again.status_code == 200:  # the command moved on between the two reads
        assert again.headers["etag"] != tag and again.json() != first.json()
    else:
        assert again.status_code == 304 and again.content == b"", again
    final = await gateway.wait_until_final(cid)
    after = await _get(gateway, path, "user", tag)
    assert after.status_code == 200, "the archived status must not be answered from the old tag"
    assert after.json()["status"] == final["status"] and after.headers["etag"] != tag
    if "other" in gateway.credentials:
        other = await _get(gateway, path, "other", after.headers["etag"])
        assert other.status_code == 404, "a tag does not let another user revalidate"


async def test_an_archive_record_changed_by_an_admin_gets_a_new_tag(
    gateway: GatewayClient,
) -> None:
    cid = await gateway.submit_ok("önbellek denemesi: arşiv kaydı")
    atlas_id = (await gateway.wait_until_final(cid))["atlas_id"]
    path = f"{API}/archive/{atlas_id}"
    first = await _get(gateway, path, "admin", None)
    assert first.status_code == 200, first.text
    tag = first.headers.get("etag")
    if tag is None:
        pytest.skip("the gateway sends no ETag on an archive record")
    assert (await _get(gateway, path, "admin", tag)).status_code == 304
    new_status = "archived" if first.json()["status"] != "archived" else "active"
    changed = await gateway.request("PATCH", path, role="admin", json={"status": new_status})
    assert changed.status_code == 200, changed.text
    after = await _get(gateway, path, "admin", tag)
    assert after.status_code == 200 and after.json()["status"] == new_status, after.text
    assert after.headers["etag"] != tag
