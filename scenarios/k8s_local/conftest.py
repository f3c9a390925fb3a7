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
    return LocalCluster.of_state_dir(harness_settings.state_dir)


@pytest.fixture(scope="session")
def api_client(cluster: LocalCluster) -> Iterator[Any]:
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def core(api_client: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client: Any) -> Any:
    from kubernetes import client

    return client.AppsV1Api(api_client)
