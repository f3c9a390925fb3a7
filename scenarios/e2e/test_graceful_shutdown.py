"""SIGTERM to a busy runner: in-flight executions finish (or are NAKed) and nothing is lost.

Local stack only: it restarts a process, which it can do only for processes it started.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from harness.clients.gateway import GatewayClient
from harness.infra._process import pid_alive
from harness.polling import poll_until
from harness.settings import HarnessSettings
from harness.stack import local
from harness.stack.state import StackState, load_state


def stack_pid(settings: HarnessSettings, name: str) -> int:
    """The component's current pid (fault tests restart components, which changes it)."""
    return load_state(settings).processes[name].pid


N = 6


async def test_runner_sigterm_mid_execution_loses_nothing(
    stack: StackState, gateway: GatewayClient, harness_settings: HarnessSettings
) -> None:
    if stack.target != "local" or "runner" not in stack.processes:
        pytest.skip("restarting the runner needs the local stack")
    ids = [
        await gateway.submit_ok(f"Veriyi analiz et [sleep 1500] ve sonra raporu gönder #{i}")
        for i in range(N)
    ]

    async def _one_running() -> bool:
        statuses = [(await gateway.status(cid))["status"] for cid in ids]
        return "running" in statuses

    await poll_until(_one_running, 30, "a command to be running in the runner")
    pid = stack_pid(harness_settings, "runner")
    os.kill(pid, signal.SIGTERM)

    async def _exited() -> bool:
        return not pid_alive(pid)

    # Its shutdown grace (10 s) for in-flight work, then a bounded NATS drain: a runner still
    # there after that hangs in shutdown and would be SIGKILLed by any orchestrator.
    await poll_until(_exited, 15, "the runner to exit by itself after SIGTERM")
    await local.restart(harness_settings, "runner", progress=lambda _: None)

    finals: list[dict[str, Any]] = await asyncio.gather(
        *(gateway.wait_until_final(cid, timeout=120) for cid in ids)
    )
    not_archived = {f["id"]: f["status"] for f in finals if f["status"] != "archived"}
    assert not not_archived, (
        f"every command accepted before the SIGTERM must be archived: {not_archived}"
    )
    for cid in ids:
        last = await gateway.document(cid, "last")
        statuses = {sid: r["status"] for sid, r in last["task_results"].items()}
        assert set(statuses.values()) == {"completed"}, (
            f"{cid}: segments not all completed: {statuses}"
        )
