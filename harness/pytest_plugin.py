"""pytest plugin: the `stack` fixture, a gateway client, Hypothesis profiles, folder markers.

`stack` attaches to a deployment when one is described (HARNESS_GATEWAY_URL, or a state file
from `harness up`), and otherwise starts the local stack once for the session and stops it after.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from harness.clients.gateway import GatewayClient
from harness.settings import HarnessSettings
from harness.stack.health import check_stack
from harness.stack.state import StackState, external_state, load_state
from harness.stack.targets import target

# The longest matching folder wins, so every test gets its markers from where it lives.
FOLDER_MARKERS = {
    "tests/infra": ("infra", "slow"),
    "tests": ("unit",),
    "scenarios/e2e": ("e2e", "stack"),
    "scenarios/data": ("data", "stack"),
    "scenarios/properties": ("property", "stack"),
    "scenarios/resilience": ("resilience", "stack", "slow"),
    "scenarios/chaos": ("chaos", "slow"),
    "scenarios/fuzz": ("fuzz", "stack"),
    "scenarios/security": ("security", "stack"),
    "contracts": ("contract",),
    "scenarios/docker": ("docker", "stack", "slow"),
    "scenarios/load": ("load", "stack", "slow"),
    "scenarios/k8s_local": ("k8s_local", "stack", "slow"),
    "scenarios/cluster": ("nats_cluster", "stack", "slow"),
}


def _register_hypothesis_profiles() -> None:
    try:
        from hypothesis import HealthCheck, Phase, Verbosity, settings
    except ImportError:
        return
    settings.register_profile("dev", max_examples=50, deadline=None)
    settings.register_profile(
        "ci",
        max_examples=200,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("debug", max_examples=10, deadline=None, verbosity=Verbosity.verbose)
    # `make mutation`: the same examples for every mutant (a verdict must not depend on luck),
    # no example database (it would carry one mutant's failures over to the next), and no
    # shrinking: any failure kills the mutant, a minimal one is not worth the time.
    settings.register_profile(
        "mutation",
        max_examples=50,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


_register_hypothesis_profiles()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        rel = Path(str(item.path)).resolve().relative_to(root).as_posix()
        matches = [f for f in FOLDER_MARKERS if rel.startswith(f + "/")]
        if matches:
            for marker in FOLDER_MARKERS[max(matches, key=len)]:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def harness_settings() -> HarnessSettings:
    return HarnessSettings()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(harness_settings: HarnessSettings) -> AsyncIterator[StackState]:
    """The deployment under test; the local stack is started here only when none is described."""
    external = external_state(harness_settings)
    if external is not None:
        yield external
        return
    if harness_settings.state_file.exists():
        state = load_state(harness_settings)
        unhealthy = [h for h in await check_stack(state) if not h.healthy]
        if unhealthy:
            pytest.fail(
                f"the stack in {harness_settings.state_file} is not healthy: "
                + "; ".join(f"{h.name}: {h.detail}" for h in unhealthy)
                + " — run `make down` and try again"
            )
        yield state
        return
    started = target(harness_settings.target)
    state = await started.up(harness_settings)
    try:
        yield state
    finally:
        # Re-read the state file: fault tests restart components, which gives them new pids.
        await started.down(harness_settings, load_state(harness_settings))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gateway(stack: StackState) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(stack.endpoints["gateway"], stack.credentials) as client:
        yield client
