"""A short campaign in CI: workload + every fault kind, then a clean checker verdict."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.campaign import CampaignConfig, run_campaign
from harness.settings import HarnessSettings
from harness.stack.state import StackState


async def test_short_campaign_is_clean(
    stack: StackState, harness_settings: HarnessSettings, tmp_path: Path
) -> None:
    if stack.target != "local" or "toxiproxy" not in stack.endpoints:
        pytest.skip("campaigns inject faults into the local stack (with Toxiproxy)")
    config = CampaignConfig(
        duration_s=float(os.environ.get("HARNESS_CAMPAIGN_S", "60")),
        seed=int(os.environ.get("HARNESS_CAMPAIGN_SEED", "11")),
        rate_per_s=3.0,
        recovery_s=150.0,
        out_dir=tmp_path / "campaign",
    )
    result = await run_campaign(harness_settings, config, progress=lambda _m: None)
    injected = [w for w in result.windows if w.injected_at is not None]
    assert injected, "the campaign should have injected at least one fault"
    failed = [w.to_json() for w in result.windows if w.error]
    assert not failed, f"faults that could not be injected or healed: {failed}"
    assert result.verdict.valid, (
        f"campaign verdict:\n{result.verdict}\nreport: {result.report_html}"
    )
    assert result.verdict.counts["accepted"] > 0, result.verdict.counts
    assert result.report_html.exists() and result.report_json.exists()
