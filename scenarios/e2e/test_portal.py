"""The API documentation portal in a real browser (Debian's Chromium through Playwright): the
page renders the four services' documents, "try it" logs in, submits a Turkish command and reads
it back through the gateway; and the deprecated password grant answers with its Deprecation,
Sunset and Link headers."""

from __future__ import annotations

import os
import re
import shutil
from email.utils import parsedate_to_datetime

import pytest

from harness.clients.gateway import API, GatewayClient

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


async def test_the_portal_renders_and_try_it_works(gateway: GatewayClient) -> None:
    probe = await gateway.http.get("/portal")
    if probe.status_code == 404:
        pytest.skip("the gateway serves no /portal")
    assert probe.status_code == 200 and probe.headers["content-type"].startswith("text/html")
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (make chromium, or set CHROMIUM)")
    from playwright.async_api import async_playwright

    username, password = (
        gateway.credentials["user"]["username"],
        gateway.credentials["user"]["password"],
    )
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: errors.append(msg.text) if msg.type == "error" else None,
            )
            await page.goto(f"{gateway.base_url}/portal")
            assert await page.title() == "ALT_LAS API portal"
            for service in ("gateway", "segmentation", "runner", "archive"):
                section = page.locator(f"section.service#{service}")
                assert await section.count() == 1, f"no {service} section"
                missing = await section.locator("p.missing").all_inner_texts()
                assert not missing, f"{service}: {missing}"
                assert await section.locator("section.op").count() >= 2, service
            assert await page.locator("#errors tr").count() >= 10
            assert await page.locator("#changelog li").count() >= 5

            await page.fill("#session input[name=username]", username)
            await page.fill("#session input[name=password]", password)
            await page.click("#session button")
            # (The page's CSP forbids eval, so the wait is a selector, not a JS predicate.)
            await page.locator("#who", has_text=re.compile("^(logged in|login failed)")).wait_for()
            who = await page.inner_text("#who")
            assert who == f"logged in as {username}", who

            submit = page.locator('section.op[data-method="POST"][data-path="/api/v1/commands"]')
            await submit.locator("summary").click()
            body = submit.locator("textarea[name=body]")
            await body.fill('{"command": "portal denemesi: günlük raporu arşivle"}')
            await submit.locator("button[type=submit]").click()
            answer = submit.locator("pre.answer")
            await answer.locator("xpath=self::*[@data-status]").wait_for()
            text = await answer.inner_text()
            assert await answer.get_attribute("data-status") == "202", text
            command_id = text.split('"id": "', 1)[1].split('"', 1)[0]

            read = page.locator(
                'section.op[data-method="GET"][data-path="/api/v1/commands/{command_id}"]'
            )
            await read.locator("summary").click()
            await read.locator('input[name="path:command_id"]').fill(command_id)
            await read.locator("button[type=submit]").click()
            answer = read.locator("pre.answer")
            await answer.locator("xpath=self::*[@data-status]").wait_for()
            text = await answer.inner_text()
            assert await answer.get_attribute("data-status") == "200", text
            assert command_id in text
            assert not errors, f"the page logged errors: {errors}"
        finally:
            await browser.close()
    # What the browser submitted is a real command of the user's.
    assert (await gateway.status(command_id))["id"] == command_id


async def test_the_password_grant_is_deprecated_with_headers(gateway: GatewayClient) -> None:
    username, password = (
        gateway.credentials["user"]["username"],
        gateway.credentials["user"]["password"],
    )
    resp = await gateway.http.post(
        f"{API}/auth/token",
        data={"grant_type": "password", "username": username, "password": password},
    )
    if resp.status_code == 404:
        pytest.skip("the gateway has no deprecated /auth/token route")
    assert resp.status_code == 200, resp.text
    assert resp.json()["token_type"] == "Bearer"  # noqa: S105 a token type, not a secret
    assert resp.headers["deprecation"].startswith("@"), resp.headers
    sunset = parsedate_to_datetime(resp.headers["sunset"])
    since = int(resp.headers["deprecation"][1:])
    assert sunset.timestamp() - since >= 180 * 86_400, "less than 180 days of notice"
    assert 'rel="successor-version"' in resp.headers["link"]
    # The token works; a current route carries no deprecation.
    headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
    current = await gateway.http.get(f"{API}/api-keys", headers=headers)
    assert current.status_code == 200, current.text
    assert "deprecation" not in current.headers and "sunset" not in current.headers
    wrong = await gateway.http.post(
        f"{API}/auth/token", content=b"grant_type=password", headers={"Content-Type": "text/plain"}
    )
    assert wrong.status_code == 415 and wrong.headers["content-type"].startswith(
        "application/problem+json"
    )


async def test_the_portal_documents_are_served_together(gateway: GatewayClient) -> None:
    resp = await gateway.http.get("/portal/openapi.json")
    if resp.status_code == 404:
        pytest.skip("the gateway serves no /portal/openapi.json")
    docs = resp.json()
    assert set(docs) == {"gateway", "segmentation", "runner", "archive"}
    for name, doc in docs.items():
        assert isinstance(doc, dict) and doc.get("openapi", "").startswith("3."), (name, doc)
