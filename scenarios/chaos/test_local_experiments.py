"""Every Chaos Toolkit experiment in chaos/local/, run with `chaos run` (short settings) against
the local stack: the steady state holds before and after, every activity succeeds, and the
checker finds nothing lost, duplicated or stuck in the background workload's history."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.settings import HarnessSettings
from harness.stack.state import StackState
from scenarios._support.experiments import run_experiment

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "chaos" / "local").glob("*.json"))
CHAOS = str(Path(sys.executable).parent / "chaos")
# Short settings for CI; the experiments' defaults are the longer, documented ones.
SHORT = {
    "CHAOS_WORKLOAD_S": "15",
    "CHAOS_WARMUP_S": "3",
    "CHAOS_NATS_DOWN_S": "10",
    "CHAOS_OS_DOWN_S": "10",
    "CHAOS_FAULT_S": "8",
    "CHAOS_RECOVERY_S": "120",
    "CHAOS_MIGRATION_RECORDS": "10000",
    # postgres-data-destroyed: commands accepted after the recovery point never become final,
    # so the workload waits out its whole recovery window (60 s by default) for them.
    "CHAOS_DR_WORKLOAD_S": "30",
    "CHAOS_DR_RECOVERY_S": "45",
}


def test_there_are_experiments() -> None:
    assert len(EXPERIMENTS) >= 13, f"expected the 13 local experiments, found {len(EXPERIMENTS)}"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_validates(path: Path) -> None:
    out = subprocess.run(
        [CHAOS, "--no-log-file", "validate", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"chaos validate {path.name} failed:\n{out.stdout}\n{out.stderr}"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_passes(
    path: Path, stack: StackState, harness_settings: HarnessSettings
) -> None:
    if stack.target != "local" or "toxiproxy" not in stack.endpoints:
        pytest.skip("the local experiments need the local stack with Toxiproxy")
    run_experiment(path, harness_settings.state_dir, SHORT, "chaos-local")
