"""The nemesis's schedule: reproducible, never overlapping, quiet at the end; on a NATS cluster
the nodes stand in for "nats" and the node kinds aim at them (the leader named at injection)."""

from __future__ import annotations

import itertools

import pytest

from harness.errors import HarnessError
from harness.nemesis import LEADER, NODE_KINDS, schedule

NODES = ("nats-1", "nats-2", "nats-3")
LINKS = ("runner->nats-1", "nats-1->nats-2", "archive->postgres")


def test_the_same_seed_gives_the_same_faults() -> None:
    a = schedule(7, 300, ("kill", "pause", "partition"), LINKS)
    assert a == schedule(7, 300, ("kill", "pause", "partition"), LINKS)
    assert a != schedule(8, 300, ("kill", "pause", "partition"), LINKS)


def test_faults_never_overlap_and_the_end_is_quiet() -> None:
    faults = schedule(3, 600, ("kill", "outage", "latency"), LINKS)
    assert len(faults) > 10
    for before, after in itertools.pairwise(faults):
        assert before.at + before.duration < after.at, (before, after)
    assert faults[-1].at + faults[-1].duration <= 600 * 0.9


def test_node_kinds_need_a_cluster() -> None:
    with pytest.raises(HarnessError, match="need a NATS cluster"):
        schedule(1, 120, ("kill", "nats-partition"), LINKS)


def test_on_a_cluster_the_nodes_stand_in_for_nats() -> None:
    faults = schedule(5, 900, ("kill", "outage", *NODE_KINDS), LINKS, nodes=NODES)
    targets = {f.target for f in faults}
    assert "nats" not in targets, "a cluster has no process named nats"
    assert {f.kind for f in faults} == {"kill", "outage", *NODE_KINDS}
    for f in faults:
        if f.kind == "nats-leader-kill":
            assert f.target == LEADER
        elif f.kind in NODE_KINDS:
            assert f.target in NODES, f
    assert targets & set(NODES), "plain kills and outages reach the nodes too"


def test_unknown_kinds_are_refused_by_name() -> None:
    with pytest.raises(HarnessError, match="unknown fault kinds \\['nats-explode'\\]"):
        schedule(1, 120, ("nats-explode",), LINKS)
