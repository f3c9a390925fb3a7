"""The ceiling: the pipeline's three hops with nats-py and empty handlers, on the same NATS
server, with the same message sizes, acks, consumer batches and stream settings.

Hop k is a process (`harness.bench.hop`) consuming `<prefix>.s<k>` and republishing to
`<prefix>.s<k+1>`; the driver publishes into s0 and watches s3. A private stream is created
for the run and deleted after it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from harness.bench.hop import hop_env
from harness.bench.pipeline import BenchError
from harness.stack.state import StackState, nats_access

DUPLICATE_WINDOW_S = 600.0  # as the ALTLAS stream
BATCH = 16  # as the services' consumer_batch


async def ceiling(
    state: StackState, n: int, concurrency: int, sizes: tuple[int, int, int, int]
) -> dict[str, Any]:
    access = nats_access(state)
    run = uuid.uuid4().hex[:8]
    stream, prefix = f"BENCH_{run}", f"bench.{run}"
    nc = await access.connect()
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=stream,
            subjects=[f"{prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
    )
    procs: list[asyncio.subprocess.Process] = []
    try:
        for k in range(3):
            await js.add_consumer(
                stream,
                ConsumerConfig(
                    durable_name=f"hop{k}",
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=10.0,
                    max_ack_pending=1000,
                    filter_subject=f"{prefix}.s{k}",
                ),
            )
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "harness.bench.hop",
                access.url,
                stream,
                f"hop{k}",
                f"{prefix}.s{k + 1}",
                str(sizes[k + 1]),
                str(BATCH),
                stdout=asyncio.subprocess.PIPE,
                # The login and CA by environment, not on a command line anyone can read.
                env={**os.environ, **hop_env(access)},
            )
            procs.append(proc)
        for proc in procs:
            if proc.stdout is None:  # created with stdout=PIPE: never
                raise RuntimeError("a hop process has no stdout pipe")
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
            if line.strip() != b"ready":
                raise BenchError(f"a ceiling hop did not start: {line!r}")
        done: dict[str, float] = {}
        all_done = asyncio.Event()

        async def on_final(msg: Msg) -> None:
            done[uuid.uuid4().hex] = time.perf_counter()
            if len(done) >= n:
                all_done.set()

        await nc.subscribe(f"{prefix}.s3", cb=on_final)
        payload = b"x" * sizes[0]
        gate = asyncio.Semaphore(concurrency)
        started: list[float] = []

        async def publish() -> None:
            async with gate:
                started.append(time.perf_counter())
                await js.publish(
                    f"{prefix}.s0", payload, timeout=5, headers={"Nats-Msg-Id": uuid.uuid4().hex}
                )

        t0 = time.perf_counter()
        await asyncio.gather(*(publish() for _ in range(n)))
        try:
            await asyncio.wait_for(all_done.wait(), timeout=60 + n / 10)
        except TimeoutError:
            raise BenchError(f"ceiling: only {len(done)} of {n} messages made three hops") from None
        elapsed = max(done.values()) - t0
        return {
            "messages": n,
            "concurrency": concurrency,
            "message_bytes": list(sizes),
            "per_s": round(n / elapsed, 2),
            "elapsed_s": round(elapsed, 2),
        }
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await js.delete_stream(stream)
        await nc.close()
