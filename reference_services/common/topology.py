"""Every JetStream stream and durable consumer of ALT_LAS, declared once in
reference_services/schemas/topology.json (the harness reads the same file as data).

Provisioned idempotently at start-up by each service (create, or update to this config). The
naming standard and the reasons for each limit: docs/messaging.md and the file's `why` fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOPOLOGY_FILE = Path(__file__).resolve().parent.parent / "schemas" / "topology.json"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    storage: str  # file | memory
    retention: str  # limits | interest | workqueue
    replicated: bool  # takes the deployment's replica count (else always 1)
    max_age_s: float
    max_bytes: int
    max_msgs_per_subject: int
    discard: str  # old | new
    duplicate_window_s: float
    allow_msg_counter: bool = False
    allow_direct: bool = False

    def replicas(self, deployment_replicas: int) -> int:
        return deployment_replicas if self.replicated else 1

    def api_config(self, deployment_replicas: int) -> dict[str, Any]:
        """The `$JS.API.STREAM.CREATE` / `UPDATE` body (durations in nanoseconds)."""
        config: dict[str, Any] = {
            "name": self.name,
            "subjects": list(self.subjects),
            "storage": self.storage,
            "retention": self.retention,
            "num_replicas": self.replicas(deployment_replicas),
            "max_age": int(self.max_age_s * 1e9),
            "max_bytes": self.max_bytes,
            "max_msgs_per_subject": self.max_msgs_per_subject,
            "discard": self.discard,
            "duplicate_window": int(self.duplicate_window_s * 1e9),
        }
        if self.allow_msg_counter:
            config["allow_msg_counter"] = True
        if self.allow_direct:
            config["allow_direct"] = True
        return config


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer; the delivery policy defaults are what tests' ad-hoc specs get."""

    durable: str
    filter_subjects: tuple[str, ...]
    stream: str = "ALTLAS"
    max_deliver: int = 8
    ack_wait_s: float = 10.0
    max_ack_pending: int = 1000
    # NAK delay for a failed delivery, one per redelivery (the last one repeats).
    backoff_s: tuple[float, ...] = field(default=(0.2, 0.5, 1.0, 2.0, 5.0))
    # A redrive consumer runs the handler of this consumer (dead letters sent back to it).
    handler_of: str | None = None


@dataclass(frozen=True)
class Topology:
    streams: dict[str, StreamSpec]
    consumers: dict[str, ConsumerSpec]


def load(path: Path = TOPOLOGY_FILE) -> Topology:
    data = json.loads(path.read_text(encoding="utf-8"))
    streams = {
        name: StreamSpec(
            name=name,
            subjects=tuple(s["subjects"]),
            storage=s["storage"],
            retention=s["retention"],
            replicated=bool(s["replicated"]),
            max_age_s=float(s["max_age_s"]),
            max_bytes=int(s["max_bytes"]),
            max_msgs_per_subject=int(s["max_msgs_per_subject"]),
            discard=s["discard"],
            duplicate_window_s=float(s["duplicate_window_s"]),
            allow_msg_counter=bool(s.get("allow_msg_counter", False)),
            allow_direct=bool(s.get("allow_direct", False)),
        )
        for name, s in data["streams"].items()
    }
    consumers = {
        name: ConsumerSpec(
            durable=name,
            filter_subjects=tuple(c["filter_subjects"]),
            stream=c["stream"],
            max_deliver=int(c["max_deliver"]),
            ack_wait_s=float(c["ack_wait_s"]),
            max_ack_pending=int(c["max_ack_pending"]),
            backoff_s=tuple(float(b) for b in c["backoff_s"]),
            handler_of=c.get("handler_of"),
        )
        for name, c in data["consumers"].items()
    }
    for spec in consumers.values():
        if spec.stream not in streams:
            raise ValueError(f"{path}: consumer {spec.durable} reads unknown stream {spec.stream}")
    return Topology(streams, consumers)


DECLARED = load()

STREAM = "ALTLAS"
DLQ_STREAM = "ALTLAS_DLQ"
REDRIVE_STREAM = "ALTLAS_REDRIVE"
# The gateway's rate-limit counters (gateway/shared_ratelimit.py): a counter stream
# (allow_msg_counter, NATS 2.12+), one subject per key and window, only the latest total kept,
# in memory (a restart of NATS forgets the counts: limits are not data), gone after
# RATE_LIMIT_MAX_AGE_S — at least two windows of the slowest limit.
RATE_LIMIT_STREAM = "ALTLAS_RATELIMIT"
RATE_LIMIT_PREFIX = "altlas.ratelimit"
RATE_LIMIT_MAX_AGE_S = DECLARED.streams[RATE_LIMIT_STREAM].max_age_s
STREAM_SUBJECTS = list(DECLARED.streams[STREAM].subjects)
DLQ_SUBJECTS = list(DECLARED.streams[DLQ_STREAM].subjects)
# Nats-Msg-Id deduplication window: a republish within it is dropped by the server.
DUPLICATE_WINDOW_S = DECLARED.streams[STREAM].duplicate_window_s
# Streams every service provisions at start-up (the rate-limit stream is the gateway's own).
PIPELINE_STREAMS = (STREAM, DLQ_STREAM, REDRIVE_STREAM)


SUBJECT_COMMAND_SUBMITTED = "altlas.command.submitted"
SUBJECT_ALT_CREATED = "altlas.alt.created"
SUBJECT_LAST_CREATED = "altlas.last.created"
SUBJECT_ATLAS_CREATED = "altlas.atlas.created"
# A stored record changed (its status): what caches of the archive listen to.
SUBJECT_ATLAS_UPDATED = "altlas.atlas.updated"
# Every change to what the archive answers: a new record, a changed one.
SUBJECTS_ATLAS_CHANGES = "altlas.atlas.>"


def status_subject(stage: str) -> str:
    return f"altlas.status.{stage}"


def dlq_subject(consumer: str) -> str:
    return f"altlas.dlq.{consumer}"


def redrive_subject(consumer: str) -> str:
    return f"altlas.redrive.{consumer}"


SEGMENTATION = DECLARED.consumers["segmentation"]
RUNNER = DECLARED.consumers["runner"]
ARCHIVE = DECLARED.consumers["archive"]
GATEWAY_PROJECTION = DECLARED.consumers["gateway-projection"]
CONSUMERS = (SEGMENTATION, RUNNER, ARCHIVE, GATEWAY_PROJECTION)


def redrive_of(spec: ConsumerSpec) -> ConsumerSpec | None:
    """The consumer that delivers `spec`'s redriven dead letters, if one is declared."""
    for candidate in DECLARED.consumers.values():
        if candidate.handler_of == spec.durable:
            return candidate
    return None
