"""The docker experiments (chaos/docker/) are valid Chaos Toolkit experiments whose activities
exist with the arguments given, judge the workload's history, and heal everything on rollback.
(Running them needs the docker target: `make docker-test`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chaoslib.experiment import ensure_experiment_is_valid

ROOT = Path(__file__).resolve().parents[3]
EXPERIMENTS = sorted((ROOT / "chaos" / "docker").glob("*.json"))


def _functions(activities: list[dict[str, Any]]) -> set[str]:
    return {a["provider"]["func"] for a in activities}


def test_kill_and_network_partition_are_among_them() -> None:
    functions = set()
    for path in EXPERIMENTS:
        functions |= _functions(json.loads(path.read_text())["method"])
    assert {"kill_service", "disconnect_service", "limit_resources"} <= functions, functions


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_is_valid_checks_the_history_and_heals(path: Path) -> None:
    experiment = json.loads(path.read_text())
    ensure_experiment_is_valid(experiment)
    steady = experiment["steady-state-hypothesis"]["probes"]
    verdict = [p for p in steady if p["provider"]["func"] == "history_verdict"]
    assert verdict and verdict[0]["provider"]["arguments"]["name"] == path.stem
    workload = [a for a in experiment["method"] if a["provider"]["func"] == "run_workload"]
    assert workload and workload[0]["provider"]["arguments"]["name"] == path.stem
    assert _functions(experiment["rollbacks"]) == {"heal_all"}
