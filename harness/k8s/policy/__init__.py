"""Policies every render of the manifests is held to. Each check takes the rendered objects and
returns its violations, each saying what was expected and what was found; an empty list passes.

tests/k8s runs every check over every overlay and component combination, and feeds each check a
deliberately broken object to see it fail. `settings_and_ports` also takes what the services'
settings classes accept (the harness never imports the services: the tests pass it in).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.k8s.objects import SERVICE_PORT, SERVICE_UID, Manifest
from harness.k8s.policy.availability import (
    autoscaling,
    database_connections,
    disruption_budgets,
    graceful_termination,
    jetstream_storage,
    opensearch_heap,
    topology_spread,
)
from harness.k8s.policy.config import SettingsSpec, inline_secrets, references, settings_and_ports
from harness.k8s.policy.network import exposure, network_policies, service_links
from harness.k8s.policy.pods import image_tags, probes, resources, security

__all__ = [
    "POLICIES",
    "SERVICE_PORT",
    "SERVICE_UID",
    "Check",
    "SettingsSpec",
    "service_links",
    "settings_and_ports",
]

Check = Callable[[Sequence[Manifest]], list[str]]

POLICIES: dict[str, Check] = {
    "probes": probes,
    "resources": resources,
    "security": security,
    "image_tags": image_tags,
    "autoscaling": autoscaling,
    "database_connections": database_connections,
    "disruption_budgets": disruption_budgets,
    "topology_spread": topology_spread,
    "graceful_termination": graceful_termination,
    "jetstream_storage": jetstream_storage,
    "opensearch_heap": opensearch_heap,
    "exposure": exposure,
    "network_policies": network_policies,
    "inline_secrets": inline_secrets,
    "references": references,
}
