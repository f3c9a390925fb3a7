"""harness.checkers.broker on stored messages built in memory: each kind of broker anomaly
from exactly the message that deserves it, and none from a clean stream."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import schemas
from harness.checkers.broker import DeadLetter, Stored, check_broker
from harness.errors import HarnessError
from harness.instants import parse_instant

CID = "5b7e2a3c-1111-4222-8333-444455556666"


def _event(n: int, **over: Any) -> dict[str, Any]:
    event = {
        "id": f"e-{n}",
        "type": "status.changed",
        "source": "test",
        "time": "2026-12-01T00:00:00.000Z",
        "subject": CID,
        "schema_version": "1.0",
        "correlation_id": "c",
        "data": {"command_id": CID, "stage": "runner", "status": "running",
                 "at": "2026-12-01T00:00:00.000Z"},
    }  # fmt: skip
    return event | over


def _stored(seq: int, event: dict[str, Any], msg_id: str | None = "same") -> Stored:
    header = event["id"] if msg_id == "same" else msg_id
    return Stored(seq, "altlas.status.runner", header, json.dumps(event).encode())


def _kinds(messages: list[Stored], letters: list[DeadLetter] | None = None) -> list[str]:
    report = check_broker(messages, letters or [], {"runner": 8}, schemas.errors)
    return sorted(a.kind for a in report.anomalies)


def test_a_clean_stream_has_no_anomaly() -> None:
    report = check_broker([_stored(i, _event(i)) for i in range(3)], [], {}, schemas.errors)
    assert report.valid and report.counts == {"messages": 3, "events": 3, "dead_letters": 0}


def test_each_broker_anomaly_comes_from_its_message() -> None:
    assert _kinds([_stored(1, _event(1)), _stored(2, _event(1))]) == ["stored_twice"]
    assert _kinds([_stored(1, _event(1), msg_id=None)]) == ["unmarked"]
    assert _kinds([_stored(1, _event(1), msg_id="other")]) == ["unmarked"]
    assert _kinds([Stored(1, "altlas.status.runner", "x", b"\xff")]) == ["invalid_event"]
    assert _kinds([Stored(1, "altlas.status.runner", "x", b"[1]")]) == ["invalid_event"]
    assert _kinds([_stored(1, _event(1, schema_version="2.0"))]) == ["invalid_event"]
    bad_data = _event(1)
    bad_data["data"] = {**bad_data["data"], "status": "teleported"}
    assert _kinds([_stored(1, bad_data)]) == ["invalid_event"]
    letters = [DeadLetter(5, "runner", 8, "exhausted"), DeadLetter(6, "runner", 9, "exhausted")]
    assert _kinds([], letters) == ["over_delivered"]
    assert _kinds([], [DeadLetter(7, "unknown-consumer", 99, "x")]) == []  # no limit known


def test_the_report_prints_its_figures_and_first_anomalies() -> None:
    report = check_broker([_stored(1, _event(1)), _stored(2, _event(1))], [], {}, schemas.errors)
    text = str(report)
    assert text.startswith("broker: 2 messages, 1 distinct events, 0 dead letters, 1 anomalies")
    assert "e-1 is stored 2 times (seq 1, 2)" in text, text
    assert report.to_json()["valid"] is False


def test_an_instant_on_the_command_line_needs_its_offset() -> None:
    assert parse_instant("2026-12-01T14:30:05Z", "--since").utcoffset() is not None
    assert parse_instant("2026-12-01 14:30:05+03:00", "--since").hour == 14
    with pytest.raises(HarnessError, match="--since '2026-12-01T14:30:05' has no UTC offset"):
        parse_instant("2026-12-01T14:30:05", "--since")
    with pytest.raises(HarnessError, match="--since takes an RFC 3339 time"):
        parse_instant("yesterday", "--since")
