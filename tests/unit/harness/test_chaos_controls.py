"""harness.chaos.controls: an experiment whose action failed does not pass `chaos run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.chaos.controls import after_experiment_control, failed_actions

ROOT = Path(__file__).resolve().parents[3]
EXPERIMENTS = sorted((ROOT / "chaos").glob("**/*.json"))
CONTROL = {
    "name": "every-action-succeeded",
    "provider": {"type": "python", "module": "harness.chaos.controls"},
}
CHAOS = str(Path(sys.executable).parent / "chaos")


def _run(name: str, kind: str, status: str, exception: list[str] | None = None) -> dict[str, Any]:
    run: dict[str, Any] = {"activity": {"type": kind, "name": name}, "status": status}
    if exception is not None:
        run["exception"] = exception
    return run


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_experiment_declares_the_control(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert CONTROL in doc.get("controls", []), (
        f"{path.relative_to(ROOT)} must declare {CONTROL}: without it a failed action passes"
    )


def test_failed_actions_names_each_failed_action_and_its_error() -> None:
    journal = {
        "status": "completed",
        "run": [
            _run("background-workload", "action", "succeeded"),
            _run(
                "drain-zone-b", "action", "failed", ["Traceback…\n", "ActivityFailed: timed out\n"]
            ),
            _run("a-probe", "probe", "failed", ["ProbeError: x\n"]),
        ],
        "rollbacks": [_run("uncordon", "action", "failed")],
    }
    assert failed_actions(journal) == [
        "drain-zone-b: ActivityFailed: timed out",
        "uncordon: failed",
    ]
    after_experiment_control(context={}, state=journal)
    assert journal["status"] == "failed"


def test_a_journal_whose_actions_succeeded_keeps_its_status() -> None:
    for status in ("completed", "interrupted"):
        journal = {"status": status, "run": [_run("kill", "action", "succeeded")], "rollbacks": []}
        after_experiment_control(context={}, state=journal)
        assert journal["status"] == status


def _experiment(with_control: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "1.0.0",
        "title": "an action that raises",
        "description": "json.loads of something that is not JSON",
        "method": [
            {
                "type": "action",
                "name": "inject-nothing",
                "provider": {
                    "type": "python",
                    "module": "json",
                    "func": "loads",
                    "arguments": {"s": "{"},
                },
            }
        ],
    }
    if with_control:
        doc["controls"] = [CONTROL]
    return doc


@pytest.mark.parametrize("with_control", [False, True], ids=["without", "with"])
def test_chaos_run_exits_1_only_with_the_control(tmp_path: Path, with_control: bool) -> None:
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(_experiment(with_control)))
    journal = tmp_path / "journal.json"
    argv = [CHAOS, "--no-version-check", "--no-log-file", "run"]
    argv += ["--journal-path", str(journal), str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    status = json.loads(journal.read_text())["status"]
    if with_control:
        assert (done.returncode, status) == (1, "failed"), done.stderr[-2000:]
        assert (
            "inject-nothing: chaoslib.exceptions.ActivityFailed: json.decoder.JSONDecodeError"
            in done.stderr
        ), done.stderr[-2000:]
    else:  # Chaos Toolkit alone calls this a pass: the reason for the control.
        assert (done.returncode, status) == (0, "completed"), done.stderr[-2000:]
