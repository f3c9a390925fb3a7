"""Every Chaos Toolkit experiment in chaos/docker/, run with `chaos run` (short settings)
against the docker target: container kill, network partition (disconnect), dependency restart,
CPU/memory throttling, freeze. The steady state holds before and after, every activity
succeeds, and the checker finds nothing lost, duplicated or stuck in the workload's history.
(`chaos run` validates each experiment first; the main session does not run this folder.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.settings import HarnessSettings
from harness.stack.state import StackState
from scenarios._support.experiments import run_experiment

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "chaos" / "docker").glob("*.json"))
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
    assert FULL_ONLY < names, f"FULL_ONLY names experiments that do not exist: {FULL_ONLY - names}"


# Twins whose fault primitive another experiment here covers (a network disconnect:
# nats-partitioned; a container restart: test_stack) run only in `make test-full`.
FULL_ONLY = {"archive-partitioned", "postgres-restarted"}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=p.stem, marks=[pytest.mark.full] if p.stem in FULL_ONLY else [])
        for p in EXPERIMENTS
    ],
)
def test_experiment_passes(
    path: Path, docker_stack: StackState, harness_settings: HarnessSettings
) -> None:
    run_experiment(path, harness_settings.state_dir, SHORT, "chaos-docker")
