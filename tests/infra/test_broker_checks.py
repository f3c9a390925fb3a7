"""The broker-level checks (harness.probes.streams + harness.checkers.broker) against a real
nats-server with the reference topology: a republish with its Nats-Msg-Id is deduplicated by
the server (the publish ack says `duplicate`), and what the checker must flag — an event
stored twice because it was published without that id, an unmarked publish, a message that is
not a valid event, a dead letter delivered past max_deliver — is flagged, each on its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from harness import cli
from harness.infra.nats import NatsAccess, NatsServer
from harness.probes.streams import broker_report
from reference_services.common import topology
from reference_services.common.events import encode, make_event
from reference_services.common.messaging import Messaging
from reference_services.common.settings import ServiceSettings

CID = "5b7e2a3c-1111-4222-8333-444455556666"
SUBJECT = topology.status_subject("runner")


@pytest.fixture(scope="module")
async def messaging(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Messaging]:
    root = tmp_path_factory.mktemp("nats-broker")
    async with NatsServer(root / "store", root / "nats.log") as server:
        m = Messaging(ServiceSettings(nats_url=server.url, service_name="broker-test"))
        await m.connect()  # provisions the reference streams (dedup window included)
        try:
            yield m
        finally:
            await m.close()


def _event(n: int) -> dict[str, Any]:
    return make_event(
        "status.changed",
        source="test",
        subject=CID,
        correlation_id=f"c{n}",
        data={"command_id": CID, "stage": "runner", "status": "running", "at": _now()},
        event_id=f"broker-{n}-{datetime.now(UTC).timestamp()}",
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _url(m: Messaging) -> NatsAccess:
    return NatsAccess(str(m.settings.nats_url))


async def test_a_republish_with_its_id_is_deduplicated_and_the_stream_is_clean(
    messaging: Messaging,
) -> None:
    since = datetime.now(UTC)
    events = [_event(n) for n in range(5)]
    for e in events:
        await messaging.publish(SUBJECT, e)
    again = await messaging.js.publish(
        SUBJECT, encode(events[0]), headers={"Nats-Msg-Id": events[0]["id"]}
    )
    assert again.duplicate, f"the server should have dropped the republish of {events[0]['id']}"
    report = await broker_report(_url(messaging), since)
    assert report.valid, f"expected a clean stream:\n{report}"
    assert report.counts["messages"] == report.counts["events"] == 5, report.counts


async def test_a_publish_without_its_id_is_flagged_and_its_republish_stored_twice(
    messaging: Messaging,
) -> None:
    since = datetime.now(UTC)
    event = _event(100)
    first = await messaging.js.publish(SUBJECT, encode(event))  # no Nats-Msg-Id
    second = await messaging.js.publish(SUBJECT, encode(event))
    assert not first.duplicate and not second.duplicate  # the broker cannot know
    report = await broker_report(_url(messaging), since)
    kinds = sorted(a.kind for a in report.anomalies)
    assert kinds == ["stored_twice", "unmarked", "unmarked"], f"got:\n{report}"
    twice = next(a for a in report.anomalies if a.kind == "stored_twice")
    assert event["id"] in twice.detail and "2 times" in twice.detail, twice


async def test_a_message_that_is_not_a_valid_event_is_flagged(messaging: Messaging) -> None:
    since = datetime.now(UTC)
    broken = _event(200)
    broken["data"]["status"] = "teleported"  # not a status of the schema
    await messaging.js.publish(SUBJECT, b"{not json", headers={"Nats-Msg-Id": "x-1"})
    await messaging.js.publish(SUBJECT, encode(broken), headers={"Nats-Msg-Id": broken["id"]})
    report = await broker_report(_url(messaging), since)
    assert [a.kind for a in report.anomalies] == ["invalid_event", "invalid_event"], str(report)
    assert "status" in report.anomalies[1].detail, report.anomalies[1]


async def test_a_dead_letter_past_max_deliver_is_flagged(messaging: Messaging) -> None:
    await messaging.js.add_consumer(
        topology.STREAM,
        durable_name="broker-check",
        filter_subject=SUBJECT,
        max_deliver=3,
    )
    since = datetime.now(UTC)
    for deliveries in (3, 4):
        record = {"consumer": "broker-check", "reason": "deliveries exhausted"}
        record |= {"subject": SUBJECT, "stream_sequence": deliveries, "deliveries": deliveries}
        await messaging.js.publish(
            topology.dlq_subject("broker-check"),
            json.dumps(record).encode(),
            headers={"Nats-Msg-Id": f"dlq-broker-check-{deliveries}"},
        )
    report = await broker_report(_url(messaging), since)
    assert [a.kind for a in report.anomalies] == ["over_delivered"], str(report)
    assert "after 4 deliveries" in report.anomalies[0].detail, report.anomalies[0]
    assert report.counts["dead_letters"] == 2, report.counts


async def test_harness_streams_audit_exits_1_on_an_anomaly_and_0_on_a_clean_window(
    messaging: Messaging, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HARNESS_GATEWAY_URL", "http://gateway.unused")
    monkeypatch.setenv("HARNESS_NATS_URL", _url(messaging).url)
    since = datetime.now(UTC)
    event = _event(300)
    await messaging.js.publish(SUBJECT, encode(event))  # without its Nats-Msg-Id
    window = ["streams", "audit", "--since", since.isoformat(), "--json"]
    code = await asyncio.to_thread(cli.main, window)
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and [a["kind"] for a in report["anomalies"]] == ["unmarked"], report
    later = datetime.now(UTC)
    await messaging.publish(SUBJECT, _event(301))
    code = await asyncio.to_thread(cli.main, ["streams", "audit", "--since", later.isoformat()])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("broker: 1 messages, 1 distinct events"), out
