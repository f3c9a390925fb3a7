"""The parties to the contracts ("pacticipants" in Pact's words) and how a pact is started.

A service is one pacticipant for its HTTP API and another, `<service>-events`, for the events it
publishes. Pact V4 could hold both kinds in one file, but HTTP pacts are verified against a running
service and message pacts against the producers' code without any stack; separate names keep the
two verifications (and the files) apart, and stay distinct when published to a Pact Broker.
"""

from __future__ import annotations

from typing import Final

from pact import Pact

__all__ = [
    "ARCHIVE",
    "ARCHIVE_EVENTS",
    "GATEWAY",
    "GATEWAY_EVENTS",
    "RUNNER",
    "RUNNER_EVENTS",
    "SEGMENTATION",
    "SEGMENTATION_EVENTS",
    "events_of",
    "new_pact",
    "service_of",
]

GATEWAY: Final = "gateway"
SEGMENTATION: Final = "segmentation"
RUNNER: Final = "runner"
ARCHIVE: Final = "archive"
_EVENTS_SUFFIX: Final = "-events"


def events_of(service: str) -> str:
    """The pacticipant that stands for the events `service` publishes."""
    return f"{service}{_EVENTS_SUFFIX}"


def service_of(pacticipant: str) -> str:
    """The service behind a pacticipant name (`runner-events` → `runner`)."""
    return pacticipant.removesuffix(_EVENTS_SUFFIX)


GATEWAY_EVENTS: Final = events_of(GATEWAY)
SEGMENTATION_EVENTS: Final = events_of(SEGMENTATION)
RUNNER_EVENTS: Final = events_of(RUNNER)
ARCHIVE_EVENTS: Final = events_of(ARCHIVE)


def new_pact(consumer: str, provider: str) -> Pact:
    """A fresh V4 pact; each consumer test builds its own and writes it (files merge per pair)."""
    return Pact(consumer, provider).with_specification("V4")
