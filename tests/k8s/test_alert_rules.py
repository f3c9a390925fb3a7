"""The alert rules (components/monitoring/prometheusrule.yaml) under `promtool test rules`:
every alert has a case where it fires and one where it stays silent, and promtool agrees."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.k8s import render

TESTS = render.MANIFESTS / "components" / "monitoring" / "tests" / "alerts-test.yaml"


def _rules(renders: dict[str, render.Rendered]) -> list[dict[str, object]]:
    (rule,) = renders["overlay prod"].of_kind("PrometheusRule")
    groups: list[dict[str, object]] = rule["spec"]["groups"]
    return groups


def test_every_alert_has_a_firing_and_a_silent_case(renders: dict[str, render.Rendered]) -> None:
    alerts = {r["alert"] for g in _rules(renders) for r in g["rules"]}  # type: ignore[attr-defined]
    cases = [c for t in yaml.safe_load(TESTS.read_text())["tests"] for c in t["alert_rule_test"]]
    firing = {c["alertname"] for c in cases if c["exp_alerts"]}
    silent = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert alerts <= firing, f"alerts with no case where they fire: {sorted(alerts - firing)}"
    assert alerts <= silent, (
        f"alerts with no case where they stay silent: {sorted(alerts - silent)}"
    )


def test_promtool_agrees(renders: dict[str, render.Rendered], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found (make setup installs Debian's prometheus package)")
    (tmp_path / "altlas-rules.yaml").write_text(yaml.safe_dump({"groups": _rules(renders)}))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    checked = subprocess.run(
        [promtool, "check", "rules", "altlas-rules.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", TESTS.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert tested.returncode == 0, f"promtool test rules failed:\n{tested.stdout}{tested.stderr}"
