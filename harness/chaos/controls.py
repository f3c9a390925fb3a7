"""A Chaos Toolkit control: an experiment whose fault or heal did not happen has failed.

Chaos Toolkit records a method action that raised (a drain that timed out, a policy that could
not be patched, a pod that could not be killed) as `failed` and carries on; if the steady state
then holds, `chaos run` ends `completed` and exits 0 — a pass for an experiment that never
injected its fault. Every experiment of this repository declares this control:

    "controls": [{"name": "every-action-succeeded",
                  "provider": {"type": "python", "module": "harness.chaos.controls"}}]

After the experiment it marks the journal `failed` when an action of the method or a rollback
did not succeed, and logs which and why, so `chaos run` exits 1. Probes are left to the
steady-state hypothesis, which already judges them.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["after_experiment_control", "failed_actions"]

logger = logging.getLogger("chaostoolkit")


def failed_actions(journal: dict[str, Any]) -> list[str]:
    """`name: reason` of every method action and rollback of `journal` that did not succeed."""
    failed = []
    for run in [*(journal.get("run") or []), *(journal.get("rollbacks") or [])]:
        activity = run.get("activity") or {}
        if activity.get("type") != "action" or run.get("status") == "succeeded":
            continue
        # chaoslib stores the traceback as a list of lines; its last line names the error.
        exception = run.get("exception") or []
        lines = "".join(exception).strip().splitlines() if isinstance(exception, list) else []
        reason = lines[-1] if lines else str(exception or run.get("status") or "no status")
        failed.append(f"{activity.get('name', '?')}: {reason}")
    return failed


def after_experiment_control(context: Any, state: dict[str, Any], **_: Any) -> None:
    """Fail a completed experiment one of whose actions failed (`state` is the journal)."""
    if not isinstance(state, dict):
        return
    failed = failed_actions(state)
    if failed and state.get("status") == "completed":
        state["status"] = "failed"
    for line in failed:
        logger.error(f"action failed, so the experiment did not test what it says: {line}")
