"""The campaign report: throughput and latency over time with fault windows shaded, the
checker's verdict table, the fault schedule; JSON is written beside it by the campaign."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from harness.history.model import Op, pair_ops
from harness.report.svg import line_chart

BUCKET_S = 2.0


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p / 100))]


def series(
    ops: Sequence[Op],
) -> tuple[dict[str, list[tuple[float, float]]], dict[str, list[tuple[float, float]]], float]:
    accepted: dict[int, int] = defaultdict(int)
    failed: dict[int, int] = defaultdict(int)
    latency: dict[int, list[float]] = defaultdict(list)
    end = max((op.time for op in ops), default=0.0)
    for invoke, done in pair_ops(ops):
        if invoke.f != "submit" or done is None:
            continue
        bucket = int(done.time // BUCKET_S)
        if done.type == "ok":
            accepted[bucket] += 1
            latency[bucket].append((done.time - invoke.time) * 1000)
        else:
            failed[bucket] += 1
    buckets = range(int(end // BUCKET_S) + 1)
    throughput = {
        "accepted / s": [(b * BUCKET_S, accepted[b] / BUCKET_S) for b in buckets],
        "failed or unknown / s": [(b * BUCKET_S, failed[b] / BUCKET_S) for b in buckets],
    }
    lat = {
        "submit p50 (ms)": [(b * BUCKET_S, _pct(latency[b], 50)) for b in buckets if latency[b]],
        "submit p99 (ms)": [(b * BUCKET_S, _pct(latency[b], 99)) for b in buckets if latency[b]],
    }
    return throughput, lat, end


def _table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> str:
    th = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def write_html(path: Path, report: dict[str, Any], ops: Sequence[Op]) -> None:
    verdict = report["verdict"]
    throughput, latency, end = series(ops)
    windows = [
        (
            f["injected_at"] or f["at"],
            f["healed_at"] or f["at"] + f["duration"],
            f"{f['kind']} {f['target']}",
        )
        for f in report["faults"]
    ]
    ok = verdict["valid"]
    kinds = verdict["by_kind"]
    anomalies = verdict.get("anomalies", [])[:50]
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ALT_LAS campaign report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
.verdict {{ font-size: 1.4em; font-weight: bold; color: {"#1a7f37" if ok else "#cf222e"}; }}
</style></head><body>
<h1>ALT_LAS campaign</h1>
<p class="verdict">{"PASS: no anomalies" if ok else "FAIL: anomalies found"}</p>
<p>seed {escape(str(report["config"]["seed"]))}, duration {escape(str(report["config"]["duration_s"]))}s,
faults: {escape(", ".join(report["config"]["faults"]))}; recovery after the last heal took {report["recovery_s"]}s.
Run token <code>{escape(report["token"])}</code>. Red bands are fault windows.</p>
{line_chart("Throughput", throughput, x_max=end, y_label="requests / s", windows=windows)}
{line_chart("Submit latency", latency, x_max=end, y_label="ms", windows=windows)}
<h2>Verdict</h2>
{_table(sorted(kinds.items()), ("anomaly", "count"))}
<h2>Counts</h2>
{_table(sorted(verdict["counts"].items()), ("what", "count"))}
<h2>Latency</h2>
{_table([(k, v) for k, v in verdict["latency_ms"].items()], ("what", "ms"))}
<h2>Fault schedule</h2>
{_table([(f["at"], f["kind"], f["target"], f["duration"], f["injected_at"], f["healed_at"], f["error"] or "") for f in report["faults"]], ("planned at s", "kind", "target", "duration s", "injected at s", "healed at s", "error"))}
<h2>Anomalies</h2>
{_table([(a["kind"], a["command_id"], a["detail"]) for a in anomalies], ("kind", "command", "detail")) if anomalies else "<p>none</p>"}
</body></html>
"""
    path.write_text(html, encoding="utf-8")
