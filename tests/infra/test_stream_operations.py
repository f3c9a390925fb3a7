"""`harness streams` against a real nats-server provisioned by the services' own code: the
topology check finds drift, a replay runs stored messages through a running service's handler
(and only those up to the replay's end), a dead letter is redriven to its consumer after the
fix, and purge wants --yes."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from harness import streamctl
from harness.checkers.topology import diff_topology
from harness.errors import HarnessError
from harness.infra.nats import NatsServer
from harness.polling import poll_until
from harness.probes import jetstream
from harness.schemas import topology as declared_topology
from harness.settings import HarnessSettings
from reference_services.common import topology
from reference_services.common.errors import TransientError
from reference_services.common.events import encode, make_event
from reference_services.common.messaging import Messaging, ensure_consumer, ensure_stream
from reference_services.common.settings import ServiceSettings
from reference_services.gateway.shared_ratelimit import STREAM_CONFIG as RATE_LIMIT_STREAM

CID = "5b7e2a3c-1111-4222-8333-444455556667"
SUBJECT = topology.status_subject("runner")


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    async with NatsServer(tmp_path / "store", tmp_path / "nats.log") as server:
        yield server.url


def _service(url: str, **kw: Any) -> Messaging:
    base: dict[str, Any] = dict(
        nats_url=url,
        service_name="test",
        max_deliver=2,
        nak_backoff_s=(0.05,),
        shutdown_grace_s=0.5,
    )
    return Messaging(ServiceSettings(**(base | kw)))


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
        event_id=f"ops-{n}",
    )


def _args(command: str, **kw: Any) -> argparse.Namespace:
    return argparse.Namespace(streams=command, json=False, **kw)


async def test_the_topology_check_finds_drift(
    nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The declared delivery limits (no overrides); the gateway adds its rate-limit stream.
    service = _service(nats_url, max_deliver=None, nak_backoff_s=None)
    await service.connect()  # provisions the declared streams
    for spec in topology.DECLARED.consumers.values():  # each service creates its own durables
        await ensure_consumer(service, spec, service.settings)
    await ensure_stream(service, RATE_LIMIT_STREAM)
    settings = HarnessSettings(nats_url=nats_url)
    try:
        assert await streamctl.run(settings, _args("check", replicas=None)) == 0, (
            capsys.readouterr()
        )
        admin = jetstream.JetStreamAdmin(service._nc)  # type: ignore[arg-type]
        runner = await admin.consumer_info("ALTLAS", "runner")
        assert runner is not None
        await admin.api(
            "CONSUMER.CREATE.ALTLAS.runner",
            {"stream_name": "ALTLAS", "config": {**runner["config"], "max_deliver": 3}},
        )
        stream = await admin.require_stream("ALTLAS_DLQ")
        await admin.api("STREAM.UPDATE.ALTLAS_DLQ", {**stream["config"], "max_age": 3600 * 10**9})
        await admin.api(
            "CONSUMER.CREATE.ALTLAS.stray",
            {
                "stream_name": "ALTLAS",
                "config": {"durable_name": "stray", "ack_policy": "explicit"},
            },
        )
        capsys.readouterr()
        assert await streamctl.run(settings, _args("check", replicas=None)) == 1
        printed = capsys.readouterr().out
        for expected in (
            "consumer ALTLAS/runner: max_deliver is 3, declared 8",
            "stream ALTLAS_DLQ: max_age is 3600000000000, declared 2592000000000",
            "consumer ALTLAS/stray: deployed, not declared",
        ):
            assert expected in printed, f"expected {expected!r} in the check's output:\n{printed}"
        # Three replicas asked of a single node: every replicated stream drifts.
        assert await streamctl.run(settings, _args("check", replicas=3)) == 1
        assert "num_replicas is 1, declared 3" in capsys.readouterr().out
    finally:
        await service.close()


def test_a_missing_stream_is_drift() -> None:
    declared = declared_topology()
    drifts = diff_topology(declared, {name: None for name in declared["streams"]}, {}, replicas=1)
    assert {str(d) for d in drifts} == {
        f"stream {name}: declared, not deployed" for name in declared["streams"]
    }


async def test_a_replay_runs_stored_messages_through_the_handler(nats_url: str) -> None:
    seen: list[str] = []

    async def handler(envelope: dict[str, Any]) -> None:
        seen.append(envelope["id"])

    service = _service(nats_url)
    await service.connect()
    service.consume(topology.GATEWAY_PROJECTION, handler)
    try:
        for n in range(5):
            await service.js.publish(
                SUBJECT, encode(_event(n)), headers={"Nats-Msg-Id": f"ops-{n}"}
            )
        await poll_until(lambda: _count(seen, 5), 10, "the five events handled once")
        admin = jetstream.JetStreamAdmin(service._nc)  # type: ignore[arg-type]
        to_seq = await admin.create_replay(
            "ALTLAS", "replay-t", of="gateway-projection", subject=SUBJECT,
            from_seq=2, since=None, max_deliver=2, ack_wait_s=5,
        )  # fmt: skip
        # Published after the replay was made: the service's own durable handles it; the replay
        # does not send it on.
        await service.js.publish(SUBJECT, encode(_event(9)), headers={"Nats-Msg-Id": "ops-9"})
        state = await admin.run_replay(
            "ALTLAS", "replay-t", to_seq, handler="gateway-projection", timeout_s=20
        )
        assert state.done and state.sent == 4, state
        await poll_until(lambda: _count(seen, 10), 10, "the replayed events handled again")
        assert sorted(seen) == sorted(
            [f"ops-{n}" for n in range(5)] + [f"ops-{n}" for n in range(1, 5)] + ["ops-9"]
        ), f"expected events 1-4 (from seq 2) replayed once and ops-9 handled once, saw {seen}"
        await admin.delete_consumer("ALTLAS", "replay-t")
        # The same replay again, a minute later (a second fix): a new replay, not a duplicate
        # of the first that the redrive stream would drop.
        again = await admin.create_replay(
            "ALTLAS", "replay-t", of="gateway-projection", subject=SUBJECT,
            from_seq=2, since=None, max_deliver=2, ack_wait_s=5,
        )  # fmt: skip
        state = await admin.run_replay(
            "ALTLAS", "replay-t", again, handler="gateway-projection", timeout_s=20
        )
        await poll_until(lambda: _count(seen, 15), 10, "the second replay handled")
        assert len(seen) == 15, f"expected events 1-4 and 9 replayed again, saw {seen}"
        await admin.delete_consumer("ALTLAS", "replay-t")
    finally:
        await service.close()


async def _count(seen: list[str], n: int) -> bool:
    return len(seen) >= n


async def test_a_dead_letter_is_redriven_to_its_consumer_after_the_fix(
    nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = True
    handled: list[tuple[str, int]] = []

    async def handler(envelope: dict[str, Any]) -> None:
        if broken:
            raise TransientError("the projection's database is down")
        handled.append((envelope["id"], len(handled)))

    service = _service(nats_url)
    await service.connect()
    service.consume(topology.GATEWAY_PROJECTION, handler)
    settings = HarnessSettings(nats_url=nats_url)
    try:
        await service.js.publish(SUBJECT, encode(_event(1)), headers={"Nats-Msg-Id": "ops-1"})
        admin = jetstream.JetStreamAdmin(service._nc)  # type: ignore[arg-type]
        letters = await poll_until(
            lambda: admin.dead_letters(consumer="gateway-projection"), 15, "the dead letter"
        )
        assert letters[0].deliveries == 2 and letters[0].via == "gateway-projection", letters
        broken = False
        assert (
            await streamctl.run(settings, _args("dlq", action="redrive", since=None, consumer=None))
            == 0
        )
        assert "1 redriven, 0 skipped" in capsys.readouterr().out
        await poll_until(
            lambda: _count([h[0] for h in handled], 1), 15, "the redriven event handled"
        )
        assert [h[0] for h in handled] == ["ops-1"]
        assert await admin.dead_letters() == [], "a redriven dead letter leaves the DLQ"
        # Redriven again (a second operator, a retry): nothing left to send.
        assert (
            await streamctl.run(settings, _args("dlq", action="redrive", since=None, consumer=None))
            == 0
        )
        assert "0 redriven" in capsys.readouterr().out
        events = await admin.require_stream("ALTLAS")
        assert events["state"]["messages"] == 1, "the redrive went to its own stream, not ALTLAS"
    finally:
        await service.close()


async def test_purge_wants_yes(nats_url: str) -> None:
    service = _service(nats_url)
    await service.connect()
    settings = HarnessSettings(nats_url=nats_url)
    try:
        await service.js.publish(SUBJECT, encode(_event(1)), headers={"Nats-Msg-Id": "ops-1"})
        with pytest.raises(HarnessError, match="cannot be undone: add --yes"):
            await streamctl.run(
                settings, _args("purge", name="ALTLAS", subject=None, keep=None, yes=False)
            )
        admin = jetstream.JetStreamAdmin(service._nc)  # type: ignore[arg-type]
        assert (await admin.require_stream("ALTLAS"))["state"]["messages"] == 1
        assert (
            await streamctl.run(
                settings, _args("purge", name="ALTLAS", subject=SUBJECT, keep=None, yes=True)
            )
            == 0
        )
        assert (await admin.require_stream("ALTLAS"))["state"]["messages"] == 0
    finally:
        await service.close()


def test_replay_refuses_an_ambiguous_subject() -> None:
    with pytest.raises(HarnessError, match="say which with --handler"):
        streamctl._replay_handler(topology.SUBJECT_LAST_CREATED, None)
    with pytest.raises(HarnessError, match=r"reads altlas\.command\.submitted, not"):
        streamctl._replay_handler(topology.SUBJECT_LAST_CREATED, "segmentation")
    assert (
        streamctl._replay_handler(topology.SUBJECT_LAST_CREATED, "archive")["durable"] == "archive"
    )


def test_covers_is_subject_containment() -> None:
    assert jetstream.covers("altlas.status.>", "altlas.status.runner")
    assert jetstream.covers("altlas.status.>", "altlas.status.*")
    assert not jetstream.covers("altlas.status.*", "altlas.status.>")
    assert not jetstream.covers("altlas.alt.created", "altlas.alt.*")
    assert jetstream.covers("altlas.*.created", "altlas.alt.created")
    assert not jetstream.covers("altlas.status.runner", "altlas.status.runner.x")


def test_dead_letter_records_parse() -> None:
    import base64

    record = {
        "consumer": "archive",
        "via": "archive-redrive",
        "reason": "r",
        "subject": "s",
        "stream": "ALTLAS_REDRIVE",
        "stream_sequence": 4,
        "deliveries": 3,
        "payload": "{}",
    }
    message = {"seq": 7, "time": "2026-12-03T10:00:00.123456789Z",
               "data": base64.b64encode(json.dumps(record).encode()).decode()}  # fmt: skip
    letter = jetstream._dead_letter(message)
    assert (letter.consumer, letter.via, letter.stream, letter.seq) == (
        "archive", "archive-redrive", "ALTLAS_REDRIVE", 7,
    )  # fmt: skip
    assert jetstream._instant(letter.stored_at).microsecond == 123456


async def test_the_broker_state_reaches_the_metrics(nats_url: str) -> None:
    from prometheus_client import REGISTRY

    release = asyncio.Event()

    async def slow(envelope: dict[str, Any]) -> None:
        await release.wait()

    service = _service(nats_url, stream_metrics_s=0)  # read on demand below
    await service.connect()
    try:
        # Stored before the consumer starts: its first fetch takes all three.
        for n in range(3):
            await service.js.publish(SUBJECT, encode(_event(n)), headers={"Nats-Msg-Id": f"m-{n}"})
        service.consume(topology.GATEWAY_PROJECTION, slow)

        def sample(name: str, **labels: str) -> float | None:
            return REGISTRY.get_sample_value(name, labels)

        async def _in_flight() -> bool:
            await service.read_stream_metrics()
            return sample("altlas_consumer_ack_pending", consumer="gateway-projection") == 3

        await poll_until(_in_flight, 10, "three messages delivered and not acked")
        assert sample("altlas_stream_messages", stream="ALTLAS") == 3
        assert sample("altlas_stream_bytes", stream="ALTLAS") > 0  # type: ignore[operator]
        assert sample("altlas_stream_max_bytes", stream="ALTLAS") == 536870912
        assert sample("altlas_stream_replicas", stream="ALTLAS") == 1
        assert sample("altlas_stream_replicas_current", stream="ALTLAS") == 1
        assert sample("altlas_consumer_not_delivered", consumer="gateway-projection") == 0
        release.set()

        async def _acked() -> bool:
            await service.read_stream_metrics()
            return sample("altlas_consumer_ack_pending", consumer="gateway-projection") == 0

        await poll_until(_acked, 10, "the three messages acked")
    finally:
        release.set()
        await service.close()


async def test_a_replay_to_a_handler_nobody_runs_says_so(nats_url: str) -> None:
    """No service runs the runner's handler here: its redrive durable does not exist, and the
    replay stops before sending anything, saying which service to start."""
    service = _service(nats_url)
    await service.connect()
    try:
        await service.js.publish(SUBJECT, encode(_event(1)), headers={"Nats-Msg-Id": "ops-1"})
        admin = jetstream.JetStreamAdmin(service._nc)  # type: ignore[arg-type]
        to_seq = await admin.create_replay(
            "ALTLAS", "replay-n", of="runner", subject=SUBJECT,
            from_seq=1, since=None, max_deliver=2, ack_wait_s=5,
        )  # fmt: skip
        with pytest.raises(HarnessError, match=r"runner-redrive.*is it running"):
            await admin.run_replay("ALTLAS", "replay-n", to_seq, handler="runner", timeout_s=5)
        redriven = await admin.require_stream("ALTLAS_REDRIVE")
        assert redriven["state"]["messages"] == 0, "nothing may be sent when nobody handles it"
        # The same replay again (after starting the service) is taken up, not refused.
        assert await admin.create_replay(
            "ALTLAS", "replay-n", of="runner", subject=SUBJECT,
            from_seq=1, since=None, max_deliver=2, ack_wait_s=5,
        ) == to_seq  # fmt: skip
    finally:
        await service.close()


async def test_close_returns_when_a_watch_loop_loses_its_cancellation(nats_url: str) -> None:
    """Python 3.11's wait_for (inside nats-py's request) can swallow a cancellation that races
    its reply; a watch loop that lost its cancellation must not hold close() for ever."""
    service = _service(nats_url, stream_metrics_s=0.01)
    calls = 0

    async def swallowing() -> None:
        nonlocal calls
        calls += 1
        try:
            await asyncio.sleep(1.0)  # sleep-ok: where the loop spends its time, the cancel lands
        except asyncio.CancelledError:
            pass  # what the race in wait_for amounts to: the cancellation is gone

    service.read_stream_metrics = swallowing  # type: ignore[method-assign]
    await service.connect()
    service.consume(topology.GATEWAY_PROJECTION, lambda _e: asyncio.sleep(0))
    await poll_until(lambda: _count(["x"] * calls, 1), 5, "the stream watch running")
    await asyncio.wait_for(service.close(), timeout=5)
