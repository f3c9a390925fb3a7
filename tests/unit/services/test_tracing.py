"""Trace context across a hop: a span's context injected into message headers makes the next
service's span its child, the outbox's saved traceparent continues the request's trace, and the
exporter writes what `harness trace` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from reference_services.common import tracing


@pytest.fixture
def spans_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "spans.jsonl"
    provider = TracerProvider(resource=Resource.create({"service.name": "gateway"}))
    provider.add_span_processor(SimpleSpanProcessor(tracing.JsonLinesExporter(out)))
    monkeypatch.setattr(tracing, "tracer", lambda: provider.get_tracer("test"))
    return out


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_message_hop_and_the_outbox_keep_one_trace(spans_file: Path) -> None:
    with tracing.span("POST /api/v1/commands", kind=SpanKind.SERVER) as request:
        tracing.tag_command("c-1")
        saved = tracing.traceparent()  # what the outbox row keeps
    assert saved is not None and saved.startswith("00-")
    # Later, in the relay (no current span): the publish continues the request's trace.
    with tracing.span("publish altlas.command.submitted", parent_headers={"traceparent": saved}):
        headers = tracing.inject_headers({"Nats-Msg-Id": "e-1"})
    assert headers["Nats-Msg-Id"] == "e-1" and "traceparent" in headers
    # Another service consumes the message.
    with tracing.span("consume segmentation", kind=SpanKind.CONSUMER, parent_headers=headers):
        pass
    by_name = {s["name"]: s for s in _read(spans_file)}
    root = by_name["POST /api/v1/commands"]
    publish = by_name["publish altlas.command.submitted"]
    consume = by_name["consume segmentation"]
    assert root["parent_id"] is None and root["attributes"] == {tracing.COMMAND_ID: "c-1"}
    assert publish["parent_id"] == root["span_id"], "the relay's publish is the request's child"
    assert consume["parent_id"] == publish["span_id"], "the consumer is the publish's child"
    assert {s["trace_id"] for s in by_name.values()} == {root["trace_id"]}, "one trace"
    assert consume["kind"] == "consumer" and root["service"] == "gateway"
    assert int(str(root["end_ns"])) >= int(str(root["start_ns"]))
    del request


def test_without_a_trace_file_tracing_is_off() -> None:
    assert tracing.configure("gateway", None) is None


def test_an_edge_links_a_callers_trace_instead_of_joining_it(spans_file: Path) -> None:
    client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing.span("outer"):  # whatever is current does not become the parent either
        with tracing.span(
            "POST /api/v1/commands", kind=SpanKind.SERVER, link_headers={"traceparent": client}
        ):
            pass
    edge = next(s for s in _read(spans_file) if s["name"] == "POST /api/v1/commands")
    assert edge["parent_id"] is None, "the edge's span must start a trace of its own"
    assert edge["trace_id"] != "0af7651916cd43dd8448eb211c80319c"
    assert edge["links"] == [
        {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}
    ], "the caller's context must be kept as a link"
