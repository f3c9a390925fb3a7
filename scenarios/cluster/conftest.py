"""The JetStream cluster suite runs on a local stack whose NATS is a cluster (HARNESS_NATS_CLUSTER
=3, `make test-cluster`); anywhere else it skips and says how to run it."""

from __future__ import annotations

import pytest

from harness.stack.state import StackState


@pytest.fixture(scope="session")
def cluster_stack(stack: StackState) -> StackState:
    nodes = sorted(n for n in stack.processes if n.startswith("nats-"))
    if stack.target != "local" or len(nodes) < 3:
        pytest.skip(
            "these tests need the local stack with a 3-node NATS cluster:"
            " `make test-cluster` (HARNESS_NATS_CLUSTER=3, its own HARNESS_STATE_DIR)"
        )
    if "toxiproxy" not in stack.endpoints:
        pytest.skip("node partitions cut route links through Toxiproxy: `make toxiproxy`")
    return stack
