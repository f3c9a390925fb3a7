"""The four reference services as processes (`python -m reference_services.<name>`)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from harness.infra._process import ManagedProcess, ProcessRecord, free_port

SERVICES = ("segmentation", "runner", "archive", "gateway")
REPO_ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    def __init__(
        self, name: str, env: Mapping[str, str], log_path: Path, *, port: int | None = None
    ) -> None:
        self.name = name
        self.port = port or free_port()
        full_env = {
            "ALTLAS_SERVICE_NAME": name,
            "ALTLAS_HOST": "127.0.0.1",
            "ALTLAS_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process = ManagedProcess(
            name,
            [sys.executable, "-m", f"reference_services.{name}"],
            log_path=log_path,
            env=full_env,
            cwd=REPO_ROOT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 60.0) -> None:
        self.process.start()
        await self.wait_ready(timeout_s)

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        async def _ready() -> bool:
            async with httpx.AsyncClient(timeout=3) as client:
                return (await client.get(f"{self.url}/readyz")).status_code == 200

        await self.process.wait_ready(_ready, timeout_s, f"{self.name} /readyz at {self.url}")

    async def stop(self) -> None:
        await self.process.stop()

    def record(self) -> ProcessRecord:
        return self.process.record(url=self.url)
