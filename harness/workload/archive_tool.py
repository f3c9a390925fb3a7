"""`altlas-archive` of the local reference stack, run as its own process (never imported).

The reference archive ships its own tools (index status, lifecycle, migrate); the data suites
and the chaos experiments drive them on the stack the harness started, with the settings its
archive has: the archive's database and OpenSearch, reached directly (not through Toxiproxy).
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.stack.state import StackState
from harness.workload.seed import archive_dsn


@dataclass(frozen=True)
class ArchiveTool:
    env: dict[str, str]
    dsn: str

    @classmethod
    def of(cls, stack: StackState, index_alias: str = "altlas-atlas") -> ArchiveTool:
        missing = [e for e in ("postgres", "opensearch") if e not in stack.endpoints]
        if stack.target != "local" or missing:
            raise HarnessError(
                "the reference archive's tools run against the local reference stack only"
                + (f" (no {', '.join(missing)} endpoint)" if missing else "")
            )
        dsn = archive_dsn(stack.endpoints["postgres"])
        return cls(
            {
                "ALTLAS_DATABASE_URL": dsn,
                "ALTLAS_OPENSEARCH_URL": stack.endpoints["opensearch"],
                "ALTLAS_INDEX_PREFIX": index_alias,
            },
            dsn,
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "reference_services.archive", *args]

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self.command(*args),
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def run(self, *args: str, timeout: float = 300) -> tuple[int, str, str]:
        """Run to the end; (exit code, stdout, stderr)."""
        process = await self.start(*args)
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise HarnessError(f"altlas-archive {' '.join(args)} ran over {timeout} s") from None
        code = process.returncode if process.returncode is not None else -1
        return code, out.decode(), err.decode()
