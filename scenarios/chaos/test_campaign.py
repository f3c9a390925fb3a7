"""`make campaign` as CI runs it: its default settings (two minutes, seed 1, every fault kind,
a read-back of every accepted command as one user), then a VALID checker verdict.

The read-back of the default campaign (~480 final reads) is larger than the reference
gateway's per-user token bucket (200): this is the run that once reported hundreds of commands
"stuck" that were never stuck (issue 18), and that a shorter campaign could not show.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.campaign import CampaignConfig, run_campaign
from harness.settings import HarnessSettings
from harness.stack.state import StackState

DEFAULTS = CampaignConfig()
# Under reports/, where `make test`'s report index (reports/index.html) links it.
OUT = Path(__file__).resolve().parents[2] / "reports" / "campaign-test"


async def test_default_campaign_is_valid(
    stack: StackState, harness_settings: HarnessSettings
) -> None:
    if stack.target != "local" or "toxiproxy" not in stack.endpoints:
        pytest.skip("campaigns inject faults into the local stack (with Toxiproxy)")
    config = CampaignConfig(
        duration_s=harness_settings.campaign_s or DEFAULTS.duration_s,
        seed=DEFAULTS.seed
        if harness_settings.campaign_seed is None
        else harness_settings.campaign_seed,
        out_dir=OUT,
    )
    result = await run_campaign(harness_settings, config, progress=lambda _m: None)
    injected = [w for w in result.windows if w.injected_at is not None]
    assert injected, "the campaign should have injected at least one fault"
    failed = [w.to_json() for w in result.windows if w.error]
    assert not failed, f"faults that could not be injected or healed: {failed}"
    assert result.verdict.status == "VALID", (
        f"campaign verdict:\n{result.verdict}\nread-back: {result.readback}\n"
        f"report: {result.report_html}"
    )
    accepted = result.verdict.counts["accepted"]
    assert result.readback["commands"] == accepted > 0, (result.readback, result.verdict.counts)
    assert result.report_html.exists() and result.report_json.exists()
    # The broker-level checks ran (their anomalies are in the verdict above): not vacuous.
    assert result.broker.get("checked"), f"the broker checks did not run: {result.broker}"
    assert result.broker["counts"]["messages"] >= accepted, result.broker["counts"]
