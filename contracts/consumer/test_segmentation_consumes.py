"""Segmentation as a consumer of the gateway's `command.submitted` events.

The message goes to the real SegmentationHandler, with a Messaging that records what it publishes.
"""

from __future__ import annotations

from typing import Any

from contracts import shapes
from contracts._fixtures import PactWriter
from contracts.fakes import CapturingMessaging
from contracts.messages import COMMAND_SUBMITTED, deliver, expect, subscribed
from contracts.pacticipants import GATEWAY_EVENTS, SEGMENTATION, new_pact
from reference_services.common import topology
from reference_services.segmentation.service import SegmentationHandler


async def test_a_submitted_command_is_segmented(generated_pacts: PactWriter) -> None:
    pact = new_pact(SEGMENTATION, GATEWAY_EVENTS)
    expect(
        pact,
        COMMAND_SUBMITTED,
        shapes.envelope(
            "command.submitted",
            source="altlas/gateway",
            event_id=f"command.submitted:{shapes.COMMAND_ID}",
            data=shapes.command_submitted(),
        ),
        command=shapes.COMMAND,
    )
    bus = CapturingMessaging()
    handler = SegmentationHandler(bus)

    async def receive(envelope: dict[str, Any], metadata: dict[str, object]) -> None:
        assert subscribed(topology.SEGMENTATION, metadata.get("subject")), (
            f"segmentation's durable does not receive subject {metadata.get('subject')!r}"
        )
        await handler(envelope)

    await deliver(pact, receive)

    alts = bus.of_type("alt.created")
    assert len(alts) == 1, (
        f"expected one alt.created, got {[p.envelope['type'] for p in bus.published]}"
    )
    alt = alts[0].envelope["data"]["alt"]
    assert (alt["command_id"], alt["command"]) == (shapes.COMMAND_ID, shapes.COMMAND), (
        f"expected the ALT of command {shapes.COMMAND_ID}, got {alt['command_id']}:"
        f" {alt['command']!r}"
    )
    statuses = [p.envelope["data"]["status"] for p in bus.of_type("status.changed")]
    assert statuses == ["segmented"], f"expected one status event, segmented; got {statuses}"
    generated_pacts.write(pact)
