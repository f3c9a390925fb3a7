"""harness.faults.targets: one place picks a target's fault primitives."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.faults import container, network, process
from harness.faults.targets import for_target


def test_local_faults_are_processes_with_links_through_toxiproxy() -> None:
    faults = for_target("local")
    assert faults.kill is process.kill and faults.start is process.start
    assert faults.pause is process.pause and faults.heal_all is process.heal_all
    assert (faults.partition, faults.unpartition) == (network.partition, network.heal)
    assert faults.latency


def test_docker_faults_are_containers_and_a_partition_takes_one_off_its_network() -> None:
    faults = for_target("docker")
    assert faults.kill is container.kill and faults.stop is container.stop
    assert faults.heal_all is container.heal_all
    assert (faults.partition, faults.unpartition) == (container.disconnect, container.reconnect)
    assert not faults.latency


@pytest.mark.parametrize("target", ["kind", "k8s-local", "nope"])
def test_a_target_without_primitives_says_where_its_faults_are(target: str) -> None:
    with pytest.raises(HarnessError, match="chaos/kubernetes"):
        for_target(target)
