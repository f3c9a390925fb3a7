"""What the broker stored during a run, judged: every event once, each published with its
deduplication id, each valid, and no message delivered more often than its consumer allows.

Handlers are idempotent, so a publisher that stops sending `Nats-Msg-Id` (JetStream then stores
every republish as a new message) leaves the end state correct and the pipeline checker happy;
only the stream shows the broken promise ("a republish is deduplicated") and the waste. This
checker reads what `harness.probes.streams` fetched and returns anomalies of its own kinds:

- `stored_twice`: one event id (the envelope's `id`) stored in more than one message;
- `unmarked`: an event stored without `Nats-Msg-Id`, or with one that is not its id (a
  republish of it would not be recognised as one);
- `invalid_event`: a stored message that is not JSON, not a valid envelope, or whose data does
  not validate against its event's schema;
- `over_delivered`: a dead letter whose message was delivered more often than `max_deliver`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checkers.verdict import Anomaly

__all__ = ["BrokerReport", "DeadLetter", "Stored", "check_broker"]

# (schema kind, document) -> validation errors; harness.schemas.errors in production.
Validate = Callable[[str, Any], list[str]]


@dataclass(frozen=True)
class Stored:
    """One message of the events stream, as stored."""

    seq: int
    subject: str
    msg_id: str | None  # its Nats-Msg-Id header
    data: bytes


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter stream (what the consumer wrote when it gave up)."""

    seq: int
    consumer: str
    deliveries: int
    reason: str


@dataclass(frozen=True)
class BrokerReport:
    anomalies: tuple[Anomaly, ...]
    counts: Mapping[str, int]

    @property
    def valid(self) -> bool:
        return not self.anomalies

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "anomalies": [a.to_json() for a in self.anomalies],
            "counts": dict(self.counts),
        }

    def __str__(self) -> str:
        c = self.counts
        head = (
            f"broker: {c.get('messages', 0)} messages, {c.get('events', 0)} distinct events,"
            f" {c.get('dead_letters', 0)} dead letters, {len(self.anomalies)} anomalies"
        )
        return "\n".join([head, *(f"  {a}" for a in self.anomalies[:20])])


def check_broker(
    messages: Iterable[Stored],
    dead_letters: Iterable[DeadLetter],
    max_deliver: Mapping[str, int],
    validate: Validate,
) -> BrokerReport:
    """Judge the stored messages and dead letters; `max_deliver` per consumer (durable name)."""
    anomalies: list[Anomaly] = []
    by_id: dict[str, list[int]] = defaultdict(list)
    total = 0
    for m in messages:
        total += 1
        envelope = _envelope(m, validate, anomalies)
        if envelope is None:
            continue
        event_id = str(envelope["id"])
        by_id[event_id].append(m.seq)
        if m.msg_id != event_id:
            got = "no Nats-Msg-Id" if m.msg_id is None else f"Nats-Msg-Id {m.msg_id!r}"
            anomalies.append(
                Anomaly(
                    "unmarked",
                    _command(envelope),
                    f"{envelope['type']} {event_id} (seq {m.seq}) was published with {got}:"
                    " a republish of it would be stored again",
                    cause=f"{envelope['type']} published without its id as Nats-Msg-Id",
                )
            )
    for event_id, seqs in by_id.items():
        if len(seqs) > 1:
            anomalies.append(
                Anomaly(
                    "stored_twice",
                    None,
                    f"event {event_id} is stored {len(seqs)} times (seq {_seqs(seqs)}):"
                    " the broker did not deduplicate its republish",
                    cause="an event stored more than once",
                )
            )
    letters = 0
    for d in dead_letters:
        letters += 1
        limit = max_deliver.get(d.consumer)
        if limit is not None and d.deliveries > limit:
            anomalies.append(
                Anomaly(
                    "over_delivered",
                    None,
                    f"{d.consumer} dead-lettered seq {d.seq} after {d.deliveries} deliveries;"
                    f" its max_deliver is {limit}",
                    cause=f"{d.consumer} delivered a message more often than max_deliver",
                )
            )
    counts = {"messages": total, "events": len(by_id), "dead_letters": letters}
    return BrokerReport(tuple(anomalies), counts)


def _envelope(m: Stored, validate: Validate, anomalies: list[Anomaly]) -> dict[str, Any] | None:
    """The message's envelope if it is one (with an id); an `invalid_event` otherwise, or also
    when the envelope or its data break their schemas."""

    def invalid(detail: str, cause: str, command: str | None = None) -> None:
        anomalies.append(
            Anomaly("invalid_event", command, f"seq {m.seq} on {m.subject}: {detail}", cause)
        )

    try:
        doc = json.loads(m.data)
    except ValueError as exc:
        invalid(f"not JSON ({exc})", "a stored message that is not JSON")
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        invalid("not an event envelope (no id)", "a stored message that is not an envelope")
        return None
    problems = validate("envelope", doc)
    if not problems and isinstance(doc.get("data"), dict):
        problems = validate(f"event:{doc['type']}", doc["data"])
    if problems:
        invalid(
            "; ".join(problems[:3]),
            f"a stored {doc.get('type', 'event')} that breaks its schema",
            _command(doc),
        )
    return doc


def _command(envelope: Mapping[str, Any]) -> str | None:
    subject = envelope.get("subject")
    return subject if isinstance(subject, str) else None


def _seqs(seqs: Sequence[int]) -> str:
    shown = ", ".join(map(str, seqs[:5]))
    return shown + (f", … {len(seqs) - 5} more" if len(seqs) > 5 else "")
