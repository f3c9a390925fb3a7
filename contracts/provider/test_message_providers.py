"""Provider verification of the message pacts: each producer's real code publishes what its
consumers expect.

For every message a pact names, the verifier asks this process for it; `run_pipeline` runs the
services' code on the command the interaction's provider state gives, and the message that stage
published (with the subject it was published on) goes back to Pact, which compares it with the
consumer's expectations. No stack is needed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pact.types import Message

from contracts.ledger import VerificationLedger
from contracts.messages import JSON, message_named, state_params
from contracts.pactfiles import PACTS_DIR, pact_files
from contracts.pacticipants import (
    ARCHIVE_EVENTS,
    GATEWAY_EVENTS,
    RUNNER_EVENTS,
    SEGMENTATION_EVENTS,
    service_of,
)
from contracts.producers import run_pipeline
from contracts.verification import new_verifier, verify
from reference_services.common.events import encode


@pytest.mark.parametrize(
    "provider", [GATEWAY_EVENTS, SEGMENTATION_EVENTS, RUNNER_EVENTS, ARCHIVE_EVENTS]
)
async def test_producer_publishes_what_its_consumers_expect(
    provider: str, verification_ledger: VerificationLedger
) -> None:
    pacts = pact_files(PACTS_DIR, provider)
    service = service_of(provider)
    loop = asyncio.get_running_loop()

    def produce(name: str, metadata: dict[str, Any] | None) -> Message:
        # Runs in Pact's relay thread: the pipeline's async code runs on the test's loop.
        message = message_named(name)
        if message.service != service:
            raise LookupError(f"{name!r} is published by {message.service}, not by {service}")
        params = state_params((metadata or {}).get("providerStates") or [])
        pipeline = run_pipeline(str(params["command"]), str(params.get("mode", "normal")))
        published = asyncio.run_coroutine_threadsafe(pipeline, loop).result(timeout=60)
        found = [p for p in published if message.matches(p.envelope)]
        if not found:
            seen = [(p.subject, p.envelope["type"], p.envelope["source"]) for p in published]
            raise LookupError(f"{service} published no {name!r} for {params}; published: {seen}")
        return Message(
            contents=encode(found[0].envelope),
            metadata={"subject": found[0].subject},
            content_type=JSON,
        )

    verifier = new_verifier(provider, pacts).message_handler(produce)
    await verify(verifier, provider, pacts, verification_ledger)
