"""`make bench-nats`: JetStream publish and consume rates and publish latency, on servers this
benchmark starts for itself, in four set-ups measured in the same run:

- R1, default sync: one server, the stream on it, fsync every two minutes (NATS's default);
- R1, sync always: one server, fsync before every ack (what the reference stack runs);
- R3, default sync / R3, sync always: a three-node cluster on loopback, the stream on all three.

Message sizes are the pipeline's own events: read from the running stack's events stream (the
mean size per subject) when a stack is up, else from the examples of the Pact message contracts
(`contracts/pacts/`). Each set-up runs `rounds` times, the set-ups alternating, and each figure
is the median of its rounds. Ratios are against R1 default sync of the same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout

from harness.bench._stats import summary_ms
from harness.errors import HarnessError
from harness.infra.nats import NatsAccess, NatsCluster, NatsServer

REPO = Path(__file__).resolve().parents[2]
PACTS = REPO / "contracts" / "pacts"
BATCH = 16  # as the services' consumer_batch


@dataclass(frozen=True)
class Setup:
    name: str
    replicas: int
    sync: str  # "always" or NATS's default interval

    @property
    def label(self) -> str:
        return f"R{self.replicas}, sync {'always' if self.sync == 'always' else 'default'}"


SETUPS = (
    Setup("r1-default", 1, "2m"),
    Setup("r1-always", 1, "always"),
    Setup("r3-default", 3, "2m"),
    Setup("r3-always", 3, "always"),
)


def pact_sizes() -> dict[str, int]:
    """Bytes of each event kind's example in the Pact message contracts."""
    sizes: dict[str, list[int]] = {}
    for path in sorted(PACTS.glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8")).get("interactions", []):
            if not str(item.get("type", "")).startswith("Asynchronous"):
                continue
            content = item.get("contents", {}).get("content")
            kind = content.get("type") if isinstance(content, dict) else None
            if kind:
                sizes.setdefault(str(kind), []).append(len(json.dumps(content).encode()))
    if not sizes:
        raise HarnessError(f"no message examples in {PACTS}: cannot size the benchmark")
    return {kind: round(statistics.mean(v)) for kind, v in sorted(sizes.items())}


async def stream_sizes(access: NatsAccess) -> dict[str, int]:
    """Mean stored bytes per subject of a running stack's events stream (empty: nothing)."""
    from harness.probes.streams import read_stream

    nc = await access.connect(connect_timeout=3, max_reconnect_attempts=1)
    try:
        stored = await read_stream(nc.jetstream(), "ALTLAS")
    finally:
        await nc.close()
    by: dict[str, list[int]] = {}
    for m in stored:
        by.setdefault(m.subject, []).append(len(m.data))
    return {s: round(statistics.mean(v)) for s, v in sorted(by.items())}


async def _measure(
    url: str, replicas: int, size: int, messages: int, concurrency: int
) -> dict[str, Any]:
    nc = await nats.connect(url, connect_timeout=5)
    js = nc.jetstream(timeout=10)
    run = uuid.uuid4().hex[:8]
    stream = f"BENCHNATS_{run}"
    try:
        await js.add_stream(name=stream, subjects=[f"benchnats.{run}"], num_replicas=replicas)
        payload = b"x" * size
        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []

        async def publish(i: int) -> None:
            async with gate:
                t = time.perf_counter()
                await js.publish(f"benchnats.{run}", payload, headers={"Nats-Msg-Id": f"{run}-{i}"})
                latencies.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(publish(i) for i in range(messages)))
        publish_s = time.perf_counter() - t0
        sub = await js.pull_subscribe(f"benchnats.{run}", durable="bench", stream=stream)
        got = 0
        t1 = time.perf_counter()
        while got < messages:
            try:
                batch = await sub.fetch(BATCH, timeout=5)
            except NatsTimeout:
                raise HarnessError(f"consume stalled at {got} of {messages}") from None
            await asyncio.gather(*(m.ack_sync() for m in batch))
            got += len(batch)
        consume_s = time.perf_counter() - t1
        return {
            "publish_per_s": messages / publish_s,
            "consume_per_s": messages / consume_s,
            "publish_latency": summary_ms(latencies),
        }
    finally:
        try:
            await js.delete_stream(stream)
        finally:
            await nc.close()


async def _with_servers(setup: Setup, root: Path, work: Callable[[str], Any]) -> Any:
    if setup.replicas == 1:
        server = NatsServer(root / "data", root / "nats.log", sync_interval=setup.sync)
        await server.start()
        try:
            return await work(server.url)
        finally:
            await server.stop()
    cluster = NatsCluster(root / "data", root, setup.replicas, sync_interval=setup.sync)
    await asyncio.gather(*(n.start() for n in cluster.nodes))
    try:
        await cluster.wait_meshed()
        return await work(cluster.nodes[0].url)
    finally:
        await asyncio.gather(*(n.stop() for n in cluster.nodes))


async def bench_nats(
    sizes: dict[str, int],
    *,
    messages: int = 1000,
    concurrency: int = 32,
    rounds: int = 3,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    if messages < 1 or concurrency < 1 or rounds < 1:
        raise HarnessError("messages, concurrency and rounds must be at least 1")
    raw: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as tmp:
        for r in range(rounds):
            for setup in SETUPS:
                progress(f"round {r + 1}/{rounds}: {setup.label}")
                root = Path(tmp) / f"{setup.name}-{r}"

                async def work(url: str, setup: Setup = setup) -> None:
                    for kind, size in sizes.items():
                        found = await _measure(url, setup.replicas, size, messages, concurrency)
                        raw.setdefault((setup.name, kind), []).append(found)

                await _with_servers(setup, root, work)
    cells = []
    for setup in SETUPS:
        for kind, size in sizes.items():
            runs = raw[(setup.name, kind)]
            cells.append(
                {
                    "setup": setup.name,
                    "label": setup.label,
                    "replicas": setup.replicas,
                    "sync": setup.sync,
                    "message": kind,
                    "bytes": size,
                    "publish_per_s": round(statistics.median(x["publish_per_s"] for x in runs), 1),
                    "consume_per_s": round(statistics.median(x["consume_per_s"] for x in runs), 1),
                    "publish_p50_ms": statistics.median(
                        x["publish_latency"]["p50_ms"] for x in runs
                    ),
                    "publish_p99_ms": statistics.median(
                        x["publish_latency"]["p99_ms"] for x in runs
                    ),
                }
            )
    base = {c["message"]: c for c in cells if c["setup"] == "r1-default"}
    for c in cells:
        b = base[c["message"]]
        c["publish_ratio"] = round(c["publish_per_s"] / b["publish_per_s"], 3)
        c["consume_ratio"] = round(c["consume_per_s"] / b["consume_per_s"], 3)
    return {
        "messages": messages,
        "concurrency": concurrency,
        "rounds": rounds,
        "baseline": "r1-default",
        "cells": cells,
    }


def render(result: dict[str, Any], source: str) -> str:
    head = (
        f"JetStream: {result['messages']} messages per cell, {result['concurrency']} publishes in"
        f" flight, median of {result['rounds']} rounds; sizes from {source};"
        " ratios vs R1 default sync"
    )
    rows = [
        [
            c["label"],
            c["message"],
            f"{c['bytes']} B",
            f"{c['publish_per_s']:.0f}/s ({c['publish_ratio']:.2f})",
            f"{c['publish_p50_ms']:.1f} / {c['publish_p99_ms']:.1f} ms",
            f"{c['consume_per_s']:.0f}/s ({c['consume_ratio']:.2f})",
        ]
        for c in result["cells"]
    ]
    titles = ["set-up", "message", "size", "publish", "publish p50 / p99", "consume"]
    table = [titles, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(titles))]
    lines = [head, ""]
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
