"""The gateway as a consumer of segmentation's synchronous preview, `POST /v1/segment`.

Driven through the gateway's SegmentationClient against Pact's mock server.
"""

from __future__ import annotations

import pytest
from pact import match

from contracts import shapes
from contracts._fixtures import PactWriter
from contracts.pacticipants import GATEWAY, SEGMENTATION, new_pact
from reference_services.gateway.segmentation_client import (
    SegmentationClient,
    SegmentationRejected,
)

JSON = "application/json"
PROBLEM = "application/problem+json"


async def test_segment_returns_an_alt(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, SEGMENTATION)
    (
        pact.upon_receiving("a request to segment a command")
        .with_request("POST", "/v1/segment")
        .with_body({"command": shapes.COMMAND, "mode": "normal"}, JSON)
        .will_respond_with(200)
        .with_header("Content-Type", match.regex(JSON, regex=r"^application/json(;.*)?$"))
        .with_body(shapes.alt(), JSON)
    )
    with pact.serve(addr="127.0.0.1") as server:
        async with SegmentationClient(str(server.url), 5.0) as client:
            alt = await client.segment(shapes.COMMAND)
    assert (alt.command, alt.mode) == (shapes.COMMAND, "normal"), (
        f"expected the ALT of {shapes.COMMAND!r} in normal mode, got {alt.command!r} in {alt.mode}"
    )
    assert alt.segments and alt.segments[0].id == "s1", (
        f"expected segments starting with s1, got {[s.id for s in alt.segments]}"
    )
    generated_pacts.write(pact)


async def test_segment_rejects_a_blank_command(generated_pacts: PactWriter) -> None:
    pact = new_pact(GATEWAY, SEGMENTATION)
    (
        pact.upon_receiving("a request to segment a blank command")
        .with_request("POST", "/v1/segment")
        .with_body({"command": shapes.BLANK_COMMAND, "mode": "normal"}, JSON)
        .will_respond_with(422)
        .with_header("Content-Type", PROBLEM)
        .with_body(
            shapes.problem(
                422,
                "Unprocessable Content",
                "(body): Value error, command must contain non-whitespace characters",
            ),
            PROBLEM,
        )
    )
    with pact.serve(addr="127.0.0.1") as server:
        async with SegmentationClient(str(server.url), 5.0) as client:
            with pytest.raises(SegmentationRejected) as caught:
                await client.segment(shapes.BLANK_COMMAND)
    assert caught.value.status == 422, f"expected a 422 rejection, got {caught.value.status}"
    assert caught.value.body.get("detail"), (
        f"expected the problem's detail to say what was wrong, got {caught.value.body}"
    )
    generated_pacts.write(pact)
