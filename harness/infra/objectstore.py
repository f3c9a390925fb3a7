"""An S3-compatible object store on loopback: versitygw over a directory (`make versitygw`).

The local stack keeps its PostgreSQL base backups and archived WAL there (harness db backup).
versitygw serves one port, keeps objects as plain files under `.harness/data/objectstore`, and
has one root account whose keys are generated per stack and kept in the state file.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.infra._process import ManagedProcess, ProcessRecord, free_port, tool_binary

BUCKET = "altlas-backups"


def versitygw_binary() -> str | None:
    return tool_binary("versitygw")


@dataclass(frozen=True)
class S3Location:
    """Where and how to reach a bucket: what boto3 and barman-cloud both need."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix.strip('/')}"

    def env(self) -> dict[str, str]:
        """The environment barman-cloud (boto3) reads its credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def to_json(self) -> dict[str, str]:
        return {
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": self.region,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> S3Location:
        return cls(
            endpoint=str(data["endpoint"]),
            bucket=str(data["bucket"]),
            access_key=str(data["access_key"]),
            secret_key=str(data["secret_key"]),
            region=str(data.get("region", "us-east-1")),
        )

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            # Loopback: fail fast when the store is down instead of retrying for a minute.
            config=Config(
                connect_timeout=3,
                read_timeout=60,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )


class ObjectStore:
    """versitygw serving `root` as S3 on a free loopback port, with one bucket made at start."""

    def __init__(self, binary: str, root: Path, log_path: Path) -> None:
        self.port = free_port()
        self.root = root
        self.location = S3Location(
            endpoint=f"http://127.0.0.1:{self.port}",
            bucket=BUCKET,
            access_key="harness-" + secrets.token_hex(6),
            secret_key=secrets.token_urlsafe(24),
        )
        self.process = ManagedProcess(
            "objectstore",
            [
                binary,
                "--port",
                f"127.0.0.1:{self.port}",
                "--quiet",
                "--health",
                "/health",
                "posix",
                str(root / "buckets"),
            ],
            log_path=log_path,
            env={
                "ROOT_ACCESS_KEY": self.location.access_key,
                "ROOT_SECRET_KEY": self.location.secret_key,
            },
            cwd=root,
        )

    @property
    def url(self) -> str:
        return self.location.endpoint

    async def start(self, timeout_s: float = 30.0) -> None:
        (self.root / "buckets").mkdir(parents=True, exist_ok=True)
        self.process.start()

        async def _healthy() -> bool:
            return await healthy(self.url)

        await self.process.wait_ready(_healthy, timeout_s, f"the object store at {self.url}")
        client = self.location.client()
        await asyncio.to_thread(client.create_bucket, Bucket=self.location.bucket)

    async def stop(self) -> None:
        await self.process.stop()

    def record(self) -> ProcessRecord:
        return self.process.record(url=self.url, bucket=self.location.bucket)


async def healthy(url: str) -> bool:
    async with httpx.AsyncClient(timeout=3) as client:
        resp = await client.get(f"{url}/health")
        return resp.status_code == 200
