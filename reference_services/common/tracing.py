"""Traces across the four services (OpenTelemetry), and where their spans go.

One command is one trace: the gateway's HTTP span of `POST /commands` is its root; the outbox row
keeps the trace context, so the relay's publish continues it; every NATS message carries W3C
`traceparent` in its headers, so each consumer's span is a child of the publish that sent it;
HTTP calls between services carry it too. Spans name the command (`altlas.command_id`), and
PostgreSQL and OpenSearch work gets spans of its own where it happens.

Exporter: with `trace_file` set (ALTLAS_TRACE_FILE), finished spans are appended to it as JSON
lines by a batch processor (off the request path); the harness reads the files of all services
(`harness trace COMMAND_ID`). A file needs no collector, no build and no port, and survives the
service; an OTLP exporter can replace it where a collector runs (Jaeger v2 builds here from the
Go module proxy, but takes 5–13 minutes). Unset: the tracer is a no-op and costs nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

log = logging.getLogger(__name__)
TRACER_NAME = "altlas"
COMMAND_ID = "altlas.command_id"


class JsonLinesExporter(SpanExporter):
    """Each finished span as one JSON line (the fields `harness trace` reads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(span_record(s), ensure_ascii=False) for s in spans]
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in lines))
        except OSError as exc:
            log.warning("could not write %d spans to %s: %s", len(lines), self.path, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


def span_record(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}" if ctx else "",
        "span_id": f"{ctx.span_id:016x}" if ctx else "",
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "kind": span.kind.name.lower(),
        "service": str(span.resource.attributes.get("service.name", "")),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name.lower(),
        "links": [
            {"trace_id": f"{ln.context.trace_id:032x}", "span_id": f"{ln.context.span_id:016x}"}
            for ln in span.links
        ],
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
    }


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def configure(service_name: str, trace_file: str | None) -> TracerProvider | None:
    """Install the process's tracer provider; None (no-op tracing) without a trace file."""
    if not trace_file:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(JsonLinesExporter(Path(trace_file)), schedule_delay_millis=500)
    )
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject_headers(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add the current trace context (traceparent, tracestate) to outgoing headers."""
    inject(headers)
    return headers


def traceparent() -> str | None:
    """The current context as a W3C traceparent (to keep beside work done later: the outbox)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent_headers: Mapping[str, str] | None = None,
    link_headers: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A span, a child of the context in `parent_headers` when given (a message, a request).
    With `link_headers` instead, a new trace whose root *links* to the context they carry: an
    edge that does not let a caller choose its trace (or flood another's) still keeps the
    caller's trace id beside its own."""
    token = None
    links: list[trace.Link] = []
    if parent_headers is not None:
        token = otel_context.attach(extract(dict(parent_headers)))
    elif link_headers is not None:
        remote = trace.get_current_span(extract(dict(link_headers))).get_span_context()
        if remote.is_valid:
            links.append(trace.Link(remote))
        token = otel_context.attach(otel_context.Context())  # a root, whatever is current
    try:
        with tracer().start_as_current_span(
            name,
            kind=kind,
            attributes=dict(attributes or {}),
            links=links,
            record_exception=True,
        ) as current:
            yield current
    finally:
        if token is not None:
            otel_context.detach(token)


def fail(current: Span, exc: BaseException) -> None:
    current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def tag_command(command_id: str) -> None:
    """Name the command on the current span (how `harness trace` finds its trace)."""
    trace.get_current_span().set_attribute(COMMAND_ID, command_id)


def db_span(
    name: str, command_id: str, system: str = "postgresql"
) -> contextlib.AbstractContextManager[Span]:
    """A span around one command's database (or search engine) work."""
    return span(name, attributes={COMMAND_ID: command_id, "db.system": system})
