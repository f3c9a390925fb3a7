"""The pipeline's messages as contracts know them: description, NATS subject, and how to find one.

A message interaction is identified by its description on both sides: the consumer test declares
it, and provider verification asks the producer for "the message called <description>". Keeping
the names here makes a typo a failing lookup rather than a silently unverified message.

Every message interaction has one provider state, `a command was submitted` with the command's
text and mode: the provider runs its real code on that input, and the consumer's example is what
it expects that code to publish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pact import Pact

from reference_services.common import topology
from reference_services.common.events import decode

__all__ = [
    "ALT_CREATED",
    "ARCHIVED",
    "ATLAS_CREATED",
    "COMMAND_SUBMITTED",
    "COMPLETED",
    "LAST_CREATED",
    "MESSAGES",
    "RUNNING",
    "SEGMENTATION_FAILED",
    "SEGMENTED",
    "SUBMITTED_STATE",
    "EventMessage",
    "deliver",
    "expect",
    "message_named",
    "state_params",
    "subscribed",
]

SUBMITTED_STATE: Final = "a command was submitted"
JSON: Final = "application/json"


@dataclass(frozen=True)
class EventMessage:
    """One kind of message on the pipeline."""

    description: str
    subject: str
    event_type: str
    # The service whose events these are; the envelope's `source` is "altlas/<service>".
    service: str
    # For status.changed: the status it announces.
    status: str | None = None

    def matches(self, envelope: Mapping[str, Any]) -> bool:
        """True for a published envelope that is this message.

        The subject is deliberately not part of the test: the provider's message carries the
        subject it was really published on, and Pact compares it with the consumer's.
        """
        return (
            envelope.get("type") == self.event_type
            and envelope.get("source") == f"altlas/{self.service}"
            and (self.status is None or envelope["data"].get("status") == self.status)
        )


COMMAND_SUBMITTED: Final = EventMessage(
    "a command.submitted event",
    topology.SUBJECT_COMMAND_SUBMITTED,
    "command.submitted",
    "gateway",
)
ALT_CREATED: Final = EventMessage(
    "an alt.created event", topology.SUBJECT_ALT_CREATED, "alt.created", "segmentation"
)
SEGMENTED: Final = EventMessage(
    "a status.changed event: segmented",
    topology.status_subject("segmentation"),
    "status.changed",
    "segmentation",
    "segmented",
)
SEGMENTATION_FAILED: Final = EventMessage(
    "a status.changed event: segmentation failed",
    topology.status_subject("segmentation"),
    "status.changed",
    "segmentation",
    "failed",
)
RUNNING: Final = EventMessage(
    "a status.changed event: running",
    topology.status_subject("runner"),
    "status.changed",
    "runner",
    "running",
)
LAST_CREATED: Final = EventMessage(
    "a last.created event", topology.SUBJECT_LAST_CREATED, "last.created", "runner"
)
COMPLETED: Final = EventMessage(
    "a status.changed event: completed",
    topology.status_subject("runner"),
    "status.changed",
    "runner",
    "completed",
)
ATLAS_CREATED: Final = EventMessage(
    "an atlas.created event", topology.SUBJECT_ATLAS_CREATED, "atlas.created", "archive"
)
ARCHIVED: Final = EventMessage(
    "a status.changed event: archived",
    topology.status_subject("archive"),
    "status.changed",
    "archive",
    "archived",
)
MESSAGES: Final = (
    COMMAND_SUBMITTED,
    ALT_CREATED,
    SEGMENTED,
    SEGMENTATION_FAILED,
    RUNNING,
    LAST_CREATED,
    COMPLETED,
    ATLAS_CREATED,
    ARCHIVED,
)
_BY_DESCRIPTION: Final = {m.description: m for m in MESSAGES}


def message_named(description: str) -> EventMessage:
    """The message with this description; KeyError names the known ones."""
    try:
        return _BY_DESCRIPTION[description]
    except KeyError:
        known = ", ".join(sorted(_BY_DESCRIPTION))
        raise KeyError(f"no message is described as {description!r}; known: {known}") from None


def state_params(provider_states: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of `a command was submitted` among an interaction's provider states."""
    for state in provider_states:
        if state.get("name") == SUBMITTED_STATE:
            return dict(state.get("params") or {})
    raise KeyError(f"the interaction does not declare the provider state {SUBMITTED_STATE!r}")


def expect(
    pact: Pact, message: EventMessage, body: dict[str, Any], *, command: str, mode: str = "normal"
) -> None:
    """Declare that the consumer of `pact` accepts `message` with this body.

    The provider state says what went in (the command); the metadata carries the NATS subject.
    """
    (
        pact.upon_receiving(message.description, "Async")
        .given(SUBMITTED_STATE, command=command, mode=mode)
        .with_body(body, JSON)
        .with_metadata({"subject": message.subject})
    )


def subscribed(spec: topology.ConsumerSpec, subject: object) -> bool:
    """True when the durable consumer `spec` receives messages published on `subject`."""
    if not isinstance(subject, str):
        return False
    for pattern in spec.filter_subjects:
        if pattern.endswith(".>") and subject.startswith(pattern[:-1]):
            return True
        if pattern == subject:
            return True
    return False


Receiver = Callable[[dict[str, Any], dict[str, object]], Coroutine[Any, Any, None]]


async def deliver(pact: Pact, receive: Receiver) -> None:
    """Feed every message of `pact` to `receive` on the running loop, as the service would get it.

    Each payload is decoded and validated first (events.decode, the consumer's own first step).
    Pact's `verify` is synchronous and calls back per message, so it runs in a worker thread and
    hands each message back to this loop, where the real async handlers live. It raises
    PactVerificationError naming every message that was not accepted.
    """
    loop = asyncio.get_running_loop()

    def on_message(body: str | bytes | None, metadata: dict[str, object]) -> None:
        payload = body.encode() if isinstance(body, str) else (body or b"")
        envelope = decode(payload)
        asyncio.run_coroutine_threadsafe(receive(envelope, metadata), loop).result(timeout=60)

    await asyncio.to_thread(pact.verify, on_message, "Async")
