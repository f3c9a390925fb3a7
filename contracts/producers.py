"""The producers' real code, run in memory: every event the pipeline publishes for one command.

Provider verification of the message pacts asks "what does this service publish when a command was
submitted?". The answer comes from the services' own code, unchanged: the gateway's
`submitted_event` (what its outbox relay publishes), then SegmentationHandler, RunnerHandler (with
the simulated executor) and Archive.handle_last_created, each fed what the previous one published.
Only NATS, PostgreSQL and OpenSearch are replaced (contracts/fakes.py).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from contracts.fakes import (
    AtlasTable,
    CapturingMessaging,
    ExecutionsTable,
    FakeDatabase,
    FakeIndex,
    Published,
)
from reference_services.archive.search.index import SearchIndex
from reference_services.archive.service import Archive
from reference_services.common import topology
from reference_services.common.db import Database
from reference_services.gateway.commands import submitted_event
from reference_services.runner.executors import SimulatedExecutor
from reference_services.runner.service import RunnerHandler
from reference_services.segmentation.service import SegmentationHandler

__all__ = ["run_pipeline"]

USERNAME = "contract-verification"
CORRELATION_ID = "contract-verification"


def _first(messaging: CapturingMessaging, event_type: str) -> dict[str, Any] | None:
    found = messaging.of_type(event_type)
    return found[0].envelope if found else None


async def run_pipeline(command: str, mode: str = "normal") -> list[Published]:
    """Everything published, in order, for `command` going through every stage it reaches."""
    bus = CapturingMessaging()
    command_id = str(uuid.uuid4())
    # The gateway's API hands accept() the request model's dump: every field, unset ones as None.
    body = {
        "command": command,
        "mode": mode,
        "chaos_level": None,
        "persona": None,
        "language": None,
        "metadata": None,
    }
    submitted = submitted_event(command_id, body, username=USERNAME, correlation_id=CORRELATION_ID)
    # The outbox relay publishes the stored envelope on the outbox row's subject.
    await bus.publish(topology.SUBJECT_COMMAND_SUBMITTED, submitted)
    await SegmentationHandler(bus)(submitted)
    alt_created = _first(bus, "alt.created")
    if alt_created is None:  # segmentation failed the command: nothing further runs
        return bus.published
    runner = RunnerHandler(
        bus, cast(Database, FakeDatabase(ExecutionsTable())), SimulatedExecutor(), 4
    )
    await runner(alt_created)
    last_created = _first(bus, "last.created")
    if last_created is None:
        return bus.published
    archive = Archive(
        cast(Database, FakeDatabase(AtlasTable())), cast(SearchIndex, FakeIndex()), bus
    )
    await archive.handle_last_created(last_created)
    return bus.published
