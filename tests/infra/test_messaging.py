"""JetStream messaging against a real nats-server: ack, NAK with back-off, dead letters, and a
graceful stop that NAKs in-flight messages instead of losing them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from harness.infra.nats import NatsServer
from harness.polling import poll_until
from reference_services.common import topology
from reference_services.common.errors import PermanentError, TransientError
from reference_services.common.events import encode, make_event
from reference_services.common.messaging import Messaging
from reference_services.common.settings import ServiceSettings

CID = "5b7e2a3c-1111-4222-8333-444455556666"


@pytest.fixture(scope="module")
async def nats_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    root = tmp_path_factory.mktemp("nats")
    async with NatsServer(root / "store", root / "nats.log") as server:
        yield server.url


def _settings(url: str, **kw: Any) -> ServiceSettings:
    base: dict[str, Any] = dict(
        nats_url=url,
        service_name="test",
        max_deliver=3,
        nak_backoff_s=(0.05,),
        ack_wait_s=5,
        shutdown_grace_s=0.5,
    )
    base.update(kw)
    return ServiceSettings(**base)


def _event(n: int) -> dict[str, Any]:
    return make_event(
        "status.changed",
        source="test",
        subject=CID,
        correlation_id=f"c{n}",
        data={
            "command_id": CID,
            "stage": "runner",
            "status": "running",
            "at": "2026-01-01T00:00:00Z",
        },
        event_id=f"test-{n}-{id(object())}",
    )


async def _dlq(url: str, consumer: str) -> list[dict[str, Any]]:
    nc = await nats.connect(url)
    try:
        sub = await nc.jetstream().pull_subscribe(
            topology.dlq_subject(consumer),
            durable=None,
            stream=topology.DLQ_STREAM,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        out: list[dict[str, Any]] = []
        try:
            while True:
                for m in await sub.fetch(50, timeout=0.5):
                    out.append(json.loads(m.data))
                    await m.ack()
        except (TimeoutError, nats.errors.TimeoutError):
            pass
        return out
    finally:
        await nc.close()


async def _run_consumer(
    url: str, durable: str, handler: Any, events: list[bytes], **kw: Any
) -> Messaging:
    spec = topology.ConsumerSpec(durable, (topology.status_subject("runner"),))
    messaging = Messaging(_settings(url, **kw))
    await messaging.connect()
    await messaging.js.add_consumer(
        topology.STREAM,
        ConsumerConfig(
            durable_name=durable,
            filter_subject=spec.filter_subjects[0],
            deliver_policy=DeliverPolicy.NEW,
            max_deliver=3,
            ack_wait=5,
        ),
    )
    for payload in events:
        await messaging.js.publish(topology.status_subject("runner"), payload)
    messaging.consume(spec, handler)
    return messaging


async def test_transient_errors_are_retried_then_dead_lettered(nats_url: str) -> None:
    attempts: list[str] = []

    async def always_fails(envelope: dict[str, Any]) -> None:
        attempts.append(envelope["id"])
        raise TransientError("dependency down")

    event = _event(1)
    messaging = await _run_consumer(nats_url, "t-transient", always_fails, [encode(event)])
    try:
        records = await poll_until(
            lambda: _dlq(nats_url, "t-transient"), 20, "the exhausted message in the DLQ"
        )
    finally:
        await messaging.close()
    assert len(attempts) == 3, f"expected exactly max_deliver=3 attempts, got {len(attempts)}"
    assert "deliveries exhausted (3)" in records[0]["reason"], records[0]
    assert json.loads(records[0]["payload"])["id"] == event["id"]


async def test_permanent_error_goes_straight_to_dlq(nats_url: str) -> None:
    attempts: list[str] = []

    async def rejects(envelope: dict[str, Any]) -> None:
        attempts.append(envelope["id"])
        raise PermanentError("cannot ever work")

    messaging = await _run_consumer(nats_url, "t-permanent", rejects, [encode(_event(2))])
    try:
        records = await poll_until(
            lambda: _dlq(nats_url, "t-permanent"), 20, "the rejected message in the DLQ"
        )
    finally:
        await messaging.close()
    assert attempts == [attempts[0]], f"a permanent error must not be retried: {attempts}"
    assert "permanent error: cannot ever work" in records[0]["reason"]


async def test_a_bad_message_does_not_block_the_good_ones(nats_url: str) -> None:
    handled: list[str] = []

    async def ok(envelope: dict[str, Any]) -> None:
        handled.append(envelope["id"])

    good = [_event(10 + i) for i in range(5)]
    payloads = [b"\xff not json"] + [encode(e) for e in good]
    messaging = await _run_consumer(nats_url, "t-mixed", ok, payloads)
    try:
        await poll_until(
            lambda: asyncio.sleep(0, result=len(handled) == 5), 20, "all 5 good messages handled"
        )
        records = await poll_until(lambda: _dlq(nats_url, "t-mixed"), 20, "the bad one in the DLQ")
    finally:
        await messaging.close()
    assert sorted(handled) == sorted(e["id"] for e in good)
    assert records[0]["reason"].startswith("invalid payload"), records[0]


async def test_graceful_stop_naks_in_flight_work_for_redelivery(nats_url: str) -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def slow(envelope: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(30)  # sleep-ok: simulated long work, cut short by the stop
        finished.append(envelope["id"])

    event = _event(20)
    first = await _run_consumer(nats_url, "t-graceful", slow, [encode(event)])
    await asyncio.wait_for(started.wait(), 10)
    await first.close()  # grace 0.5 s < the work: the message must be NAKed, not lost
    assert finished == [], "the slow handler should have been interrupted"

    redelivered: list[str] = []

    async def quick(envelope: dict[str, Any]) -> None:
        redelivered.append(envelope["id"])

    second = Messaging(_settings(nats_url))
    await second.connect()
    second.consume(topology.ConsumerSpec("t-graceful", (topology.status_subject("runner"),)), quick)
    try:
        await poll_until(
            lambda: asyncio.sleep(0, result=event["id"] in redelivered),
            15,
            "the interrupted message to be redelivered to the next consumer",
        )
    finally:
        await second.close()
