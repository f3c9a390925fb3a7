"""One hop of the ceiling benchmark, as its own process (like each service): a durable pull
consumer that fetches a batch, republishes every message (same size, Nats-Msg-Id, awaiting the
PubAck) and acks it, handling the batch concurrently — the services' consumer loop with an
empty handler.

    python -m harness.bench.hop NATS_URL STREAM DURABLE OUT_SUBJECT SIZE BATCH
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import nats
import nats.errors
from nats.aio.msg import Msg

from harness.infra.nats import NatsAccess


def hop_env(access: NatsAccess) -> dict[str, str]:
    """The environment a hop process reads its login and CA from."""
    env = {"HOP_NATS_USER": access.user or "", "HOP_NATS_PASSWORD": access.password or ""}
    return env | ({"HOP_NATS_CA": access.ca} if access.ca else {})


async def hop(url: str, stream: str, durable: str, out: str, size: int, batch: int) -> None:
    access = NatsAccess(
        url,
        os.environ.get("HOP_NATS_USER") or None,
        os.environ.get("HOP_NATS_PASSWORD") or None,
        os.environ.get("HOP_NATS_CA") or None,
    )
    nc = await access.connect()
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(durable, stream=stream)
    payload = b"x" * size

    async def handle(msg: Msg) -> None:
        await js.publish(out, payload, timeout=5, headers={"Nats-Msg-Id": uuid.uuid4().hex})
        await msg.ack()

    print("ready", flush=True)
    while True:
        try:
            msgs = await sub.fetch(batch, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        if msgs:
            await asyncio.gather(*(handle(m) for m in msgs))


def main() -> None:
    url, stream, durable, out, size, batch = sys.argv[1:7]
    asyncio.run(hop(url, stream, durable, out, int(size), int(batch)))


if __name__ == "__main__":
    main()
