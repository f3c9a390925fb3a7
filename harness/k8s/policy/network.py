"""Who can reach what: only the gateway from outside, and NetworkPolicies that allow exactly the
links the services use (read from their ALTLAS_*_URL and ALTLAS_*_URLS settings) and the data
stores' own."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.k8s import netpol
from harness.k8s.objects import (
    SERVICE_PORT,
    Manifest,
    Workload,
    container_env,
    find,
    find_one,
    matches,
    name_of,
    ref,
    resolve_port,
    selects,
    service_workloads,
    workloads,
)

INGRESS_NAMESPACE = "ingress-nginx"
# Container ports the replicas of a data store use among themselves (NATS routes, OpenSearch
# transport): a cluster that cannot talk to itself loses its quorum.
PEER_PORTS = ("cluster", "transport")


def exposure(objects: Sequence[Manifest]) -> list[str]:
    """Only the gateway is reachable from outside: every Ingress path leads to the gateway
    Service, no other Service is a NodePort or LoadBalancer, and no container binds a host port."""
    found = []
    for ing in find(objects, "Ingress"):
        spec = ing.get("spec") or {}
        backends = (
            [((spec.get("defaultBackend") or {}).get("service") or {}).get("name")]
            if spec.get("defaultBackend")
            else []
        )
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backends.append(((path.get("backend") or {}).get("service") or {}).get("name"))
        for b in backends:
            if b != "gateway":
                found.append(
                    f"{ref(ing)}: expected every backend to be the gateway Service, found {b!r}"
                )
    for svc in find(objects, "Service"):
        kind = (svc.get("spec") or {}).get("type", "ClusterIP")
        if kind in ("NodePort", "LoadBalancer") and name_of(svc) != "gateway":
            found.append(
                f"{ref(svc)}: expected ClusterIP (only the gateway is exposed), found {kind}"
            )
    for w in workloads(objects):
        for c in w.all_containers():
            for p in c.get("ports") or []:
                if p.get("hostPort"):
                    found.append(
                        f"{w.ref} container {c.get('name')}: expected no hostPort"
                        f", found {p['hostPort']}"
                    )
    return found


def _namespace(objects: Sequence[Manifest]) -> tuple[str, dict[str, str]]:
    ns = find(objects, "Namespace")
    name = name_of(ns[0]) if ns else "default"
    labels = dict(((ns[0].get("metadata") or {}).get("labels") or {}) if ns else {})
    labels["kubernetes.io/metadata.name"] = name
    return name, labels


def _endpoint(w: Workload, ns: str, ns_labels: Mapping[str, str]) -> netpol.Endpoint:
    return netpol.Endpoint(w.labels, ns, ns_labels, w.container_ports())


@dataclass(frozen=True)
class Link:
    """A connection a service makes, read from one of its ALTLAS_*_URL settings."""

    source: Workload
    setting: str
    url: str
    service: Manifest | None
    targets: list[Workload] = field(default_factory=list)
    port: int | None = None


def _urls(name: str, value: str) -> list[tuple[str, str]]:
    """The URLs one setting names: an ALTLAS_*_URL is one; an ALTLAS_*_URLS is a JSON object of
    name -> URL (the gateway's portal documents), each entry its own link."""
    if name.endswith("_URL"):
        return [(name, value)]
    try:
        entries = json.loads(value)
    except ValueError:
        return [(name, value)]
    if not isinstance(entries, dict):
        return [(name, value)]
    return [(f"{name}[{key}]", str(url)) for key, url in entries.items()]


def service_links(objects: Sequence[Manifest]) -> list[Link]:
    """Every ALTLAS_*_URL (and each entry of an ALTLAS_*_URLS object) of the services, resolved
    to the Service it names, that Service's pods and the container port its port leads to."""
    links = []
    for w in service_workloads(objects):
        c = w.container(w.name)
        if c is None:
            continue
        for env_name, env_value in container_env(c, objects).items():
            if not env_name.startswith("ALTLAS_") or not env_value.value:
                continue
            if not env_name.endswith(("_URL", "_URLS")):
                continue
            for name, url in _urls(env_name, env_value.value):
                links.append(_link(objects, w, name, url))
    return links


def _link(objects: Sequence[Manifest], w: Workload, name: str, url: str) -> Link:
    parts = urlsplit(url)
    host = (parts.hostname or "").split(".")[0]
    svc = find_one(objects, "Service", host)
    if svc is None:
        return Link(w, name, url, None)
    svc_port = next(
        (p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == parts.port),
        None,
    )
    selector = (svc.get("spec") or {}).get("selector")
    targets = [t for t in workloads(objects) if selects(selector, t.labels)]
    port = None
    if svc_port is not None and targets:
        port = resolve_port(
            svc_port.get("targetPort", svc_port["port"]), targets[0].container_ports()
        )
    return Link(w, name, url, svc, targets, port)


def network_policies(objects: Sequence[Manifest]) -> list[str]:
    """Default deny in both directions for every pod; every link a service uses (its
    ALTLAS_*_URL settings) allowed at both ends; the data stores' own cluster traffic (their
    ports named in PEER_PORTS) allowed between their pods; DNS allowed; the ingress controller
    reaches the gateway; no rule allows any peer at all; every pod has an allow policy of its
    own."""
    found = []
    policies = netpol.network_policies(objects)
    ns, ns_labels = _namespace(objects)
    default_deny = [
        p
        for p in policies
        if (p.get("spec") or {}).get("podSelector") == {}
        and netpol.policy_types(p) == {"Ingress", "Egress"}
        and not (p.get("spec") or {}).get("ingress")
        and not (p.get("spec") or {}).get("egress")
    ]
    if not default_deny:
        found.append(
            "expected a default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)"
            ", found none"
        )
    for rule in netpol.open_rules(policies):
        found.append(f"{rule}: expected peers named, found a rule that allows any peer")
    dns = netpol.namespace_endpoint("kube-system", {"k8s-app": "kube-dns"})
    ingress_controller = netpol.namespace_endpoint(INGRESS_NAMESPACE, {})
    for w in workloads(objects):
        me = _endpoint(w, ns, ns_labels)
        own = [
            p
            for p in policies
            if p not in default_deny
            and (p.get("spec") or {}).get("podSelector") != {}
            and matches((p.get("spec") or {}).get("podSelector"), w.labels)
        ]
        if not own:
            found.append(
                f"{w.ref}: expected a NetworkPolicy selecting its pods"
                ", found only namespace-wide ones"
            )
        if not netpol.allows(policies, me, dns, 53, "Egress"):
            found.append(f"{w.ref}: expected DNS (kube-dns:53) allowed, found it denied")
    for w in workloads(objects):
        me = _endpoint(w, ns, ns_labels)
        for port_name, port in w.container_ports().items():
            if port_name not in PEER_PORTS:
                continue
            egress, ingress = netpol.connection_allowed(policies, me, me, port)
            if not (egress and ingress):
                found.append(
                    f"{w.ref}: expected its pods to reach each other on {port_name} ({port}),"
                    f" found egress {'allowed' if egress else 'denied'},"
                    f" ingress {'allowed' if ingress else 'denied'}"
                )
    for link in service_links(objects):
        for target in link.targets:
            if link.port is None:
                continue
            egress, ingress = netpol.connection_allowed(
                policies,
                _endpoint(link.source, ns, ns_labels),
                _endpoint(target, ns, ns_labels),
                link.port,
            )
            what = f"{link.source.name} -> {target.name}:{link.port} ({link.setting})"
            if not egress:
                found.append(
                    f"{what}: expected egress allowed at {link.source.ref}, found it denied"
                )
            if not ingress:
                found.append(f"{what}: expected ingress allowed at {target.ref}, found it denied")
    for ing in find(objects, "Ingress"):
        for gw in [w for w in service_workloads(objects) if w.name == "gateway"]:
            if not netpol.allows(
                policies, _endpoint(gw, ns, ns_labels), ingress_controller, SERVICE_PORT, "Ingress"
            ):
                found.append(
                    f"{ref(ing)}: expected the ingress controller (namespace"
                    f" {INGRESS_NAMESPACE}) allowed into the gateway, found it denied"
                )
    return found
