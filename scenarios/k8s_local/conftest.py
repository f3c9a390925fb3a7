"""Fixtures of the k8s-local suite: the cluster's kubeconfig and a Kubernetes API client.

Every test here needs the `k8s-local` target (`make k8s-local-test` runs them on it); on any
other target they skip, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.k8s.localcluster import LocalCluster
from harness.settings import HarnessSettings
from harness.stack.state import StackState

NAMESPACE = "altlas"


@pytest.fixture(scope="session")
def cluster(stack: StackState, harness_settings: HarnessSettings) -> LocalCluster:
    if stack.target != "k8s-local":
        pytest.skip(f"needs the k8s-local target (make k8s-local-test), not {stack.target!r}")
    return LocalCluster(harness_settings.state_dir.resolve() / "k8s-local")


@pytest.fixture(scope="session")
def core(cluster: LocalCluster) -> Iterator[Any]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield client.CoreV1Api(api)
    finally:
        api.close()


@pytest.fixture(scope="session")
def apps(cluster: LocalCluster) -> Iterator[Any]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield client.AppsV1Api(api)
    finally:
        api.close()
