"""Judge a run through a restore of PostgreSQL to an earlier instant (disaster recovery).

Restoring to a recovery point R gives up, by design, what was committed after R: that is the
recovery point objective, and the checker on the whole run says what it cost (commands lost,
stuck or gone backwards). Before R nothing may be lost. A command the workload had read as
`archived` before R was archived in a committed state before R, so the restored databases must
still hold it: the checker, run on the history of those commands alone, must find nothing.
Anything it finds is a breach (the restore lost what it promised to keep); the rest is the
price of the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.checkers.pipeline import check
from harness.checkers.verdict import Verdict
from harness.history.model import Op, pair_ops


def settled_before(history: Sequence[Op], point_s: float) -> set[str]:
    """Commands some read returned as `archived` by `point_s` (history time)."""
    settled = set()
    for invoke, done in pair_ops(sorted(history, key=lambda op: op.index)):
        if invoke.f not in ("read", "final-read") or done is None or done.type != "ok":
            continue
        if done.time <= point_s and (done.value or {}).get("status") == "archived":
            if done.command_id is not None:
                settled.add(done.command_id)
    return settled


def accepted_before(history: Sequence[Op], t: float) -> set[str]:
    """Commands whose submit was acknowledged by `t` (history time)."""
    return {
        done.command_id
        for invoke, done in pair_ops(sorted(history, key=lambda op: op.index))
        if invoke.f == "submit" and done is not None and done.type == "ok" and done.time <= t
        if done.command_id is not None
    }


def restricted(history: Sequence[Op], commands: set[str]) -> list[Op]:
    """The history of `commands` alone: their submits (every submit under their idempotency
    keys, so a key the restore forgot shows as a duplicate), their reads, and the scan cut to
    them."""
    pairs = pair_ops(sorted(history, key=lambda op: op.index))
    keys = {
        (invoke.value or {}).get("key")
        for invoke, done in pairs
        if invoke.f == "submit" and done is not None and done.command_id in commands
    }
    kept: list[Op] = []
    for invoke, done in pairs:
        if invoke.f == "submit":
            keep = (invoke.value or {}).get("key") in keys
        elif invoke.f == "scan":
            keep = True
            if done is not None and done.type == "ok":
                done = _cut_scan(done, commands, keys)
        else:
            keep = invoke.command_id in commands
        if keep:
            kept.append(invoke)
            if done is not None:
                kept.append(done)
    return kept


def _cut_scan(done: Op, commands: set[str], keys: set[Any]) -> Op:
    value = done.value or {}
    atlas = {c: ids for c, ids in value.get("atlas_by_command", {}).items() if c in commands}
    by_key = {k: ids for k, ids in value.get("commands_by_key", {}).items() if k in keys}
    return Op(
        done.index,
        done.process,
        done.type,
        done.f,
        done.time,
        done.command_id,
        {"atlas_by_command": atlas, "commands_by_key": by_key},
        done.error,
    )


@dataclass(frozen=True)
class RecoveryJudgement:
    point_s: float  # the recovery point, in history time
    settled: int  # commands read as archived by then
    eligible: int  # commands accepted `margin_s` or more before it: those should be settled
    covered: int  # of those, how many were
    kept: Verdict  # the checker on those commands alone: must be valid
    whole: Verdict  # the checker on the whole run: what the window cost

    @property
    def valid(self) -> bool:
        return self.kept.valid

    @property
    def coverage(self) -> float:
        """How many of the eligible commands the judgement covers (1.0: every one)."""
        return self.covered / self.eligible if self.eligible else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "recovery_point_s": round(self.point_s, 3),
            "settled_before_recovery_point": self.settled,
            "accepted_well_before_it": self.eligible,
            "coverage": round(self.coverage, 3),
            "kept": self.kept.to_json(),
            "window": {
                "anomalies": len(self.whole.anomalies),
                "by_kind": self.whole.by_kind,
                "counts": self.whole.counts,
            },
        }

    def __str__(self) -> str:
        cost = ", ".join(f"{k} {v}" for k, v in self.whole.by_kind.items() if v) or "nothing"
        head = f"{self.settled} commands archived before the recovery point: " + (
            "all kept" if self.valid else f"BREACHED — {self.kept}"
        )
        return f"{head}; the window after it cost: {cost}"


def judge_restore(
    history: Sequence[Op],
    point_s: float,
    *,
    margin_s: float = 5.0,
    recovery_window_s: float | None = None,
) -> RecoveryJudgement:
    """Only commands some read saw archived before the recovery point can be judged; the
    `coverage` says how many of those accepted `margin_s` before it that is, so that a run
    which read little cannot pass on a handful."""
    settled = settled_before(history, point_s)
    eligible = accepted_before(history, point_s - margin_s)
    kept = check(restricted(history, settled), recovery_window_s=recovery_window_s)
    whole = check(history, recovery_window_s=recovery_window_s)
    covered = len(settled & eligible)
    return RecoveryJudgement(point_s, len(settled), len(eligible), covered, kept, whole)
