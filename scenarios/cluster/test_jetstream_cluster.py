"""The local stack's three-node JetStream cluster (`make test-cluster`): every pipeline stream on
all three nodes; no acknowledged publish lost or stored twice when the leader is killed in the
middle of a stream of publishes; and a campaign of node faults (kill, freeze, partition, the
leader killed) judged by the history checker: 0 lost, 0 duplicated."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import nats
import pytest

from harness import streamctl
from harness.campaign import CampaignConfig, run_campaign
from harness.faults import cluster, process
from harness.probes import jetstream
from harness.settings import HarnessSettings
from harness.stack.state import StackState, nats_access

OUT = Path(__file__).resolve().parents[2] / "reports" / "cluster-campaign"
PIPELINE_STREAMS = ("ALTLAS", "ALTLAS_DLQ", "ALTLAS_REDRIVE")
NODE_FAULTS = ("nats-node-kill", "nats-node-pause", "nats-partition", "nats-leader-kill")


async def test_every_pipeline_stream_is_on_every_node(
    cluster_stack: StackState, harness_settings: HarnessSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    args = argparse.Namespace(streams="check", replicas=3, json=True)
    assert await streamctl.run(harness_settings, args) == 0, capsys.readouterr().out
    async with jetstream.connect(nats_access(cluster_stack)) as admin:
        for name in PIPELINE_STREAMS:
            info = await admin.require_stream(name)
            group = info.get("cluster") or {}
            followers = group.get("replicas") or []
            assert group.get("leader") and len(followers) == 2, f"{name}: {group}"
            lagging = [f["name"] for f in followers if not f.get("current")]
            assert not lagging, f"{name}: followers not current: {lagging}"


async def _publish(js: Any, n: int) -> bool:
    """One publish with its dedup id, retried until acknowledged or 20 s pass."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            await js.publish(
                "clustertest.m", f"m{n}".encode(), headers={"Nats-Msg-Id": f"m{n}"}, timeout=2
            )
            return True
        except Exception:
            await asyncio.sleep(0.2)
    return False


async def test_no_acknowledged_publish_is_lost_when_the_leader_dies(
    cluster_stack: StackState, harness_settings: HarnessSettings
) -> None:
    nc = await nats_access(cluster_stack).connect(
        max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    js = nc.jetstream(timeout=5)
    killed = None
    try:
        await js.add_stream(name="CLUSTERTEST", subjects=["clustertest.>"], num_replicas=3)
        acked: list[int] = []
        for n in range(300):
            if n == 100:
                killed = await cluster.stream_leader(harness_settings, "CLUSTERTEST")
                await process.kill(harness_settings, killed, "SIGKILL")
            if await _publish(js, n):
                acked.append(n)
        assert killed is not None
        await process.start(harness_settings, killed)
        stored: dict[str, int] = {}
        sub = await js.pull_subscribe("clustertest.>", durable=None, stream="CLUSTERTEST")
        while True:
            try:
                batch = await sub.fetch(100, timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            for msg in batch:
                stored[msg.data.decode()] = stored.get(msg.data.decode(), 0) + 1
        await sub.unsubscribe()
        lost = [n for n in acked if f"m{n}" not in stored]
        twice = {k: v for k, v in stored.items() if v > 1}
        assert len(acked) == 300, f"publishes never acknowledged in 20 s: {300 - len(acked)}"
        assert not lost, f"acknowledged, then lost after {killed} (the leader) died: {lost[:20]}"
        assert not twice, f"stored more than once despite Nats-Msg-Id: {twice}"
    finally:
        if killed is not None and not await process.running(harness_settings, killed):
            await process.start(harness_settings, killed)
        try:
            await js.delete_stream("CLUSTERTEST")
        finally:
            await nc.close()


async def test_a_campaign_of_node_faults_is_valid(
    cluster_stack: StackState, harness_settings: HarnessSettings
) -> None:
    config = CampaignConfig(
        duration_s=harness_settings.campaign_s or 75.0,
        seed=harness_settings.campaign_seed if harness_settings.campaign_seed is not None else 14,
        faults=NODE_FAULTS,
        recovery_s=120.0,
        out_dir=OUT,
    )
    result = await run_campaign(harness_settings, config, progress=lambda _m: None)
    injected = [w for w in result.windows if w.injected_at is not None]
    kinds = {w.fault.kind for w in injected}
    assert len(kinds) >= 3, f"expected at least three kinds of node fault, got {sorted(kinds)}"
    failed = [w.to_json() for w in result.windows if w.error]
    assert not failed, f"faults that could not be injected or healed: {failed}"
    counts = result.verdict.counts
    summary = {
        "verdict": result.verdict.status,
        "faults": {k: sum(w.fault.kind == k for w in injected) for k in sorted(kinds)},
        "hit": [w.hit for w in injected],
        "counts": dict(counts),
        "anomalies": dict(result.verdict.by_kind),
        "recovery_s": result.recovery_s,
        "broker": result.broker.get("counts"),
    }
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    assert result.verdict.status == "VALID", (
        f"campaign verdict:\n{result.verdict}\nread-back: {result.readback}\n"
        f"report: {result.report_html}"
    )
    assert counts["accepted"] > 0, counts
    kinds_found = result.verdict.by_kind
    assert (kinds_found.get("lost", 0), kinds_found.get("duplicated", 0)) == (0, 0), kinds_found
    assert result.broker.get("checked"), f"the broker checks did not run: {result.broker}"
