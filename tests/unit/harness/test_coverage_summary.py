"""tools/coverage_summary.py: the harness and the services apart, each against its floor."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_path = ROOT / "tools" / "coverage_summary.py"
_spec = importlib.util.spec_from_file_location("coverage_summary", _path)
assert _spec and _spec.loader
summary_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary_tool)


def _file(lines: int, covered: int, branches: int, covered_branches: int) -> dict[str, object]:
    summary = {"num_statements": lines, "covered_lines": covered}
    return {"summary": {**summary, "num_branches": branches, "covered_branches": covered_branches}}


def _write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "files": {
            "harness/cli.py": _file(80, 40, 20, 10),  # 50 of 100
            "harness/polling.py": _file(10, 10, 0, 0),  # 10 of 10
            "reference_services/gateway/app.py": _file(90, 81, 10, 9),  # 90 of 100
        }
    }
    (folder / "coverage.json").write_text(json.dumps(data))


def test_packages_are_summed_apart_and_held_to_their_floors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path)
    floors = ["--floor", "harness=50", "--floor", "reference_services=90"]
    assert summary_tool.main([str(tmp_path), *floors]) == 0
    out = json.loads((tmp_path / "summary.json").read_text())
    by_name = {p["package"]: p for p in out["packages"]}
    assert (by_name["harness"]["covered"], by_name["harness"]["total"]) == (60, 110)
    assert by_name["harness"]["percent"] == 54.5
    assert by_name["reference_services"]["percent"] == 90.0
    assert "least covered: harness/cli.py 50%" in capsys.readouterr().out


def test_a_package_under_its_floor_fails_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path)
    assert summary_tool.main([str(tmp_path), "--floor", "harness=60"]) == 1
    out = capsys.readouterr().out
    assert "coverage harness: 54.5%" in out and "floor 60% BELOW" in out, out


def test_a_floor_for_a_package_without_data_fails(tmp_path: Path) -> None:
    _write(tmp_path)
    assert summary_tool.main([str(tmp_path), "--floor", "load=10"]) == 1
