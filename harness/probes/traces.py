"""One command's trace, read from the spans the services wrote (reference_services/common/
tracing.py: JSON lines, one file per service, `<state dir>/traces/*.jsonl` on the local stack).

A command's spans are found by its id (`altlas.command_id`); every span of the traces they
belong to is kept, and arranged as a tree by parent id — the gateway's request at the root, then
the outbox relay's publish, each consumer, their database and OpenSearch work, their publishes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

COMMAND_ID = "altlas.command_id"


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    service: str
    start_ns: int
    end_ns: int
    status: str
    attributes: dict[str, Any]
    children: list[Span] = field(default_factory=list)
    # Other traces this span links to (the gateway's root: a client's own traceparent).
    links: list[dict[str, str]] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Span:
        return cls(
            trace_id=str(data["trace_id"]),
            span_id=str(data["span_id"]),
            parent_id=data.get("parent_id"),
            name=str(data["name"]),
            kind=str(data.get("kind", "internal")),
            service=str(data.get("service", "")),
            start_ns=int(data["start_ns"]),
            end_ns=int(data["end_ns"]),
            status=str(data.get("status", "unset")),
            attributes=dict(data.get("attributes", {})),
            links=[dict(x) for x in data.get("links") or []],
        )

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Span]]:
        yield depth, self
        for child in sorted(self.children, key=lambda s: s.start_ns):
            yield from child.walk(depth + 1)


def read_spans(files: Iterable[Path]) -> list[Span]:
    spans = []
    for path in files:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                line = line.strip()
                if line:
                    try:
                        spans.append(Span.from_json(json.loads(line)))
                    except (ValueError, KeyError):
                        continue  # a line cut by a crash mid-write
    return spans


@dataclass
class CommandTrace:
    command_id: str
    roots: list[Span]
    spans: int

    @property
    def start_ns(self) -> int:
        return min(r.start_ns for r in self.roots)

    @property
    def duration_ms(self) -> float:
        end = max(s.end_ns for r in self.roots for _, s in r.walk())
        return (end - self.start_ns) / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "trace_ids": sorted({r.trace_id for r in self.roots}),
            "spans": self.spans,
            "duration_ms": round(self.duration_ms, 2),
            "tree": [
                {
                    "depth": depth,
                    "service": s.service,
                    "name": s.name,
                    "kind": s.kind,
                    "status": s.status,
                    "offset_ms": round((s.start_ns - self.start_ns) / 1e6, 2),
                    "duration_ms": round(s.duration_ms, 2),
                }
                for root in self.roots
                for depth, s in root.walk()
            ],
        }

    def render(self) -> str:
        head = (
            f"command {self.command_id}: {self.spans} spans in"
            f" {len({r.trace_id for r in self.roots})} trace(s),"
            f" {self.duration_ms:.1f} ms from first to last"
        )
        lines = [head, f"{'start':>9} {'took':>9}  {'service':<13} span"]
        for root in self.roots:
            for depth, s in root.walk():
                mark = " !" if s.status == "error" else ""
                lines.append(
                    f"{(s.start_ns - self.start_ns) / 1e6:>7.1f}ms {s.duration_ms:>7.1f}ms"
                    f"  {s.service:<13} {'  ' * depth}{s.name} [{s.kind}]{mark}"
                )
        return "\n".join(lines)


def command_trace(spans: list[Span], command_id: str) -> CommandTrace:
    """The tree of every trace holding a span of `command_id`; HarnessError when none does."""
    traces = {s.trace_id for s in spans if s.attributes.get(COMMAND_ID) == command_id}
    if not traces:
        raise HarnessError(
            f"no span names command {command_id} (is tracing on? ALTLAS_TRACE_FILE; spans reach"
            " the file within a second of their end)"
        )
    mine = {s.span_id: s for s in spans if s.trace_id in traces}
    roots = []
    for s in sorted(mine.values(), key=lambda s: s.start_ns):
        parent = mine.get(s.parent_id) if s.parent_id else None
        if parent is None:
            roots.append(s)
        else:
            parent.children.append(s)
    return CommandTrace(command_id, roots, len(mine))


def trace_files(state_dir: str | None) -> list[Path]:
    if not state_dir:
        raise HarnessError("the stack has no state directory holding traces (local stack only)")
    folder = Path(state_dir) / "traces"
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise HarnessError(f"no trace files in {folder}: the stack runs without tracing")
    return files
