"""Toxiproxy: a TCP proxy on every dependency link of the local stack, for network faults.

The binary comes from `go install` (`make toxiproxy`, part of set-up when Go is present) or
from PATH. Proxies are declared in a config file at start, so a restarted Toxiproxy comes back
with the same links. Without the binary the stack runs with direct links and says so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.infra._process import ManagedProcess, ProcessRecord, free_port, tool_binary

log = logging.getLogger(__name__)

VERSION = "v2.12.0"


def toxiproxy_binary() -> str | None:
    return tool_binary("toxiproxy-server")


@dataclass(frozen=True)
class Link:
    """One dependency link: `client` → `upstream` through a proxy listening on `listen`."""

    name: str  # e.g. "runner->nats"
    listen: str  # host:port the client connects to
    upstream: str  # host:port of the real dependency

    @property
    def proxy(self) -> str:
        # Toxiproxy names: letters, digits, '_' and '-'.
        return self.name.replace("->", "_to_")

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "proxy": self.proxy,
            "listen": self.listen,
            "upstream": self.upstream,
        }


def make_link(name: str, upstream: str) -> Link:
    return Link(name, f"127.0.0.1:{free_port()}", upstream)


class ToxiproxyServer:
    def __init__(self, binary: str, root: Path, log_path: Path, links: list[Link]) -> None:
        self.port = free_port()
        self.links = links
        self.config = root / "toxiproxy.json"
        root.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "toxiproxy",
            [binary, "-host", "127.0.0.1", "-port", str(self.port), "-config", str(self.config)],
            log_path=log_path,
            cwd=root,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 20.0) -> None:
        self.config.write_text(
            json.dumps(
                [
                    {
                        "name": link.proxy,
                        "listen": link.listen,
                        "upstream": link.upstream,
                        "enabled": True,
                    }
                    for link in self.links
                ],
                indent=2,
            )
        )
        self.process.start()

        async def _ready() -> bool:
            async with httpx.AsyncClient(timeout=2) as client:
                resp = await client.get(f"{self.url}/proxies")
                return resp.status_code == 200 and len(resp.json()) == len(self.links)

        await self.process.wait_ready(
            _ready, timeout_s, f"Toxiproxy at {self.url} with its proxies"
        )

    async def stop(self) -> None:
        await self.process.stop()

    def record(self) -> ProcessRecord:
        return self.process.record(url=self.url, links=[link.to_json() for link in self.links])


class ToxiproxyClient:
    """The Toxiproxy HTTP API, as much of it as the fault primitives need."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=5)

    async def __aenter__(self) -> ToxiproxyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def _ok(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 300:
            raise HarnessError(
                f"Toxiproxy {resp.request.method} {resp.request.url}:"
                f" {resp.status_code} {resp.text}"
            )
        return resp.json() if resp.content else None

    async def proxies(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._ok(await self.http.get("/proxies"))
        return result

    async def add_toxic(
        self,
        proxy: str,
        kind: str,
        attributes: dict[str, Any],
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Put the toxic on `proxy`; one of the same name left by an interrupted run (a killed
        campaign never healed it) is replaced, so the fault is the one asked for."""
        name = name or f"{kind}_{stream}"
        body = {
            "name": name,
            "type": kind,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        resp = await self.http.post(f"/proxies/{proxy}/toxics", json=body)
        if resp.status_code == 409:
            log.warning("toxic %s was left on %s; replacing it", name, proxy)
            await self.remove_toxic(proxy, name)
            resp = await self.http.post(f"/proxies/{proxy}/toxics", json=body)
        await self._ok(resp)
        return name

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self._ok(await self.http.delete(f"/proxies/{proxy}/toxics/{name}"))

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        await self._ok(await self.http.post(f"/proxies/{proxy}", json={"enabled": enabled}))

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        await self._ok(await self.http.post("/reset"))
