"""Read what a deployment's JetStream stored during a run and judge it (harness.checkers.broker).

Any deployment whose NATS the harness can reach (the `nats` endpoint): an ephemeral pull
consumer without acks reads the events stream from the run's start time, and the dead-letter
stream likewise; each consumer's `max_deliver` comes from the server. Nothing is acknowledged or
removed: the read leaves the streams and the services' consumers as they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from harness import schemas
from harness.checkers.broker import BrokerReport, DeadLetter, Stored, check_broker
from harness.errors import HarnessError
from harness.infra.nats import NatsAccess

__all__ = ["DEAD_LETTERS", "EVENTS", "broker_report", "read_stream"]

EVENTS = "ALTLAS"
DEAD_LETTERS = "ALTLAS_DLQ"
REDRIVE = "ALTLAS_REDRIVE"
BATCH = 500


async def read_stream(
    js: JetStreamContext, stream: str, since: datetime | None = None
) -> list[Stored]:
    """Every message `stream` holds (from `since`, when given), in stream order."""
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL if since is None else DeliverPolicy.BY_START_TIME,
        opt_start_time=None if since is None else since.astimezone(UTC),
        inactive_threshold=60.0,
    )
    try:
        sub = await js.pull_subscribe(">", durable=None, stream=stream, config=config)
    except NotFoundError:
        raise HarnessError(f"the broker has no stream {stream!r}") from None
    out: list[Stored] = []
    try:
        pending = int((await sub.consumer_info()).num_pending or 0)
        while len(out) < pending:
            try:
                batch = await sub.fetch(min(BATCH, pending - len(out)), timeout=5)
            except NatsTimeout:
                break  # what is left was removed meanwhile (limits); judged as read
            for msg in batch:
                headers = msg.headers or {}
                out.append(
                    Stored(
                        msg.metadata.sequence.stream,
                        msg.subject,
                        headers.get("Nats-Msg-Id"),
                        msg.data,
                    )
                )
    finally:
        await sub.unsubscribe()
    return out


def _dead_letters(messages: list[Stored]) -> list[DeadLetter]:
    letters = []
    for m in messages:
        try:
            record = json.loads(m.data)
            letters.append(
                DeadLetter(
                    int(record["stream_sequence"]),
                    # The durable that delivered it (a consumer's redrive has limits of its
                    # own); records written before `via` existed name only the consumer.
                    str(record.get("via") or record["consumer"]),
                    int(record["deliveries"]),
                    str(record.get("reason", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # not a record this checker can read: the DLQ suite judges its format
    return letters


async def broker_report(
    access: NatsAccess,
    since: datetime | None = None,
    validate: Callable[[str, object], list[str]] = schemas.errors,
) -> BrokerReport:
    """Read the events and dead-letter streams of the NATS at `access` and judge them."""
    nc = await access.connect(connect_timeout=5, max_reconnect_attempts=2)
    try:
        js = nc.jetstream()
        events = await read_stream(js, EVENTS, since)
        try:
            letters = _dead_letters(await read_stream(js, DEAD_LETTERS, since))
        except HarnessError:
            letters = []  # no dead-letter stream: nothing was dead-lettered
        limits = {}
        for stream in (EVENTS, REDRIVE):
            try:
                infos = await js.consumers_info(stream)
            except NotFoundError:
                continue  # a deployment without redrives
            for info in infos:
                if info.config.durable_name and info.config.max_deliver:
                    limits[info.config.durable_name] = int(info.config.max_deliver)
    finally:
        await nc.close()
    return check_broker(events, letters, limits, validate)
