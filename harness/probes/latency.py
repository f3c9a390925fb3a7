"""Idle end-to-end latency: POST /commands → `archived`, one command at a time.

Each command is submitted only after the previous one is archived, so the figure is the
pipeline's latency without queueing. Status is polled every `poll_s` (which bounds the error).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from harness.clients.gateway import GatewayClient
from harness.polling import poll_until
from harness.stack.state import StackState

COMMANDS = (
    "İstanbul'da hava durumunu ara ve sonuçları özetle",
    "Create a quarterly report then send it to the finance team",
)


@dataclass(frozen=True)
class LatencyReport:
    samples_ms: list[float]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples_ms)
        k = (len(ordered) - 1) * p / 100
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": len(self.samples_ms),
            "p50_ms": round(self.percentile(50), 1),
            "p95_ms": round(self.percentile(95), 1),
            "min_ms": round(min(self.samples_ms), 1),
            "max_ms": round(max(self.samples_ms), 1),
            "mean_ms": round(statistics.fmean(self.samples_ms), 1),
        }


async def measure(state: StackState, n: int = 50, poll_s: float = 0.01) -> LatencyReport:
    samples: list[float] = []
    async with GatewayClient(state.endpoints["gateway"], state.credentials) as client:
        await client.token("user")  # log in before the clock starts
        for i in range(n):
            command = f"{COMMANDS[i % len(COMMANDS)]} #{i}"
            start = time.perf_counter()
            cid = await client.submit_ok(command)

            async def _archived(cid: str = cid) -> bool:
                status: str = (await client.status(cid))["status"]
                return status == "archived"

            await poll_until(
                _archived, 30, f"command {cid} to be archived", interval=poll_s, max_interval=poll_s
            )
            samples.append((time.perf_counter() - start) * 1000)
            print(f"\r  {i + 1}/{n} commands archived", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return LatencyReport(samples)
