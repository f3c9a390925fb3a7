"""What the NetworkPolicies of a render allow: a small evaluator of the Kubernetes semantics.

A pod selected by no policy of a direction is open in that direction; once any policy selects
it, only what some rule of those policies allows gets through. Peers are pods (this namespace,
or namespaces picked by labels); ipBlock peers never match a pod (they describe addresses
outside the cluster's pods), which keeps the evaluation on the safe side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.k8s.objects import Manifest, find, matches, name_of, resolve_port

Direction = Literal["Ingress", "Egress"]


@dataclass(frozen=True)
class Endpoint:
    """A pod (its labels) in a namespace (its labels), with its named container ports."""

    labels: Mapping[str, str]
    namespace: str
    namespace_labels: Mapping[str, str]
    ports: Mapping[str, int]


def namespace_endpoint(namespace: str, pod_labels: Mapping[str, str]) -> Endpoint:
    """A pod of another namespace (an ingress controller, Prometheus, CoreDNS)."""
    return Endpoint(pod_labels, namespace, {"kubernetes.io/metadata.name": namespace}, {})


def policy_types(policy: Manifest) -> set[str]:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return set(types)
    # The API's default: Ingress always, Egress when egress rules are given.
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def selecting(policies: Sequence[Manifest], pod: Endpoint, direction: Direction) -> list[Manifest]:
    return [
        p
        for p in policies
        if (p.get("metadata") or {}).get("namespace", pod.namespace) == pod.namespace
        and matches((p.get("spec") or {}).get("podSelector", {}), pod.labels)
        and direction in policy_types(p)
    ]


def _peer_matches(peer: Mapping[str, Any], policy_ns: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        return False
    ns_selector = peer.get("namespaceSelector")
    pod_selector = peer.get("podSelector")
    if ns_selector is None:
        in_namespace = other.namespace == policy_ns
    else:
        in_namespace = matches(ns_selector, other.namespace_labels)
    if not in_namespace:
        return False
    return pod_selector is None or matches(pod_selector, other.labels)


def _port_matches(
    rule_ports: Sequence[Mapping[str, Any]] | None, port: int, dest: Endpoint
) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != "TCP":
            continue
        if "port" not in p:
            return True
        number = resolve_port(p["port"], dest.ports)
        end = p.get("endPort", number)
        if number is not None and number <= port <= int(end or number):
            return True
    return False


def allows(
    policies: Sequence[Manifest], pod: Endpoint, peer: Endpoint, port: int, direction: Direction
) -> bool:
    """Does traffic pass `pod`'s side of the policies? Ingress: from `peer` to `pod`:port.
    Egress: from `pod` to `peer`:port."""
    chosen = selecting(policies, pod, direction)
    if not chosen:
        return True
    key = "ingress" if direction == "Ingress" else "egress"
    peers_key = "from" if direction == "Ingress" else "to"
    dest = pod if direction == "Ingress" else peer
    for policy in chosen:
        ns = (policy.get("metadata") or {}).get("namespace", pod.namespace)
        for rule in (policy.get("spec") or {}).get(key) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(p, ns, peer) for p in peers):
                continue
            if _port_matches(rule.get("ports"), port, dest):
                return True
    return False


def connection_allowed(
    policies: Sequence[Manifest], source: Endpoint, dest: Endpoint, port: int
) -> tuple[bool, bool]:
    """(egress allowed at the source, ingress allowed at the destination)."""
    return (
        allows(policies, source, dest, port, "Egress"),
        allows(policies, dest, source, port, "Ingress"),
    )


def open_rules(policies: Sequence[Manifest]) -> list[str]:
    """Rules that allow any peer at all (no `from`/`to`): an allow-all hidden in a policy."""
    found = []
    for p in policies:
        spec = p.get("spec") or {}
        for key, peers_key in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(spec.get(key) or []):
                if not rule.get(peers_key):
                    found.append(f"NetworkPolicy/{name_of(p)} {key}[{i}]")
    return found


def network_policies(objects: Sequence[Manifest]) -> list[Manifest]:
    return find(objects, "NetworkPolicy")
