"""A short campaign on the docker target: the workload while the nemesis kills and partitions
containers (seeded: an archive kill and a NATS partition), then a clean checker verdict."""

from __future__ import annotations

from pathlib import Path

from harness.campaign import CampaignConfig, run_campaign
from harness.settings import HarnessSettings
from harness.stack.state import StackState

# Under reports/, where `make test`'s report index (reports/index.html) links it.
OUT = Path(__file__).resolve().parents[2] / "reports" / "campaign-docker-test"


async def test_short_container_campaign_is_clean(
    docker_stack: StackState, harness_settings: HarnessSettings
) -> None:
    config = CampaignConfig(
        duration_s=harness_settings.docker_campaign_s,
        seed=harness_settings.docker_campaign_seed,
        faults=("kill", "pause", "partition", "outage"),
        rate_per_s=3.0,
        recovery_s=150.0,
        out_dir=OUT,
    )
    result = await run_campaign(harness_settings, config, progress=lambda _m: None)
    injected = [w for w in result.windows if w.injected_at is not None]
    assert {w.fault.kind for w in injected} >= {"kill", "partition"}, [
        w.to_json() for w in injected
    ]
    failed = [w.to_json() for w in result.windows if w.error]
    assert not failed, f"faults that could not be injected or healed: {failed}"
    assert result.verdict.valid, (
        f"campaign verdict:\n{result.verdict}\nreport: {result.report_html}"
    )
    assert result.verdict.counts["accepted"] > 0, result.verdict.counts
