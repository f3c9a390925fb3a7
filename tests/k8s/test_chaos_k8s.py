"""harness.chaos.k8s against a fake Kubernetes API built from the client's own models: the
NetworkPolicy cut and its restore round-trip, the drain retries what a disruption budget
refuses, and a rollout is complete only when every replica is updated and ready."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.chaos import k8s

RUNNER_POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "runner", "namespace": "altlas"},
    "spec": {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "runner"}},
        "policyTypes": ["Ingress", "Egress"],
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}],
                "ports": [{"port": 4222, "protocol": "TCP"}],
            },
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}}}],
                "ports": [{"port": 5432, "protocol": "TCP"}],
            },
        ],
    },
}


class FakeNetworking:
    """read / patch (merge of metadata.annotations, spec replaced) / replace, like the API."""

    stored: ClassVar[dict[str, Any]] = {}

    def __init__(self, _api: object) -> None:
        pass

    def read_namespaced_network_policy(self, name: str, ns: str) -> client.V1NetworkPolicy:
        return client.V1NetworkPolicy.from_dict(copy.deepcopy(self.stored[name]))

    def patch_namespaced_network_policy(self, name: str, ns: str, body: dict[str, Any]) -> None:
        obj = self.stored[name]
        obj["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
        obj["spec"] = copy.deepcopy(body["spec"])

    def replace_namespaced_network_policy(
        self, name: str, ns: str, body: client.V1NetworkPolicy
    ) -> None:
        self.stored[name] = client.ApiClient().sanitize_for_serialization(body)


@pytest.fixture
def networking(monkeypatch: pytest.MonkeyPatch) -> type[FakeNetworking]:
    FakeNetworking.stored = {"runner": copy.deepcopy(RUNNER_POLICY)}
    monkeypatch.setattr(k8s, "_api", lambda: None)
    monkeypatch.setattr(client, "NetworkingV1Api", FakeNetworking)
    return FakeNetworking


def test_deny_egress_then_restore_round_trips(networking: type[FakeNetworking]) -> None:
    k8s.deny_egress("runner", "nats")
    cut = networking.stored["runner"]
    assert [
        r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for r in cut["spec"]["egress"]
    ] == ["postgres"]
    assert k8s.ORIGINAL in cut["metadata"]["annotations"]
    k8s.restore_network_policy("runner")
    restored = networking.stored["runner"]
    assert restored["spec"] == RUNNER_POLICY["spec"]
    assert k8s.ORIGINAL not in (restored["metadata"].get("annotations") or {})
    assert k8s.restore_network_policy("runner") == "NetworkPolicy runner was not modified"


def test_deny_egress_refuses_twice_and_refuses_a_no_op(networking: type[FakeNetworking]) -> None:
    k8s.deny_egress("runner", "nats")
    with pytest.raises(ActivityFailed, match="already modified"):
        k8s.deny_egress("runner", "nats")
    k8s.restore_network_policy("runner")
    with pytest.raises(ActivityFailed, match="no egress rule to opensearch"):
        k8s.deny_egress("runner", "opensearch")


def pod(name: str, uid: str, owner: str = "ReplicaSet") -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name,
            namespace="altlas",
            uid=uid,
            owner_references=[
                client.V1OwnerReference(api_version="apps/v1", kind=owner, name="x", uid="o")
            ],
        ),
        status=client.V1PodStatus(phase="Running"),
    )


class FakeCore:
    """One node with three pods; gateway-b is refused once (429, its budget), a DaemonSet pod
    is never evicted; an evicted pod is gone at the next read."""

    def __init__(self, _api: object) -> None:
        self.cordoned: list[str] = []
        self.evictions: list[str] = []
        self.refusals = {"gateway-b": 1}
        self.pods = {
            "gateway-b": pod("gateway-b", "1"),
            "nats-1": pod("nats-1", "2", "StatefulSet"),
            "kindnet-x": pod("kindnet-x", "3", "DaemonSet"),
        }
        FakeCore.last = self

    last: FakeCore

    def list_node(self, label_selector: str) -> client.V1NodeList:
        names = ["altlas-worker2"] if label_selector == "topology.kubernetes.io/zone=zone-b" else []
        return client.V1NodeList(
            items=[client.V1Node(metadata=client.V1ObjectMeta(name=n)) for n in names]
        )

    def patch_node(self, name: str, body: dict[str, Any]) -> None:
        assert body == {"spec": {"unschedulable": True}}
        self.cordoned.append(name)

    def list_pod_for_all_namespaces(self, field_selector: str) -> client.V1PodList:
        assert field_selector == "spec.nodeName=altlas-worker2"
        return client.V1PodList(items=list(self.pods.values()))

    def create_namespaced_pod_eviction(self, name: str, ns: str, body: client.V1Eviction) -> None:
        assert name != "kindnet-x", "a DaemonSet pod was evicted"
        if self.refusals.get(name):
            self.refusals[name] -= 1
            raise ApiException(status=429, reason="Too Many Requests")
        self.evictions.append(name)
        self.pods.pop(name, None)

    def read_namespaced_pod(self, name: str, ns: str) -> client.V1Pod:
        if name not in self.pods:
            raise ApiException(status=404, reason="Not Found")
        return self.pods[name]


def test_drain_retries_what_a_budget_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s, "_api", lambda: None)
    monkeypatch.setattr(client, "CoreV1Api", FakeCore)
    assert k8s.drain_node("topology.kubernetes.io/zone=zone-b", timeout_s=20) == {
        "nodes": ["altlas-worker2"],
        "evicted": ["altlas/gateway-b", "altlas/nats-1"],
        "refusals": {"altlas/gateway-b": 1},
    }
    core = FakeCore.last
    assert core.cordoned == ["altlas-worker2"]
    assert sorted(core.evictions) == ["gateway-b", "nats-1"]
    assert "kindnet-x" in core.pods


def test_drain_of_no_node_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s, "_api", lambda: None)
    monkeypatch.setattr(client, "CoreV1Api", FakeCore)
    with pytest.raises(ActivityFailed, match="no node matches"):
        k8s.drain_node("topology.kubernetes.io/zone=zone-x", timeout_s=1)


class FakeApps:
    """A Deployment whose status catches up with its spec one read at a time."""

    statuses: ClassVar[list[dict[str, int]]] = []

    def __init__(self, _api: object) -> None:
        pass

    def read_namespaced_deployment_status(self, name: str, ns: str) -> client.V1Deployment:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return client.V1Deployment(
            metadata=client.V1ObjectMeta(name=name, generation=2),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels={"a": "b"}),
                template=client.V1PodTemplateSpec(),
            ),
            status=client.V1DeploymentStatus(**status),
        )


def ready_pod(name: str, *, ready: bool = True, terminating: bool = False) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name, deletion_timestamp=datetime.now(UTC) if terminating else None
        ),
        status=client.V1PodStatus(
            conditions=[client.V1PodCondition(type="Ready", status="True" if ready else "False")]
        ),
    )


class FakePods:
    """The pods a label selector finds, one list per read (the last one repeats)."""

    lists: ClassVar[list[list[client.V1Pod]]] = []
    selectors: ClassVar[list[str]] = []

    def __init__(self, _api: object) -> None:
        pass

    def list_namespaced_pod(self, ns: str, label_selector: str) -> client.V1PodList:
        self.selectors.append(label_selector)
        items = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        return client.V1PodList(items=items)


def test_rollout_complete_waits_for_every_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s, "_api", lambda: None)
    monkeypatch.setattr(client, "AppsV1Api", FakeApps)
    monkeypatch.setattr(client, "CoreV1Api", FakePods)
    FakePods.lists = [[ready_pod("a"), ready_pod("b")]]
    FakeApps.statuses = [
        {"observed_generation": 1, "updated_replicas": 2, "ready_replicas": 2},
        {"observed_generation": 2, "updated_replicas": 1, "ready_replicas": 2},
        {"observed_generation": 2, "updated_replicas": 2, "ready_replicas": 2},
    ]
    assert k8s.rollout_complete("runner", timeout_s=10) is True
    assert FakePods.selectors[-1] == "a=b"
    FakeApps.statuses = [{"observed_generation": 2, "updated_replicas": 2, "ready_replicas": 1}]
    with pytest.raises(ActivityFailed, match="the rollout of deployment/runner"):
        k8s.rollout_complete("runner", timeout_s=0.5)


def test_rollout_is_not_complete_while_deleted_pods_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Just after terminate_pods the status still says 2 ready: the pods tell the truth."""
    monkeypatch.setattr(k8s, "_api", lambda: None)
    monkeypatch.setattr(client, "AppsV1Api", FakeApps)
    monkeypatch.setattr(client, "CoreV1Api", FakePods)
    FakeApps.statuses = [{"observed_generation": 2, "updated_replicas": 2, "ready_replicas": 2}]
    FakePods.lists = [
        [ready_pod("a", terminating=True), ready_pod("b", terminating=True)],
        [
            ready_pod("a", terminating=True),
            ready_pod("c", ready=False),
            ready_pod("d", ready=False),
        ],
        [ready_pod("c"), ready_pod("d", ready=False)],
        [ready_pod("c"), ready_pod("d")],
    ]
    assert k8s.rollout_complete("runner", timeout_s=10) is True
    assert FakePods.lists == [[ready_pod("c"), ready_pod("d")]], "returned before the last list"
    FakePods.lists = [[ready_pod("c"), ready_pod("d", terminating=True)]]
    with pytest.raises(ActivityFailed):
        k8s.rollout_complete("runner", timeout_s=0.5)


def runner_pod(name: str, ready: bool) -> client.V1Pod:
    condition = client.V1PodCondition(type="Ready", status="True" if ready else "False")
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace="altlas", uid=name),
        status=client.V1PodStatus(phase="Running", conditions=[condition]),
    )


class FakeExecCore:
    """Runner pods and what a connection from each to NATS gives (None: exec not possible)."""

    pods: ClassVar[list[client.V1Pod]] = []

    def __init__(self, _api: object) -> None:
        pass

    def list_namespaced_pod(self, ns: str, label_selector: str) -> client.V1PodList:
        assert (ns, label_selector) == ("altlas", "app.kubernetes.io/name=runner")
        return client.V1PodList(items=list(self.pods))


@pytest.mark.parametrize(
    ("pods", "outcomes", "expected"),
    [
        # Refused from both (one first not yet exec-able): the deny holds.
        (
            [runner_pod("runner-a", False), runner_pod("runner-b", False)],
            {"runner-a": ["ConnectionRefusedError"], "runner-b": [None, "TimeoutError"]},
            "runner-a→nats:4222: ConnectionRefusedError; runner-b→nats:4222: TimeoutError",
        ),
        # One connects: the policy was not enforced.
        (
            [runner_pod("runner-a", False)],
            {"runner-a": ["connected"]},
            "runner-a connected to nats:4222 although it is denied",
        ),
        # One is ready: its readiness needs NATS, so it got there.
        (
            [runner_pod("runner-a", True)],
            {"runner-a": ["ConnectionRefusedError"]},
            "runner-a ready while its egress to nats is denied",
        ),
    ],
    ids=["denied", "connected", "ready"],
)
def test_egress_denied_fails_when_the_deny_did_not_take(
    monkeypatch: pytest.MonkeyPatch,
    pods: list[client.V1Pod],
    outcomes: dict[str, list[str | None]],
    expected: str,
) -> None:
    monkeypatch.setattr(k8s, "_api", lambda: None)
    monkeypatch.setattr(client, "CoreV1Api", FakeExecCore)
    monkeypatch.setattr(FakeExecCore, "pods", pods)
    answers = {name: iter(seq) for name, seq in outcomes.items()}

    def _connect(_core: object, pod: str, ns: str, host: str, port: int) -> str | None:
        assert (ns, host, port) == ("altlas", "nats", 4222)
        return next(answers[pod])

    monkeypatch.setattr(k8s, "_connect_from", _connect)
    if expected.startswith("runner-a→"):
        assert k8s.egress_denied("runner", "nats", 4222, timeout_s=10) == expected
    else:
        with pytest.raises(ActivityFailed, match=expected):
            k8s.egress_denied("runner", "nats", 4222, timeout_s=10)
