"""One command, one trace across the four services: the gateway's request at the root, the
outbox relay's publish under it, each consumer under the publish that fed it, with PostgreSQL
and OpenSearch spans — what `harness trace COMMAND_ID` prints. Local stack (its trace files)."""

from __future__ import annotations

import pytest

from harness.clients.gateway import API, GatewayClient
from harness.errors import HarnessError
from harness.polling import poll_until
from harness.probes import traces
from harness.stack.state import StackState

SERVICES = {"gateway", "segmentation", "runner", "archive"}
WANTED = (
    "postgres: insert command and outbox row",
    "publish altlas.command.submitted",
    "consume segmentation",
    "consume runner",
    "postgres: insert execution",
    "consume archive",
    "postgres: insert atlas record",
    "opensearch: index atlas record",
)
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_a_command_is_one_trace_across_the_services(
    gateway: GatewayClient, stack: StackState
) -> None:
    try:
        traces.trace_files(stack.state_dir)
    except HarnessError as exc:
        pytest.skip(str(exc))
    # The client sends a traceparent of its own: the gateway, the edge, links it (it does not
    # let a caller choose the trace its request joins).
    sent = await gateway.request(
        "POST",
        f"{API}/commands",
        json={"command": "İz sürme: dosyaları listele ve özetle"},
        headers={"traceparent": f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"},
    )
    assert sent.status_code == 202, sent.text
    cid = str(sent.json()["id"])
    await gateway.wait_until_final(cid)

    async def _complete() -> traces.CommandTrace | None:
        spans = traces.read_spans(traces.trace_files(stack.state_dir))
        try:
            found = traces.command_trace(spans, cid)
        except HarnessError:
            return None
        names = {s.name for r in found.roots for _, s in r.walk()}
        # Every span the test looks for, written: each service's exporter flushes on its own
        # schedule, so a parent may land after its children.
        done = {*WANTED, "consume gateway-projection"} <= names
        return (
            found
            if done and {s.service for r in found.roots for _, s in r.walk()} >= SERVICES
            else None
        )

    found = await poll_until(_complete, 20, f"the spans of command {cid} from every service")
    print("\n" + found.render())
    assert len(found.roots) == 1, f"one tree, not {len(found.roots)}:\n{found.render()}"
    root = found.roots[0]
    assert root.service == "gateway" and root.name == "POST /api/v1/commands", root
    assert root.trace_id != CLIENT_TRACE and root.parent_id is None, (
        "the gateway joined the trace a client chose instead of starting its own"
    )
    assert [x["trace_id"] for x in root.links] == [CLIENT_TRACE], (
        f"the client's traceparent must be kept as a link on the root, found {root.links}"
    )
    spans = [s for _, s in root.walk()]
    names = [s.name for s in spans]
    for wanted in WANTED:
        assert wanted in names, f"no span {wanted!r} in the trace:\n{found.render()}"
    by_id = {s.span_id: s for s in spans}
    consume = next(s for s in spans if s.name == "consume archive")
    parent = by_id[consume.parent_id or ""]
    assert parent.kind == "producer" and parent.service == "runner", (
        f"the archive consumes what the runner published: parent {parent.name} ({parent.service})"
    )
    assert not [s.name for s in spans if s.status == "error"], found.render()
