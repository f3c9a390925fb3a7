"""The NetworkPolicy evaluator follows the Kubernetes semantics the policy checks rely on."""

from __future__ import annotations

from typing import Any

from harness.k8s.netpol import Endpoint, allows, namespace_endpoint, open_rules

NS_LABELS = {"kubernetes.io/metadata.name": "altlas"}
WEB = Endpoint({"app": "web"}, "altlas", NS_LABELS, {"http": 8080})
DB = Endpoint({"app": "db"}, "altlas", NS_LABELS, {"pg": 5432})


def policy(name: str, selector: dict[str, Any], types: list[str], **rules: Any) -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "altlas"},
        "spec": {"podSelector": selector, "policyTypes": types, **rules},
    }


DENY = policy("deny", {}, ["Ingress", "Egress"])


def test_unselected_pods_are_open() -> None:
    assert allows([], WEB, DB, 5432, "Egress")


def test_default_deny_closes_both_directions() -> None:
    assert not allows([DENY], WEB, DB, 5432, "Egress")
    assert not allows([DENY], DB, WEB, 5432, "Ingress")


def test_a_rule_opens_only_its_peer_and_port() -> None:
    allow = policy(
        "web",
        {"matchLabels": {"app": "web"}},
        ["Egress"],
        egress=[
            {"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]}
        ],
    )
    assert allows([DENY, allow], WEB, DB, 5432, "Egress")
    assert not allows([DENY, allow], WEB, DB, 5433, "Egress")
    assert not allows([DENY, allow], WEB, WEB, 5432, "Egress")


def test_named_ports_resolve_on_the_destination() -> None:
    allow = policy(
        "db",
        {"matchLabels": {"app": "db"}},
        ["Ingress"],
        ingress=[{"ports": [{"port": "pg"}], "from": [{"podSelector": {}}]}],
    )
    assert allows([DENY, allow], DB, WEB, 5432, "Ingress")


def test_pod_selector_alone_means_this_namespace() -> None:
    allow = policy(
        "db", {"matchLabels": {"app": "db"}}, ["Ingress"], ingress=[{"from": [{"podSelector": {}}]}]
    )
    elsewhere = namespace_endpoint("other", {"app": "web"})
    assert allows([DENY, allow], DB, WEB, 5432, "Ingress")
    assert not allows([DENY, allow], DB, elsewhere, 5432, "Ingress")


def test_namespace_and_pod_selector_together_are_an_and() -> None:
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    allow = policy(
        "dns",
        {},
        ["Egress"],
        egress=[{"to": [peer], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]}],
    )
    assert allows(
        [DENY, allow], WEB, namespace_endpoint("kube-system", {"k8s-app": "kube-dns"}), 53, "Egress"
    )
    assert not allows(
        [DENY, allow], WEB, namespace_endpoint("kube-system", {"k8s-app": "other"}), 53, "Egress"
    )


def test_rules_without_peers_are_reported_as_open() -> None:
    allow = policy(
        "web", {"matchLabels": {"app": "web"}}, ["Ingress"], ingress=[{"ports": [{"port": 8080}]}]
    )
    assert open_rules([allow]) == ["NetworkPolicy/web ingress[0]"]
