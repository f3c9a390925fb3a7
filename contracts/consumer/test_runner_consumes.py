"""The runner as a consumer of segmentation's `alt.created` events.

The message goes to the real RunnerHandler (simulated executor) with an in-memory `executions`
table and a Messaging that records what it publishes.
"""

from __future__ import annotations

import json
from typing import Any, cast

from contracts import shapes
from contracts._fixtures import PactWriter
from contracts.fakes import CapturingMessaging, ExecutionsTable, FakeDatabase
from contracts.messages import ALT_CREATED, deliver, expect, subscribed
from contracts.pacticipants import RUNNER, SEGMENTATION_EVENTS, new_pact
from reference_services.common import topology
from reference_services.common.db import Database
from reference_services.runner.executors import SimulatedExecutor
from reference_services.runner.service import RunnerHandler


async def test_an_alt_is_executed_into_a_last(generated_pacts: PactWriter) -> None:
    pact = new_pact(RUNNER, SEGMENTATION_EVENTS)
    expect(
        pact,
        ALT_CREATED,
        shapes.envelope(
            "alt.created",
            source="altlas/segmentation",
            event_id=f"alt.created:{shapes.ALT_ID}",
            data={"alt": shapes.alt()},
        ),
        command=shapes.COMMAND,
    )
    bus = CapturingMessaging()
    executions = ExecutionsTable()
    handler = RunnerHandler(
        bus, cast(Database, FakeDatabase(executions)), SimulatedExecutor(), max_parallel=4
    )

    async def receive(envelope: dict[str, Any], metadata: dict[str, object]) -> None:
        assert subscribed(topology.RUNNER, metadata.get("subject")), (
            f"the runner's durable does not receive subject {metadata.get('subject')!r}"
        )
        await handler(envelope)

    await deliver(pact, receive)

    assert list(executions.rows) == [shapes.ALT_ID], (
        f"expected the execution of ALT {shapes.ALT_ID} stored, got {list(executions.rows)}"
    )
    lasts = bus.of_type("last.created")
    assert len(lasts) == 1, (
        f"expected one last.created, got {[p.envelope['type'] for p in bus.published]}"
    )
    data = lasts[0].envelope["data"]
    assert (data["last"]["alt_id"], data["alt"]["id"]) == (shapes.ALT_ID, shapes.ALT_ID), (
        f"expected the LAST of ALT {shapes.ALT_ID} with that ALT, got {json.dumps(data)[:300]}"
    )
    assert data["last"]["status"] == "success", (
        f"every example segment succeeds in simulation; got {data['last']['status']}"
    )
    statuses = [p.envelope["data"]["status"] for p in bus.of_type("status.changed")]
    assert statuses == ["running", "completed"], (
        f"expected status events running then completed, got {statuses}"
    )
    generated_pacts.write(pact)
