"""`harness streams` on the running stack, as an operator uses it: the deployed topology is the
declared one, and a replay of stored events through the archive's handler changes nothing (the
records read the same, the republished events are deduplicated by the server: the stream still
holds each event once)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from harness import streamctl
from harness.clients.gateway import GatewayClient
from harness.stack.state import StackState, nats_access


def _harness(
    stack: StackState, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    access = nats_access(stack)
    env = {**os.environ, "HARNESS_NATS_URL": access.url}
    if access.user:
        env["HARNESS_NATS_CREDENTIALS"] = f"{access.user}:{access.password or ''}"
    if access.ca:
        env["HARNESS_NATS_CA"] = access.ca
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "streams", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


@pytest.fixture
def nats_stack(stack: StackState) -> StackState:
    if "nats" not in stack.endpoints:
        pytest.skip("this deployment does not expose NATS (set HARNESS_NATS_URL)")
    return stack


def test_the_deployed_topology_is_the_declared_one(nats_stack: StackState) -> None:
    replicas = 3 if nats_stack.target in streamctl.CLUSTERED_TARGETS else 1
    done = _harness(nats_stack, "check", "--replicas", str(replicas), "--json")
    report = json.loads(done.stdout or "{}")
    assert done.returncode == 0, (
        f"expected no drift, got exit {done.returncode}: {done.stdout}{done.stderr}"
    )
    assert report["drift"] == [] and report["checked"] >= 8, report


async def test_a_replay_through_the_archive_changes_nothing(
    nats_stack: StackState, gateway: GatewayClient
) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds")
    ids = [await gateway.submit_ok(f"yeniden oynat {n}: raporu arşivle") for n in range(3)]
    for cid in ids:
        final = await gateway.wait_until_final(cid, timeout=90)
        assert final["status"] == "archived", final
    before = {cid: await gateway.document(cid, "atlas") for cid in ids}
    name = "e2e-replay-" + secrets.token_hex(3)
    done = _harness(
        nats_stack, "replay", "--subject", "altlas.last.created", "--since", since,
        "--to-consumer", name, "--handler", "archive", "--json",
    )  # fmt: skip
    assert done.returncode == 0, f"replay failed ({done.returncode}): {done.stdout}{done.stderr}"
    result = json.loads(done.stdout)
    assert result["delivered"] >= len(ids), f"expected at least {len(ids)} replayed: {result}"
    assert result["dead_lettered"] == 0, result
    after = {cid: await gateway.document(cid, "atlas") for cid in ids}
    assert after == before, "a replay must not change an archived record"
    audit = _harness(nats_stack, "audit", "--since", since, "--json")
    report = json.loads(audit.stdout or "{}")
    assert audit.returncode == 0, f"the stream after the replay: {audit.stdout}{audit.stderr}"
    assert report["counts"]["messages"] == report["counts"]["events"], report["counts"]
    consumers = _harness(nats_stack, "consumers", "--json")
    assert name not in {c["name"] for c in json.loads(consumers.stdout)}, (
        "replay consumer left behind"
    )


def test_the_operator_commands_answer(nats_stack: StackState) -> None:
    for args in (("ls",), ("info", "ALTLAS"), ("consumers",), ("lag",), ("dlq",)):
        done = _harness(nats_stack, *args)
        assert done.returncode == 0, f"harness streams {' '.join(args)}: {done.stderr}"
        assert done.stdout.strip(), f"harness streams {' '.join(args)} printed nothing"
    unknown = _harness(nats_stack, "info", "NO_SUCH_STREAM")
    assert unknown.returncode == 2 and "no stream named 'NO_SUCH_STREAM'" in unknown.stderr, unknown
    refused = _harness(nats_stack, "purge", "ALTLAS")
    assert refused.returncode == 2 and "add --yes" in refused.stderr, refused
