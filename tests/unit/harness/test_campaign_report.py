"""The campaign report as people read it: figures formatted, anomalies grouped, no raw dicts."""

from __future__ import annotations

import re
from pathlib import Path

from harness.checkers import Anomaly, Latency, Verdict
from harness.report.campaign import write_html


def _report(verdict: Verdict) -> dict[str, object]:
    return {
        "config": {"seed": 1, "duration_s": 120.0, "faults": ["kill"]},
        "verdict": verdict.to_json(),
        "faults": [
            {
                "at": 4.81234,
                "kind": "kill",
                "target": "archive",
                "duration": 5.3333,
                "injected_at": 4.9012,
                "healed_at": None,
                "error": None,
            }
        ],
        "recovery_s": 12.3,
        "readback": {
            "commands": 480,
            "seconds": 10.1,
            "retries": 3,
            "throttled": 3,
            "errors": {"HTTP 429": 3},
        },
        "token": "wl1234",
    }


def test_report_formats_figures_and_groups_anomalies(tmp_path: Path) -> None:
    stuck = tuple(
        Anomaly("stuck", f"c{i}", f"still running at the final-read, {i}.0s after accepted",
                "still running at the final-read")
        for i in range(12)
    )  # fmt: skip
    verdict = Verdict(
        anomalies=stuck,
        counts={"accepted": 12, "archived": 0},
        latency_ms={"submit": Latency.of([12.39321299999574, 20.0, 1500.0])},
        scanned=True,
    )
    out = tmp_path / "report.html"
    write_html(out, _report(verdict), [])
    html = out.read_text()
    assert "{'" not in html and "12.39321" not in html, "expected no raw dicts or floats"
    assert "<td>20.0 ms</td>" in html and "1.50 s" in html, "expected formatted latencies"
    assert re.search(r"<td>stuck</td><td>still running at the final-read</td><td>12</td>", html)
    assert html.count("<li><code>c") == 5 and "… and 7 more" in html, "first five examples only"
    assert "HTTP 429 ×3" in html, "expected the read-back's errors counted by kind"
    assert "<td>4.8</td><td>kill</td><td>archive</td><td>5.3</td><td>4.9</td><td>—</td>" in html
    assert "INVALID" in html


def test_report_says_what_the_broker_checks_found_or_why_they_did_not_run(tmp_path: Path) -> None:
    verdict = Verdict(anomalies=(), counts={"accepted": 1}, latency_ms={}, scanned=True)
    out = tmp_path / "report.html"
    checked = {"checked": True, "counts": {"messages": 40, "events": 38, "dead_letters": 1}}
    write_html(out, {**_report(verdict), "broker": {**checked, "anomalies": [{}, {}]}}, [])
    assert "Broker: 40 messages stored during the run, 38 distinct events, 1 dead letters;" \
        " 2 broker anomalies" in out.read_text()  # fmt: skip
    write_html(out, {**_report(verdict), "broker": {"checked": False, "why": "no nats"}}, [])
    assert "Broker: not checked (no nats)." in out.read_text()
