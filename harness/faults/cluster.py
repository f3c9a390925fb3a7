"""Node-level faults of the local stack's JetStream cluster (`harness up --nats-cluster 3`).

The nodes are processes named `nats-1` … `nats-N`; every route between two of them runs through
a Toxiproxy link of its own (`nats-1->nats-2`, …). A node is **partitioned** by cutting every
route link to or from it: the other nodes lose it (and, if it led, elect another leader), while
the clients connected to it keep their connection (the nastier case: they talk to a node that
cannot reach a quorum). The **leader** is the events stream's, as `$JS.API.STREAM.INFO` names it.
"""

from __future__ import annotations

import json

from harness.errors import HarnessError
from harness.faults import network
from harness.settings import HarnessSettings
from harness.stack.state import StackState, load_state, nats_access

EVENTS = "ALTLAS"


def nodes(state: StackState) -> list[str]:
    """The cluster's node names; empty on a single-server stack."""
    return sorted(n for n in state.processes if n.startswith("nats-"))


def route_links(settings: HarnessSettings, node: str) -> list[str]:
    """The route links to and from `node` (both ends are cluster nodes)."""
    found = []
    for link in network.links(settings):
        ends = link.split("->")
        if len(ends) == 2 and all(e.startswith("nats-") for e in ends) and node in ends:
            found.append(link)
    if not found:
        raise HarnessError(f"no route links of {node!r}: is the stack a NATS cluster?")
    return found


async def partition_node(settings: HarnessSettings, node: str) -> None:
    """Cut `node` off from every other node. Heal with `heal_node`."""
    for link in route_links(settings, node):
        await network.partition(settings, link)


async def heal_node(settings: HarnessSettings, node: str) -> None:
    for link in route_links(settings, node):
        await network.heal(settings, link)


async def stream_leader(settings: HarnessSettings, stream: str = EVENTS) -> str:
    """The node that leads `stream` now."""
    nc = await nats_access(load_state(settings)).connect(
        connect_timeout=3, max_reconnect_attempts=1
    )
    try:
        reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=5)
    finally:
        await nc.close()
    info = json.loads(reply.data)
    leader = (info.get("cluster") or {}).get("leader")
    if not leader:
        raise HarnessError(f"stream {stream} has no leader now: {info.get('error', info)}")
    return str(leader)
