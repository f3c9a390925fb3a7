"""The campaign report: throughput and latency over time with fault windows shaded, the
checker's verdict table, the fault schedule; JSON is written beside it by the campaign."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from harness.checkers.verdict import Latency
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


def _s(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.1f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ×{n}" for name, n in counts.items()) or "none"


def _ms(value: float | None) -> str:
    return Latency.format_ms(value)


def _latency_rows(latency: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (name, str(lat["n"]), *(_ms(lat[p]) for p in ("p50", "p95", "p99", "max")))
        for name, lat in latency.items()
    ]


def _groups_html(groups: Sequence[dict[str, Any]]) -> str:
    """One row a group (kind, cause, count), its first examples listed under it."""
    if not groups:
        return "<p>none</p>"
    rows = []
    for g in groups:
        examples = "".join(
            f"<li><code>{escape(str(a['command_id'] or '-'))}</code> {escape(a['detail'])}</li>"
            for a in g["examples"]
        )
        more = g["count"] - len(g["examples"])
        if more > 0:
            examples += f"<li>… and {more} more (all in report.json)</li>"
        rows.append(
            f"<tr><td>{escape(g['kind'])}</td><td>{escape(g['cause'])}</td>"
            f"<td>{g['count']}</td><td><ul>{examples}</ul></td></tr>"
        )
    head = "<tr><th>kind</th><th>cause</th><th>count</th><th>examples</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _unread_html(verdict: dict[str, Any]) -> str:
    unread = verdict.get("unread", [])
    if not unread:
        return ""
    errors = ", ".join(f"{escape(e)} ×{n}" for e, n in verdict.get("unread_errors", {}).items())
    listed = "".join(
        f"<li><code>{escape(str(u['command_id'] or 'archive scan'))}</code> "
        f"{escape(', '.join(f'{e} ×{n}' for e, n in u['errors'].items()) or 'no attempt')}</li>"
        for u in unread[:10]
    )
    more = f"<li>… and {len(unread) - 10} more (report.json)</li>" if len(unread) > 10 else ""
    return (
        f"<h2>Not read back ({len(unread)})</h2><p>The harness could not read where these ended"
        f" (errors: {errors or 'none recorded'}); the verdict is UNKNOWN, not INVALID.</p>"
        f"<ul>{listed}{more}</ul>"
    )


COLOURS = {"VALID": "#1a7f37", "INVALID": "#cf222e", "UNKNOWN": "#9a6700"}
HEADLINES = {
    "VALID": "VALID: no anomalies",
    "INVALID": "INVALID: anomalies found",
    "UNKNOWN": "UNKNOWN: no anomaly found, but not everything could be read back",
}


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
    status = verdict.get("status") or ("VALID" if verdict["valid"] else "INVALID")
    kinds = verdict["by_kind"]
    rb = report.get("readback") or {}
    readback = (
        f"<p>Read-back: {rb.get('commands', 0)} commands in {rb.get('seconds', 0)} s,"
        f" {rb.get('retries', 0)} retries, {rb.get('throttled', 0)} answered 429"
        f" (errors by kind: {escape(_counts(rb.get('errors') or {}))}).</p>"
        if rb
        else ""
    )
    bk = report.get("broker") or {}
    if bk.get("checked"):
        c = bk.get("counts") or {}
        broker = (
            f"<p>Broker: {c.get('messages', 0)} messages stored during the run,"
            f" {c.get('events', 0)} distinct events, {c.get('dead_letters', 0)} dead letters;"
            f" {len(bk.get('anomalies') or [])} broker anomalies (counted in the verdict).</p>"
        )
    else:
        why = escape(str(bk.get("why", "not run")))
        broker = f"<p>Broker: not checked ({why}).</p>" if bk else ""
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ALT_LAS campaign report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; vertical-align: top; }}
td ul {{ margin: 0; padding-left: 1.2em; }}
.verdict {{ font-size: 1.4em; font-weight: bold; color: {COLOURS[status]}; }}
</style></head><body>
<h1>ALT_LAS campaign</h1>
<p class="verdict">{HEADLINES[status]}</p>
<p>seed {escape(str(report["config"]["seed"]))}, duration {escape(str(report["config"]["duration_s"]))}s,
faults: {escape(", ".join(report["config"]["faults"]))}; recovery after the last heal took {report["recovery_s"]}s.
Run token <code>{escape(report["token"])}</code>. Red bands are fault windows.</p>
{readback}
{broker}
{line_chart("Throughput", throughput, x_max=end, y_label="requests / s", windows=windows)}
{line_chart("Submit latency", latency, x_max=end, y_label="ms", windows=windows)}
<h2>Verdict</h2>
{_table(sorted(kinds.items()), ("anomaly", "count"))}
<h2>Anomalies by kind and cause</h2>
{_groups_html(verdict.get("groups", []))}
{_unread_html(verdict)}
<h2>Counts</h2>
{_table(sorted(verdict["counts"].items()), ("what", "count"))}
<h2>Latency</h2>
{_table(_latency_rows(verdict["latency_ms"]), ("what", "n", "p50", "p95", "p99", "max"))}
<h2>Fault schedule</h2>
{_table([(_s(f["at"]), f["kind"], f["target"], _s(f["duration"]), _s(f["injected_at"]), _s(f["healed_at"]), f["error"] or "") for f in report["faults"]], ("planned at s", "kind", "target", "duration s", "injected at s", "healed at s", "error"))}
</body></html>
"""
    path.write_text(html, encoding="utf-8")
