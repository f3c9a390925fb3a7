"""A deployment's JetStream topology diffed against the declared one (topology.json).

Pure: it compares what `$JS.API.STREAM.INFO` / `CONSUMER.INFO` answered (their `config`
objects, durations in nanoseconds) with the declaration. Each difference is a `Drift`: a stream
or durable missing, a limit that differs, a subject set that differs, or a durable consumer on
a declared stream that nothing declares. Ephemeral consumers (no durable name: caches, audits)
and replays (`altlas_replay_of` in their metadata) are not drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "NS",
    "REPLAY_OF",
    "REPLAY_TO_SEQ",
    "Drift",
    "diff_topology",
    "expected_consumer",
    "expected_stream",
]

# A replay consumer's metadata: whose handler runs it, and the last stream sequence it covers
# (harness.probes.jetstream writes them and reads them back to resume a replay).
REPLAY_OF = "altlas_replay_of"
REPLAY_TO_SEQ = "altlas_replay_to_seq"
NS = 1_000_000_000


@dataclass(frozen=True)
class Drift:
    kind: str  # missing | differs | undeclared
    what: str  # "stream ALTLAS", "consumer ALTLAS/runner"
    field: str = ""
    declared: Any = None
    deployed: Any = None

    def __str__(self) -> str:
        if self.kind == "missing":
            return f"{self.what}: declared, not deployed"
        if self.kind == "undeclared":
            return f"{self.what}: deployed, not declared"
        return f"{self.what}: {self.field} is {self.deployed!r}, declared {self.declared!r}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "what": self.what,
            "field": self.field,
            "declared": self.declared,
            "deployed": self.deployed,
        }


def expected_stream(spec: Mapping[str, Any], replicas: int) -> dict[str, Any]:
    """The config fields a deployment of a declared stream must have."""
    expected: dict[str, Any] = {
        "subjects": sorted(spec["subjects"]),
        "storage": spec["storage"],
        "retention": spec["retention"],
        "num_replicas": replicas if spec["replicated"] else 1,
        "max_age": int(float(spec["max_age_s"]) * NS),
        "max_bytes": int(spec["max_bytes"]),
        "max_msgs_per_subject": int(spec["max_msgs_per_subject"]),
        "discard": spec["discard"],
        "duplicate_window": int(float(spec["duplicate_window_s"]) * NS),
    }
    if spec.get("allow_msg_counter"):
        expected["allow_msg_counter"] = True
    if spec.get("allow_direct"):
        expected["allow_direct"] = True
    return expected


def expected_consumer(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "filter_subjects": sorted(spec["filter_subjects"]),
        "ack_policy": "explicit",
        "max_deliver": int(spec["max_deliver"]),
        "ack_wait": int(float(spec["ack_wait_s"]) * NS),
        "max_ack_pending": int(spec["max_ack_pending"]),
    }


def _stream_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(config)
    out["subjects"] = sorted(config.get("subjects") or [])
    out.setdefault("num_replicas", 1)
    return out


def _consumer_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(config)
    single = config.get("filter_subject")
    out["filter_subjects"] = sorted(config.get("filter_subjects") or ([single] if single else []))
    return out


def _compare(what: str, expected: Mapping[str, Any], deployed: Mapping[str, Any]) -> list[Drift]:
    return [
        Drift("differs", what, name, want, deployed.get(name))
        for name, want in expected.items()
        if deployed.get(name) != want
    ]


def diff_topology(
    declared: Mapping[str, Any],
    streams: Mapping[str, Mapping[str, Any] | None],
    consumers: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    replicas: int,
) -> list[Drift]:
    """`streams`: each declared stream's deployed config (None: not there); `consumers`: per
    stream, every consumer's config by name. Empty when the deployment is as declared."""
    drifts: list[Drift] = []
    for name, spec in declared["streams"].items():
        config = streams.get(name)
        if config is None:
            drifts.append(Drift("missing", f"stream {name}"))
            continue
        drifts += _compare(
            f"stream {name}", expected_stream(spec, replicas), _stream_fields(config)
        )
    declared_consumers = declared["consumers"]
    for durable, spec in declared_consumers.items():
        stream = spec["stream"]
        if streams.get(stream) is None:
            continue  # already reported with its stream
        config = consumers.get(stream, {}).get(durable)
        what = f"consumer {stream}/{durable}"
        if config is None:
            drifts.append(Drift("missing", what))
            continue
        drifts += _compare(what, expected_consumer(spec), _consumer_fields(config))
    for stream, found in consumers.items():
        for name, config in found.items():
            durable = config.get("durable_name")
            replay = (config.get("metadata") or {}).get(REPLAY_OF)
            if durable and replay is None and name not in declared_consumers:
                drifts.append(Drift("undeclared", f"consumer {stream}/{name}"))
    return drifts
