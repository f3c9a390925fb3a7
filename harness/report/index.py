"""One page for one `make test`: `reports/index.html`, from what the run left under `reports/`.

It reads the JUnit XML each pytest session wrote (`reports/junit/*.xml`: counts, time, every
failure with its message, the slowest tests), the Chaos Toolkit journals
(`reports/*/*.journal.json`: status, deviation, each action), and links every other report
the run wrote (campaign, load, bench, mutation, …: any `*.html` below `reports/`). A JSON twin,
`reports/index.json`, carries the same figures for machines.

    python -m harness.report.index [reports-dir]
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

SLOWEST = 10


@dataclass
class Case:
    suite: str
    name: str
    time_s: float
    outcome: str  # passed | failed | error | skipped
    message: str = ""


@dataclass
class Suite:
    name: str
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    time_s: float = 0.0
    cases: list[Case] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


def read_junit(path: Path) -> Suite:
    """A pytest JUnit XML file (one <testsuite>, or <testsuites> around them) as one Suite."""
    suite = Suite(path.stem)
    root = ET.parse(path).getroot()  # noqa: S314 our own pytest sessions wrote it
    for ts in [root] if root.tag == "testsuite" else root.iter("testsuite"):
        suite.time_s += float(ts.get("time", 0))
        for tc in ts.iter("testcase"):
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                node = tc.find(tag)
                if node is not None:
                    outcome = "failed" if tag == "failure" else tag
                    message = (node.get("message") or node.text or "").strip()
                    break
            name = f"{tc.get('classname', '')}::{tc.get('name', '')}".strip(":")
            suite.cases.append(Case(suite.name, name, float(tc.get("time", 0)), outcome, message))
    suite.tests = len(suite.cases)
    suite.failures = sum(c.outcome == "failed" for c in suite.cases)
    suite.errors = sum(c.outcome == "error" for c in suite.cases)
    suite.skipped = sum(c.outcome == "skipped" for c in suite.cases)
    return suite


def read_journal(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    actions = [
        {"name": r["activity"]["name"], "status": r["status"], "duration_s": r.get("duration", 0)}
        for r in data.get("run", [])
        if r.get("activity", {}).get("type") == "action"
    ]
    return {
        "experiment": path.name.removesuffix(".journal.json"),
        "where": path.parent.name,
        "status": data.get("status"),
        "deviated": bool(data.get("deviated")),
        "duration_s": data.get("duration", 0),
        "actions": actions,
        "path": path,
    }


def collect(reports: Path) -> dict[str, Any]:
    """What `reports/` holds; when `make test` left its start stamp (`.test-started`), only
    what this run wrote (reports of earlier runs stay on disk but are not this run's)."""
    stamp = reports / ".test-started"
    since = stamp.stat().st_mtime if stamp.exists() else 0.0

    def _this_run(p: Path) -> bool:
        return p.stat().st_mtime >= since

    suites = [read_junit(p) for p in sorted((reports / "junit").glob("*.xml")) if _this_run(p)]
    journals = [read_journal(p) for p in sorted(reports.glob("*/*.journal.json")) if _this_run(p)]
    # A report is a report.html or index.html (coverage's HTML has hundreds of module pages).
    pages = sorted(
        p
        for p in reports.rglob("*.html")
        if p.name in ("report.html", "index.html") and p.parent != reports and _this_run(p)
    )
    coverage_file = reports / "coverage" / "summary.json"
    coverage = (
        json.loads(coverage_file.read_text())
        if coverage_file.exists() and _this_run(coverage_file)
        else None
    )
    cases = [c for s in suites for c in s.cases]
    return {
        "suites": suites,
        "journals": journals,
        "pages": pages,
        "coverage": coverage,
        "failed": [c for c in cases if c.outcome in ("failed", "error")],
        "slowest": sorted(cases, key=lambda c: c.time_s, reverse=True)[:SLOWEST],
    }


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def render(reports: Path, data: dict[str, Any]) -> str:
    suites: list[Suite] = data["suites"]
    failed = sum(s.failures + s.errors for s in suites)
    bad_experiments = [j for j in data["journals"] if j["status"] != "completed" or j["deviated"]]
    verdict = "FAILED" if failed or bad_experiments else "PASSED"
    parts = [
        "<!doctype html><meta charset=utf-8><title>ALT_LAS harness: test run</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:75em}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
        "padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}"
        ".PASSED{color:#1a7f37}.FAILED{color:#c62828}pre{white-space:pre-wrap;margin:0}</style>",
        f"<h1>Test run: <span class={verdict}>{verdict}</span></h1>",
        "<h2>Suites</h2><table>",
        _row(["suite", "tests", "passed", "failed", "errors", "skipped", "time"], "th"),
    ]
    for s in suites:
        parts.append(
            _row(
                [
                    escape(s.name),
                    str(s.tests),
                    str(s.passed),
                    str(s.failures),
                    str(s.errors),
                    str(s.skipped),
                    f"{s.time_s:.0f} s",
                ]
            )
        )
    parts.append("</table>")
    if not suites:
        parts.append("<p>No JUnit XML under junit/: no pytest session of this run finished.</p>")
    if data["failed"]:
        parts.append("<h2>Failures</h2><table>" + _row(["suite", "test", "message"], "th"))
        for c in data["failed"]:
            message = escape(c.message[:2000])
            parts.append(_row([escape(c.suite), escape(c.name), f"<pre>{message}</pre>"]))
        parts.append("</table>")
    if data["slowest"]:
        parts.append(f"<h2>Slowest {len(data['slowest'])} tests</h2><table>")
        parts.append(_row(["time", "suite", "test"], "th"))
        for c in data["slowest"]:
            parts.append(_row([f"{c.time_s:.1f} s", escape(c.suite), escape(c.name)]))
        parts.append("</table>")
    if data["coverage"]:
        floors = data["coverage"].get("floors", {})
        parts.append("<h2>Coverage (main session, lines and branches)</h2><table>")
        parts.append(_row(["package", "covered", "floor", "least covered modules"], "th"))
        for p in data["coverage"]["packages"]:
            floor = floors.get(p["package"])
            worst = sorted(p["modules"], key=lambda m: m["percent"])[:5]
            least = ", ".join(f"{escape(m['module'])} {m['percent']:.0f}%" for m in worst)
            parts.append(
                _row(
                    [
                        escape(p["package"]),
                        f"{p['percent']:.1f}% ({p['covered']}/{p['total']})",
                        "—" if floor is None else f"{floor:.0f}%",
                        least,
                    ]
                )
            )
        parts.append("</table><p>Every module: <a href='coverage/html/index.html'>coverage/html</a></p>")  # fmt: skip
    if data["journals"]:
        parts.append("<h2>Chaos experiments</h2><table>")
        parts.append(_row(["experiment", "where", "status", "time", "actions"], "th"))
        for j in data["journals"]:
            status = "deviated" if j["deviated"] else j["status"]
            cls = "PASSED" if status == "completed" else "FAILED"
            actions = ", ".join(
                f"{escape(a['name'])} {a['duration_s']:.1f} s"
                + ("" if a["status"] == "succeeded" else f" <b>{escape(a['status'])}</b>")
                for a in j["actions"]
            )
            link = f"<a href='{escape(str(j['path'].relative_to(reports)))}'>{escape(j['experiment'])}</a>"  # fmt: skip
            parts.append(
                _row(
                    [
                        link,
                        escape(j["where"]),
                        f"<span class={cls}>{escape(str(status))}</span>",
                        f"{j['duration_s']:.0f} s",
                        actions,
                    ]
                )
            )
        parts.append("</table>")
    if data["pages"]:
        parts.append("<h2>Other reports of this run</h2><ul>")
        for p in data["pages"]:
            rel = escape(str(p.relative_to(reports)))
            parts.append(f"<li><a href='{rel}'>{rel}</a></li>")
        parts.append("</ul>")
    return "\n".join(parts) + "\n"


def write(reports: Path) -> tuple[Path, dict[str, Any]]:
    """Write index.html and index.json; the page's path and the JSON's figures."""
    data = collect(reports)
    out = reports / "index.html"
    out.write_text(render(reports, data))
    summary = {
        "suites": [
            {k: v for k, v in asdict(s).items() if k != "cases"} | {"passed": s.passed}
            for s in data["suites"]
        ],
        "failed": [asdict(c) for c in data["failed"]],
        "slowest": [asdict(c) for c in data["slowest"]],
        "experiments": [{**j, "path": str(j["path"])} for j in data["journals"]],
        "coverage": [
            {k: v for k, v in p.items() if k != "modules"}
            for p in (data["coverage"] or {}).get("packages", [])
        ],
    }
    (reports / "index.json").write_text(json.dumps(summary, indent=2))
    return out, summary


def markdown(data: dict[str, Any]) -> str:
    """The run in Markdown, for a CI job's summary page (GitHub's $GITHUB_STEP_SUMMARY)."""
    lines = ["## make test", "", "| suite | tests | passed | failed | errors | skipped | time |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for s in data["suites"]:
        lines.append(
            f"| {s['name']} | {s['tests']} | {s['passed']} | {s['failures']} | {s['errors']}"
            f" | {s['skipped']} | {s['time_s']:.0f} s |"
        )
    for c in data["failed"]:
        first = (c["message"].splitlines() or [""])[0][:300]
        lines.append(f"- **failed** `{c['name']}` ({c['suite']}): {first}")
    for e in data["experiments"]:
        status = "deviated" if e["deviated"] else e["status"]
        lines.append(f"- experiment `{e['experiment']}` ({e['where']}): {status}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.report.index [reports-dir] [--summary FILE]` (FILE gets Markdown)."""
    args = list(sys.argv[1:] if argv is None else argv)
    summary = None
    if "--summary" in args:
        at = args.index("--summary")
        summary = Path(args[at + 1])
        del args[at : at + 2]
    reports = Path(args[0] if args else "reports")
    reports.mkdir(parents=True, exist_ok=True)
    out, data = write(reports)
    if summary is not None:
        with summary.open("a") as f:
            f.write(markdown(data))
    totals = [sum(s[k] for s in data["suites"]) for k in ("tests", "passed", "failures", "errors", "skipped")]  # fmt: skip
    print(
        f"test report: {out} ({len(data['suites'])} suites: {totals[0]} tests, {totals[1]} passed,"
        f" {totals[2]} failed, {totals[3]} errors, {totals[4]} skipped;"
        f" {len(data['experiments'])} experiments)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
