"""Every JetStream stream and durable consumer of ALT_LAS, declared in one place.

Provisioned idempotently at start-up by each service (create, or update to this config).
"""

from __future__ import annotations

from dataclasses import dataclass

STREAM = "ALTLAS"
STREAM_SUBJECTS = [
    "altlas.command.>",
    "altlas.alt.>",
    "altlas.last.>",
    "altlas.atlas.>",
    "altlas.status.>",
]
DLQ_STREAM = "ALTLAS_DLQ"
DLQ_SUBJECTS = ["altlas.dlq.>"]
# The gateway's rate-limit counters (gateway/shared_ratelimit.py): a counter stream
# (allow_msg_counter, NATS 2.12+), one subject per key and window, only the latest total kept,
# in memory (a restart of NATS forgets the counts: limits are not data), gone after
# RATE_LIMIT_MAX_AGE_S — at least two windows of the slowest limit (failed logins: a window of
# burst / refill, 60 s by default), since the sliding window reads the previous one.
RATE_LIMIT_STREAM = "ALTLAS_RATELIMIT"
RATE_LIMIT_PREFIX = "altlas.ratelimit"
RATE_LIMIT_MAX_AGE_S = 300.0
# Nats-Msg-Id deduplication window: a republish within it is dropped by the server.
DUPLICATE_WINDOW_S = 600.0

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


@dataclass(frozen=True)
class ConsumerSpec:
    durable: str
    filter_subjects: tuple[str, ...]


SEGMENTATION = ConsumerSpec("segmentation", (SUBJECT_COMMAND_SUBMITTED,))
RUNNER = ConsumerSpec("runner", (SUBJECT_ALT_CREATED,))
ARCHIVE = ConsumerSpec("archive", (SUBJECT_LAST_CREATED,))
GATEWAY_PROJECTION = ConsumerSpec(
    "gateway-projection",
    (SUBJECT_ALT_CREATED, SUBJECT_LAST_CREATED, SUBJECT_ATLAS_CREATED, "altlas.status.>"),
)
CONSUMERS = (SEGMENTATION, RUNNER, ARCHIVE, GATEWAY_PROJECTION)
