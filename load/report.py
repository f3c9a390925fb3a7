"""The load report: `report.html` (charts and the SLO verdict), `report.json`, `stats.csv` and
`timeseries.csv`, all in one directory."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from harness.report.svg import bar_chart, line_chart

STATS_FIELDS = ("type", "name", "count", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms")
SERIES_FIELDS = (
    "t",
    "users",
    "rps",
    "fail_per_s",
    "error_rate",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "archived_per_s",
    "e2e_p95_ms",
)


def write_reports(directory: Path, doc: Mapping[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    with (directory / "stats.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, STATS_FIELDS)
        writer.writeheader()
        writer.writerows(doc["requests"])
    with (directory / "timeseries.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, SERIES_FIELDS)
        writer.writeheader()
        writer.writerows(doc["timeseries"])
    (directory / "report.html").write_text(html(doc), encoding="utf-8")


def _series(points: Sequence[Mapping[str, Any]], key: str) -> list[tuple[float, float]]:
    return [(p["t"], float(p[key])) for p in points if p.get(key) is not None]


def e2e_buckets(histogram: Mapping[Any, int], n: int = 20) -> list[tuple[str, float]]:
    """The end-to-end histogram regrouped into about `n` log-spaced buckets (ms)."""
    if not histogram:
        return []
    values = {float(k): v for k, v in histogram.items()}
    lo, hi = max(1.0, min(values)), max(2.0, max(values))
    edges = [lo * (hi / lo) ** (i / n) for i in range(n + 1)]
    counts = [0] * n
    for value, count in values.items():
        i = 0 if value <= lo else min(n - 1, int(n * math.log(value / lo) / math.log(hi / lo)))
        counts[i] += count
    return [(f"{edges[i]:.0f}", float(c)) for i, c in enumerate(counts)]


def _table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in row)
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def _headline(doc: Mapping[str, Any]) -> str:
    knee = doc.get("knee")
    if not knee:
        return str(doc["slo"]["summary"])
    if not knee["found"]:
        return "Capacity: above the highest load tried (no step broke the SLO)"
    return (
        f"Capacity: {knee['users']} users, {knee['http_rps']} req/s, "
        f"{knee['archived_per_s']} commands archived/s; the SLO broke at "
        f"{knee['broken_at_users']} users"
    )


def html(doc: Mapping[str, Any]) -> str:
    verdict = doc["slo"]
    ok = verdict["ok"] if not doc.get("knee") else bool(doc["knee"]["found"])
    points = doc["timeseries"]
    end = points[-1]["t"] if points else 1.0
    charts = [
        line_chart(
            "Throughput",
            {"requests/s": _series(points, "rps"), "failures/s": _series(points, "fail_per_s")},
            x_max=end,
            y_label="per second",
        ),
        line_chart(
            "Response time (all HTTP requests)",
            {k: _series(points, f"{k}_ms") for k in ("p50", "p95", "p99")},
            x_max=end,
            y_label="ms",
        ),
        line_chart(
            "Error rate",
            {"failed / all": [(t, 100 * v) for t, v in _series(points, "error_rate")]},
            x_max=end,
            y_label="%",
        ),
        line_chart(
            "Users and commands archived",
            {"users": _series(points, "users"), "archived/s": _series(points, "archived_per_s")},
            x_max=end,
            y_label="count",
        ),
        bar_chart(
            "End-to-end latency (submit → archived), commands per bucket",
            e2e_buckets(doc.get("e2e_histogram") or {}),
            y_label="commands",
        ),
    ]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>ALT_LAS load report</title>',
        "<style>body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }",
        "table { border-collapse: collapse; margin: 1em 0; }",
        "td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }",
        ".verdict { font-size: 1.4em; font-weight: bold; color: "
        f"{'#1a7f37' if ok else '#cf222e'}; }}",
        "</style></head><body>",
        "<h1>ALT_LAS load report</h1>",
        f'<p class="verdict">{escape(_headline(doc))}</p>',
        f"<p>profile <b>{escape(str(doc['profile']))}</b> against "
        f"<code>{escape(str(doc['host']))}</code>, {doc['duration_s']} s, "
        f"{doc['workers']} load process(es).</p>",
    ]
    if doc.get("knee"):
        parts.append(f"<h2>Capacity (stress knee)</h2><p>{escape(doc['knee']['text'])}</p>")
    parts.append(
        "<h2>Service-level objectives over the whole run</h2>"
        if doc.get("knee")
        else "<h2>Service-level objectives</h2>"
    )
    parts.append(
        _table(
            [
                (
                    "ok" if c["ok"] else "BREACH",
                    c["objective"],
                    c["measured"],
                    c["limit"],
                    c["unit"],
                )
                for c in verdict["checks"]
            ],
            ("", "objective", "measured", "objective ≤", "unit"),
        )
    )
    parts.extend(charts)
    if doc.get("steps"):
        parts.append("<h2>Stress steps</h2>")
        parts.append(
            _table(
                [
                    (
                        s["users"],
                        s["http_rps"],
                        s["archived_per_s"],
                        s["p95_ms"],
                        "ok" if s["slo_ok"] else "; ".join(s["breaches"]),
                    )
                    for s in doc["steps"]
                ],
                ("users", "HTTP req/s", "archived/s", "p95 ms", "SLO"),
            )
        )
    if doc.get("open_model"):
        om = doc["open_model"]
        parts.append("<h2>Open workload model</h2>")
        parts.append(_table(sorted(om.items()), ("what", "value")))
    if doc.get("soak"):
        parts.append("<h2>Soak drift</h2>")
        parts.append(_table(sorted(doc["soak"].items()), ("what", "value")))
    parts.append("<h2>Requests</h2>")
    parts.append(_table([[r[f] for f in STATS_FIELDS] for r in doc["requests"]], STATS_FIELDS))
    parts.append("</body></html>")
    return "\n".join(parts)
