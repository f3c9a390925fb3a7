"""Fixtures of the Kubernetes manifest tests: every render, built once per session."""

from __future__ import annotations

import pytest

from harness.k8s import policy, render
from reference_services.archive.settings import ArchiveSettings
from reference_services.gateway.settings import GatewaySettings
from reference_services.runner.settings import RunnerSettings
from reference_services.segmentation.settings import SegmentationSettings


@pytest.fixture(scope="session")
def renders() -> dict[str, render.Rendered]:
    """Every overlay and component combination, by name (kustomize must be installed:
    `make kustomize`; a missing binary fails here with that instruction)."""
    try:
        return {r.name: r for r in render.render_all()}
    except render.RenderError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def settings_specs() -> dict[str, policy.SettingsSpec]:
    """What each service's settings class accepts and requires, as the policies take it."""
    classes = {
        "gateway": GatewaySettings,
        "segmentation": SegmentationSettings,
        "runner": RunnerSettings,
        "archive": ArchiveSettings,
    }
    return {
        name: policy.SettingsSpec(
            fields=frozenset(cls.model_fields),
            required=frozenset(n for n, f in cls.model_fields.items() if f.is_required()),
            one_of=getattr(cls, "REQUIRED_ONE_OF", ()),
        )
        for name, cls in classes.items()
    }
