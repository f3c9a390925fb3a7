"""A typed async client for the gateway's public API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.polling import poll_until

API = "/api/v1"
TERMINAL = frozenset({"archived"})


class GatewayClient:
    """One httpx client; logs in per role on first use and caches the access token."""

    def __init__(
        self, base_url: str, credentials: Mapping[str, Mapping[str, str]], timeout_s: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)
        self._tokens: dict[str, str] = {}

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def login(self, username: str, password: str) -> httpx.Response:
        return await self.http.post(
            f"{API}/auth/login", json={"username": username, "password": password}
        )

    async def token(self, role: str) -> str:
        if role not in self._tokens:
            cred = self.credentials.get(role)
            if cred is None:
                raise HarnessError(
                    f"no credentials for role {role!r}: set HARNESS_{role.upper()}_CREDENTIALS"
                )
            resp = await self.login(cred["username"], cred["password"])
            if resp.status_code != 200:
                raise HarnessError(f"login as {role} failed: {resp.status_code} {resp.text}")
            self._tokens[role] = resp.json()["access_token"]
        return self._tokens[role]

    async def request(
        self, method: str, path: str, *, role: str | None = "user", **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if role is not None:
            headers["Authorization"] = f"Bearer {await self.token(role)}"
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def submit(
        self,
        command: str,
        *,
        role: str = "user",
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return await self.request(
            "POST",
            f"{API}/commands",
            role=role,
            json={"command": command, **fields},
            headers=headers,
        )

    async def submit_ok(self, command: str, **kwargs: Any) -> str:
        resp = await self.submit(command, **kwargs)
        if resp.status_code != 202:
            raise HarnessError(f"submit expected 202, got {resp.status_code}: {resp.text}")
        return str(resp.json()["id"])

    async def status(self, command_id: str, *, role: str = "user") -> dict[str, Any]:
        resp = await self.request("GET", f"{API}/commands/{command_id}", role=role)
        if resp.status_code != 200:
            raise HarnessError(f"status of {command_id}: {resp.status_code} {resp.text}")
        body: dict[str, Any] = resp.json()
        return body

    async def document(self, command_id: str, kind: str, *, role: str = "user") -> dict[str, Any]:
        resp = await self.request("GET", f"{API}/commands/{command_id}/{kind}", role=role)
        if resp.status_code != 200:
            raise HarnessError(f"{kind} of {command_id}: {resp.status_code} {resp.text}")
        body: dict[str, Any] = resp.json()
        return body

    async def wait_until_final(
        self, command_id: str, timeout: float = 60.0, *, role: str = "user"
    ) -> dict[str, Any]:
        """Wait until the gateway says nothing more will happen to the command."""

        async def _check() -> dict[str, Any] | None:
            body = await self.status(command_id, role=role)
            return body if body.get("final") else None

        return await poll_until(_check, timeout, f"command {command_id} to reach a final status")

    async def wait_for_status(
        self,
        command_id: str,
        statuses: Iterable[str] = TERMINAL,
        timeout: float = 60.0,
        *,
        role: str = "user",
    ) -> dict[str, Any]:
        wanted = frozenset(statuses)

        async def _check() -> dict[str, Any] | None:
            body = await self.status(command_id, role=role)
            return body if body["status"] in wanted else None

        return await poll_until(
            _check, timeout, f"command {command_id} to reach one of {sorted(wanted)}"
        )

    async def search(self, *, role: str = "user", **params: Any) -> httpx.Response:
        return await self.request("GET", f"{API}/archive/search", role=role, params=params)
