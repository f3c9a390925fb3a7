"""Campaigns: a workload runs while the nemesis injects faults; then heal, recover, check, report.

This is the harness's main job. The verdict comes from the checker over the whole history:
lost, duplicated, stuck, illegal transitions, phantoms — with counts and latency percentiles.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.checkers.broker import BrokerReport
from harness.checkers.pipeline import check
from harness.checkers.verdict import Verdict
from harness.errors import HarnessError
from harness.faults import cluster, network
from harness.faults.targets import for_target
from harness.infra.nats import NatsAccess
from harness.nemesis import DEPENDENCIES, SERVICES, FaultWindow, schedule
from harness.nemesis import run as run_nemesis
from harness.probes.streams import broker_report
from harness.report.campaign import write_html
from harness.settings import HarnessSettings
from harness.stack import local
from harness.stack.state import load_state, nats_access
from harness.workload.pipeline import Workload, WorkloadConfig


@dataclass(frozen=True)
class CampaignConfig:
    duration_s: float = 120.0
    seed: int = 1
    faults: tuple[str, ...] = ("kill", "pause", "partition", "latency", "outage")
    rate_per_s: float = 4.0
    recovery_s: float = 120.0
    read_rate_per_s: float = 50.0
    out_dir: Path = Path("reports/campaign")


@dataclass
class CampaignResult:
    verdict: Verdict
    windows: list[FaultWindow]
    recovery_s: float
    report_html: Path
    report_json: Path
    readback: dict[str, Any]
    broker: dict[str, Any] = dataclasses.field(default_factory=dict)


async def run_campaign(
    settings: HarnessSettings, config: CampaignConfig, progress: Callable[[str], None]
) -> CampaignResult:
    started_here = not settings.state_file.exists()
    if started_here:
        progress("no stack is running: starting the local stack for this campaign")
        await local.up(settings, progress)
    state = load_state(settings)
    try:
        kinds: Sequence[str] = config.faults
        primitives = for_target(state.target)
        if not primitives.latency:
            # A partition takes one container off the network; latency needs Toxiproxy.
            links: Sequence[str] = SERVICES + DEPENDENCIES
            kinds = [k for k in config.faults if k != "latency"]
            if len(kinds) < len(config.faults):
                progress("latency faults need Toxiproxy, which the docker target has not: skipped")
        else:
            links = network.links(settings) if "toxiproxy" in state.endpoints else ()
        nodes = cluster.nodes(state)
        if settings.nats_cluster > 1 and len(nodes) != settings.nats_cluster:
            raise HarnessError(
                f"a NATS cluster of {settings.nats_cluster} was asked for, but the running stack"
                f" has {len(nodes) or 'a single server'}: `harness down` first"
            )
        faults = schedule(config.seed, config.duration_s, kinds, links, nodes=nodes)
        progress(
            f"campaign: {config.duration_s:.0f}s, seed {config.seed}, {len(faults)} faults "
            f"({', '.join(config.faults)}), {config.rate_per_s}/s offered"
        )
        workload = Workload(
            state,
            WorkloadConfig(
                rate_per_s=config.rate_per_s,
                recovery_s=config.recovery_s,
                seed=config.seed,
                read_rate_per_s=config.read_rate_per_s,
            ),
            progress=progress,
        )
        stop = asyncio.Event()
        began = datetime.now(UTC)
        t0 = time.monotonic()
        work = asyncio.create_task(workload.run(stop))
        nemesis = asyncio.create_task(
            run_nemesis(settings, faults, t0, stop, progress, target=state.target)
        )
        try:
            await asyncio.wait_for(asyncio.shield(work), timeout=config.duration_s)
        except TimeoutError:
            pass
        stop.set()
        windows = await nemesis
        await work
        # Whatever the nemesis left behind (a failed heal), heal it now.
        if "toxiproxy" in state.endpoints:
            await network.heal_all(settings)
        await primitives.heal_all(settings)
        healed_at = time.monotonic()
        progress("faults healed; recovering and reading back")
        await workload.finish()
        recovery = time.monotonic() - healed_at
        await workload.aclose()
        access = nats_access(state) if state.endpoints.get("nats") else None
        broker, broker_json = await _broker(access, began, progress)
    finally:
        if started_here:
            await local.down(settings, load_state(settings), progress)
    verdict = check(workload.history.ops, recovery_window_s=config.recovery_s)
    if broker is not None:
        verdict = dataclasses.replace(verdict, anomalies=verdict.anomalies + broker.anomalies)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    workload.history.to_jsonl(out / "history.jsonl")
    report: dict[str, Any] = {
        "config": {**config.__dict__, "out_dir": str(out)},
        "verdict": verdict.to_json(),
        "faults": [w.to_json() for w in windows],
        "recovery_s": round(recovery, 1),
        "readback": workload.readback,
        "broker": broker_json,
        "token": workload.token,
    }
    report_json = out / "report.json"
    report_json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    report_html = out / "report.html"
    write_html(report_html, report, workload.history.ops)
    return CampaignResult(
        verdict, windows, recovery, report_html, report_json, workload.readback, broker_json
    )


async def _broker(
    access: NatsAccess | None, since: datetime, progress: Callable[[str], None]
) -> tuple[BrokerReport | None, dict[str, Any]]:
    """The broker-level checks over what the streams stored since the campaign began; their
    anomalies join the verdict. A deployment whose NATS the harness cannot reach is reported as
    not checked (the verdict then says nothing about the broker), never as clean."""
    if access is None:
        progress("broker checks: no nats endpoint in the stack state: not checked")
        return None, {"checked": False, "why": "no nats endpoint"}
    try:
        report = await broker_report(access, since)
    except Exception as exc:
        progress(f"broker checks: could not read the streams ({exc}): not checked")
        return None, {"checked": False, "why": f"{type(exc).__name__}: {exc}"}
    progress(str(report).splitlines()[0])
    return report, {"checked": True, **report.to_json()}
