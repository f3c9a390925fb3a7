"""Run one Chaos Toolkit experiment with `chaos run` against the stack of a state dir, and
assert what every suite asks of one: the steady state held before and after, every activity
succeeded, `chaos run` exited 0, and the checker found the background workload's history clean.

The journal goes to `reports/<where>/<experiment>.journal.json`, where `make test`'s report
index (reports/index.html) lists it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHAOS = str(Path(sys.executable).parent / "chaos")


def _runs_workload(doc: dict[str, Any]) -> bool:
    return any(a.get("provider", {}).get("func") == "run_workload" for a in doc.get("method", []))


def _judged_through_restore(doc: dict[str, Any]) -> bool:
    """Its hypothesis judges the workload through a restore (harness.chaos.backup): losses
    after the recovery point are the window's price, so the plain verdict cannot be VALID."""
    probes = doc.get("steady-state-hypothesis", {}).get("probes", [])
    return any(p.get("provider", {}).get("func") == "recovery_verdict" for p in probes)


def run_experiment(
    path: Path, state_dir: Path, settings: Mapping[str, str], where: str
) -> dict[str, Any]:
    """`chaos run` of `path` (with `settings` as environment), asserted clean; the journal."""
    journals = ROOT / "reports" / where
    journals.mkdir(parents=True, exist_ok=True)
    journal = journals / f"{path.stem}.journal.json"
    journal.unlink(missing_ok=True)
    (state_dir / "chaos" / f"{path.stem}.recovery.json").unlink(missing_ok=True)
    env = {**os.environ, **settings, "HARNESS_STATE_DIR": str(state_dir)}
    out = subprocess.run(
        [CHAOS, "--no-log-file", "run", "--journal-path", str(journal), str(path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-25:])
    assert journal.exists(), f"{path.name}: no journal written:\n{tail}"
    data: dict[str, Any] = json.loads(journal.read_text())
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
    doc = json.loads(path.read_text())
    if _judged_through_restore(doc):
        recovery_file = state_dir / "chaos" / f"{path.stem}.recovery.json"
        assert recovery_file.exists(), f"{path.name}: no judgement of its restore:\n{tail}"
        judged = json.loads(recovery_file.read_text())
        assert judged["valid"] and judged["settled_before_recovery_point"] > 0, judged
        print(
            f"\n{path.stem}: RPO {judged['rpo_s']} s, RTO {judged['rto_postgres_s']} s"
            f" (stack {judged['rto_stack_s']} s); {judged['settled_before_recovery_point']}"
            f" commands kept; the window cost {judged['window']['by_kind']}"
        )
    elif _runs_workload(doc):
        verdict_file = state_dir / "chaos" / f"{path.stem}.verdict.json"
        assert verdict_file.exists(), f"{path.name}: its workload wrote no verdict:\n{tail}"
        verdict = json.loads(verdict_file.read_text())
        assert verdict["valid"] and verdict["counts"]["accepted"] > 0, verdict["summary"]
    return data
