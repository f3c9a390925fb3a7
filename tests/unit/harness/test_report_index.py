"""harness.report.index: one page from the JUnit XML and the journals a `make test` left."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report import index

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4" failures="1" errors="0" skipped="1" time="12.5">
<testcase classname="scenarios.e2e.test_pipeline" name="test_command_is_archived" time="9.1"/>
<testcase classname="tests.unit.test_checker" name="test_lost" time="0.2">
  <failure message="AssertionError: expected VALID, got INVALID">trace</failure></testcase>
<testcase classname="tests.unit.test_x" name="test_skipped" time="0.0">
  <skipped message="needs the local stack"/></testcase>
<testcase classname="tests.unit.test_x" name="test_fast" time="0.01"/>
</testsuite></testsuites>
"""


def _journal(status: str, deviated: bool, action_status: str) -> dict[str, object]:
    return {
        "status": status,
        "deviated": deviated,
        "duration": 40.0,
        "run": [
            {
                "activity": {"type": "action", "name": "drain-zone-b"},
                "status": action_status,
                "duration": 7.5,
            },
            {"activity": {"type": "probe", "name": "p"}, "status": "succeeded", "duration": 1},
        ],
    }


def test_the_index_counts_suites_lists_failures_slow_tests_experiments_and_reports(
    tmp_path: Path,
) -> None:
    (tmp_path / "junit").mkdir()
    (tmp_path / "junit" / "main.xml").write_text(JUNIT)
    k8s = tmp_path / "k8s-local"
    k8s.mkdir()
    (k8s / "drained.journal.json").write_text(json.dumps(_journal("completed", False, "succeeded")))
    (k8s / "denied.journal.json").write_text(json.dumps(_journal("failed", False, "failed")))
    (tmp_path / "campaign").mkdir()
    (tmp_path / "campaign" / "report.html").write_text("<html></html>")

    assert index.main([str(tmp_path)]) == 0
    page = (tmp_path / "index.html").read_text()
    data = json.loads((tmp_path / "index.json").read_text())

    [suite] = data["suites"]
    counts = [suite[k] for k in ("name", "tests", "passed", "failures", "skipped")]
    assert counts == ["main", 4, 2, 1, 1], suite
    assert [c["name"] for c in data["failed"]] == ["tests.unit.test_checker::test_lost"]
    assert data["slowest"][0]["name"] == "scenarios.e2e.test_pipeline::test_command_is_archived"
    assert "FAILED" in page and "expected VALID, got INVALID" in page
    assert "campaign/report.html" in page
    assert "drain-zone-b 7.5 s <b>failed</b>" in page  # the failed action of the failed run
    assert sorted(e["status"] for e in data["experiments"]) == ["completed", "failed"]


def test_a_run_that_passed_says_so_and_one_without_junit_says_why(tmp_path: Path) -> None:
    index.main([str(tmp_path)])
    assert "No JUnit XML under junit/" in (tmp_path / "index.html").read_text()
    (tmp_path / "junit").mkdir()
    (tmp_path / "junit" / "main.xml").write_text(
        '<testsuite tests="1" time="1"><testcase classname="a" name="t" time="1"/></testsuite>'
    )
    index.main([str(tmp_path)])
    assert "<span class=PASSED>PASSED</span>" in (tmp_path / "index.html").read_text()


def test_reports_older_than_the_runs_start_are_not_this_runs(tmp_path: Path) -> None:
    import os

    (tmp_path / "load").mkdir()
    old = tmp_path / "load" / "report.html"
    old.write_text("<html></html>")
    os.utime(old, (1_000_000, 1_000_000))
    (tmp_path / ".test-started").touch()
    (tmp_path / "campaign").mkdir()
    (tmp_path / "campaign" / "report.html").write_text("<html></html>")
    index.main([str(tmp_path)])
    page = (tmp_path / "index.html").read_text()
    assert "campaign/report.html" in page and "load/report.html" not in page


def test_the_ci_summary_is_markdown_of_the_same_figures(tmp_path: Path) -> None:
    (tmp_path / "junit").mkdir()
    (tmp_path / "junit" / "main.xml").write_text(JUNIT)
    summary = tmp_path / "summary.md"
    index.main([str(tmp_path), "--summary", str(summary)])
    text = summary.read_text()
    assert "| main | 4 | 2 | 1 | 0 | 1 | 12 s |" in text, text
    assert "**failed** `tests.unit.test_checker::test_lost`" in text


def test_coverage_of_the_run_is_on_the_page(tmp_path: Path) -> None:
    (tmp_path / "coverage").mkdir()
    summary = {
        "floors": {"harness": 70.0},
        "packages": [
            {
                "package": "harness", "covered": 80, "total": 100, "percent": 80.0,
                "modules": [{"module": "harness/cli.py", "percent": 12.5}],
            }
        ],
    }  # fmt: skip
    (tmp_path / "coverage" / "summary.json").write_text(json.dumps(summary))
    index.main([str(tmp_path)])
    page = (tmp_path / "index.html").read_text()
    assert "80.0% (80/100)" in page and "70%" in page and "harness/cli.py 12%" in page
    assert json.loads((tmp_path / "index.json").read_text())["coverage"][0]["percent"] == 80.0
