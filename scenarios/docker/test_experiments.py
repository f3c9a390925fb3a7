"""Every Chaos Toolkit experiment in chaos/docker/, run with `chaos run` (short settings)
against the docker target: container kill, network partition (disconnect), dependency restart,
CPU/memory throttling, freeze. The steady state holds before and after, every activity
succeeds, and the checker finds nothing lost, duplicated or stuck in the workload's history.
(`chaos run` validates each experiment first; the main session does not run this folder.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.settings import HarnessSettings
from harness.stack.state import StackState

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "chaos" / "docker").glob("*.json"))
CHAOS = str(Path(sys.executable).parent / "chaos")
# Short settings for CI; the experiments' defaults are the longer, documented ones.
SHORT = {
    "CHAOS_WORKLOAD_S": "15",
    "CHAOS_WARMUP_S": "3",
    "CHAOS_FAULT_S": "8",
    "CHAOS_RECOVERY_S": "120",
}


def test_there_are_kill_and_partition_experiments() -> None:
    names = {p.stem for p in EXPERIMENTS}
    assert {"runner-killed", "archive-partitioned", "nats-partitioned"} <= names, names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_passes(
    path: Path, docker_stack: StackState, harness_settings: HarnessSettings, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.json"
    env = {**os.environ, **SHORT, "HARNESS_STATE_DIR": str(harness_settings.state_dir)}
    out = subprocess.run(
        [CHAOS, "--no-log-file", "run", "--journal-path", str(journal), str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=env,
    )
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-25:])
    assert journal.exists(), f"{path.name}: no journal written:\n{tail}"
    data = json.loads(journal.read_text())
    failed = [
        f"{r['activity']['name']}: {r.get('exception') or r.get('output')}"
        for r in data["run"]
        if r["status"] != "succeeded"
    ]
    assert data["status"] == "completed" and not data["deviated"], (
        f"{path.name} ended {data['status']} (deviated={data['deviated']}):\n{tail}"
    )
    assert not failed, f"{path.name}: activities failed:\n" + "\n".join(failed)
    assert out.returncode == 0, f"chaos run exited {out.returncode}:\n{tail}"
    verdict = json.loads(
        (harness_settings.state_dir / "chaos" / f"{path.stem}.verdict.json").read_text()
    )
    assert verdict["valid"] and verdict["counts"]["accepted"] > 0, verdict["summary"]
