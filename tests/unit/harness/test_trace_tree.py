"""`harness trace`: a command's spans as one tree, from the services' JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.probes import traces


def _span(span_id: str, parent: str | None, name: str, start: int, end: int, **attrs: str) -> str:
    return json.dumps(
        {"trace_id": "t1", "span_id": span_id, "parent_id": parent, "name": name,
         "kind": "internal", "service": name.split()[0], "start_ns": start * 1_000_000,
         "end_ns": end * 1_000_000, "status": "unset", "attributes": attrs}
    )  # fmt: skip


def test_spans_from_several_files_make_one_tree(tmp_path: Path) -> None:
    (tmp_path / "gateway.jsonl").write_text(
        _span("a", None, "gateway POST", 0, 10, **{traces.COMMAND_ID: "c1"})
        + "\n"
        + _span("b", "a", "gateway publish", 12, 13)
        + "\n{cut by a crash\n"
    )
    (tmp_path / "segmentation.jsonl").write_text(
        _span("c", "b", "segmentation consume", 14, 30, **{traces.COMMAND_ID: "c1"}) + "\n"
    )
    other = json.loads(_span("z", None, "gateway POST", 0, 1, **{traces.COMMAND_ID: "c2"}))
    other["trace_id"] = "t2"
    (tmp_path / "other.jsonl").write_text(json.dumps(other) + "\n")
    found = traces.command_trace(traces.read_spans(sorted(tmp_path.glob("*.jsonl"))), "c1")
    assert found.spans == 3 and len(found.roots) == 1
    assert [(d, s.name) for d, s in found.roots[0].walk()] == [
        (0, "gateway POST"),
        (1, "gateway publish"),
        (2, "segmentation consume"),
    ]
    assert found.duration_ms == pytest.approx(30.0)
    text = found.render()
    assert "segmentation consume" in text and "3 spans in 1 trace(s)" in text
    assert found.to_json()["tree"][2]["offset_ms"] == 14.0
    with pytest.raises(HarnessError, match="no span names command nope"):
        traces.command_trace(traces.read_spans(sorted(tmp_path.glob("*.jsonl"))), "nope")
