"""Policies every render of the manifests is held to. Each check takes the rendered objects and
returns its violations, each saying what was expected and what was found; an empty list passes.

tests/k8s runs every check over every overlay and component combination, and feeds each check a
deliberately broken object to see it fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.k8s import netpol
from harness.k8s.objects import (
    SERVICES,
    Manifest,
    Workload,
    container_env,
    find,
    find_one,
    matches,
    name_of,
    quantity,
    raw_env_values,
    ref,
    resolve_port,
    selects,
    service_workloads,
    workloads,
)

Check = Callable[[Sequence[Manifest]], list[str]]

# The uid the service images run as (deploy/docker/Dockerfile).
SERVICE_UID = 10001
SERVICE_PORT = 8080
# Containers allowed a writable root file system, and why.
WRITABLE_ROOT = {
    ("StatefulSet/opensearch", "opensearch"): "the image writes its keystore and logs at start-up",
}
# The preStop pause before SIGTERM plus a margin for closing connections, on top of twice
# ALTLAS_SHUTDOWN_GRACE_S (uvicorn's drain, then in-flight handlers: common/app.py, messaging.py).
SHUTDOWN_MARGIN_S = 5
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL", re.I)
URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]+:([^@/\s]+)@", re.I)
INGRESS_NAMESPACE = "ingress-nginx"
# Container ports the replicas of a data store use among themselves (NATS routes, OpenSearch
# transport): a cluster that cannot talk to itself loses its quorum.
PEER_PORTS = ("cluster", "transport")


# -- probes, resources, security, images ------------------------------------------------------


def probes(objects: Sequence[Manifest]) -> list[str]:
    """The services probe /livez (startup, liveness) and /readyz (readiness) over HTTP; every
    other long-running container has liveness and readiness probes."""
    found = []
    expected = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
    for w in workloads(objects):
        for c in w.containers:
            where = f"{w.ref} container {c.get('name')}"
            if w.kind == "Deployment" and w.name in SERVICES and c.get("name") == w.name:
                for probe, path in expected.items():
                    got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                    if got != path:
                        found.append(f"{where}: expected {probe} httpGet {path}, found {got!r}")
            else:
                for probe in ("livenessProbe", "readinessProbe"):
                    if not c.get(probe):
                        found.append(f"{where}: expected a {probe}, found none")
    return found


def resources(objects: Sequence[Manifest]) -> list[str]:
    """Every container (init containers too) requests and limits CPU and memory, and no request
    exceeds its limit."""
    found = []
    for w in workloads(objects):
        for c in w.all_containers():
            where = f"{w.ref} container {c.get('name')}"
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (res.get(part) or {}):
                        found.append(f"{where}: expected resources.{part}.{resource}, found none")
            for resource in ("cpu", "memory"):
                req = (res.get("requests") or {}).get(resource)
                lim = (res.get("limits") or {}).get(resource)
                if req is not None and lim is not None and quantity(req) > quantity(lim):
                    found.append(f"{where}: expected {resource} request {req} <= limit {lim}")
    return found


def security(objects: Sequence[Manifest]) -> list[str]:
    """Pods run as non-root (the services as uid 10001) under RuntimeDefault seccomp, without
    host namespaces; containers drop every capability, cannot escalate, are not privileged and
    have a read-only root file system (exceptions listed in WRITABLE_ROOT, with their reason)."""
    found = []
    for w in workloads(objects):
        pod = w.pod
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            found.append(
                f"{w.ref}: expected securityContext.runAsNonRoot true"
                f", found {psc.get('runAsNonRoot')!r}"
            )
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(host):
                found.append(f"{w.ref}: expected no {host}, found {host}: true")
        for c in w.all_containers():
            where = f"{w.ref} container {c.get('name')}"
            csc = c.get("securityContext") or {}
            uid = csc.get("runAsUser", psc.get("runAsUser"))
            if uid in (None, 0):
                found.append(f"{where}: expected a non-zero runAsUser, found {uid!r}")
            if w.kind == "Deployment" and w.name in SERVICES and uid != SERVICE_UID:
                found.append(
                    f"{where}: expected runAsUser {SERVICE_UID} (the image's user), found {uid!r}"
                )
            seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                found.append(f"{where}: expected seccompProfile RuntimeDefault, found {seccomp!r}")
            if csc.get("allowPrivilegeEscalation") is not False:
                found.append(
                    f"{where}: expected allowPrivilegeEscalation false"
                    f", found {csc.get('allowPrivilegeEscalation')!r}"
                )
            if csc.get("privileged"):
                found.append(f"{where}: expected not privileged, found privileged: true")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                found.append(
                    f"{where}: expected capabilities.drop [ALL], found {csc.get('capabilities')!r}"
                )
            if (csc.get("capabilities") or {}).get("add"):
                found.append(
                    f"{where}: expected no added capabilities, found {csc['capabilities']['add']!r}"
                )
            if (
                csc.get("readOnlyRootFilesystem") is not True
                and (w.ref, c.get("name")) not in WRITABLE_ROOT
            ):
                found.append(
                    f"{where}: expected readOnlyRootFilesystem true"
                    f", found {csc.get('readOnlyRootFilesystem')!r}"
                )
    return found


def image_tags(objects: Sequence[Manifest]) -> list[str]:
    """Every image names a version: a tag other than `latest`, or a digest."""
    found = []
    for w in workloads(objects):
        for c in w.all_containers():
            image = str(c.get("image", ""))
            if "@sha256:" in image:
                continue
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            if tag in (None, "", "latest"):
                found.append(
                    f"{w.ref} container {c.get('name')}: expected an image with a version tag"
                    f" or digest, found {image!r}"
                )
    return found


# -- availability ------------------------------------------------------------------------------


def _replicas(w: Workload, objects: Sequence[Manifest]) -> int:
    hpa = _hpa_for(w, objects)
    if hpa is not None:
        return int((hpa.get("spec") or {}).get("minReplicas", 1))
    return int((w.obj.get("spec") or {}).get("replicas", 1))


def _hpa_for(w: Workload, objects: Sequence[Manifest]) -> Manifest | None:
    for hpa in find(objects, "HorizontalPodAutoscaler"):
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("kind") == w.kind and target.get("name") == w.name:
            return hpa
    return None


def autoscaling(objects: Sequence[Manifest]) -> list[str]:
    """Each service has an autoscaling/v2 HPA (at least 2 replicas, scaling on a resource) that
    owns its replica count: the Deployment leaves `replicas` unset, so an apply never resets it."""
    found = []
    for w in service_workloads(objects):
        hpa = _hpa_for(w, objects)
        if hpa is None:
            found.append(f"{w.ref}: expected a HorizontalPodAutoscaler targeting it, found none")
            continue
        spec = hpa.get("spec") or {}
        if hpa.get("apiVersion") != "autoscaling/v2":
            found.append(
                f"{ref(hpa)}: expected apiVersion autoscaling/v2, found {hpa.get('apiVersion')}"
            )
        if int(spec.get("minReplicas", 1)) < 2:
            found.append(
                f"{ref(hpa)}: expected minReplicas >= 2, found {spec.get('minReplicas', 1)}"
            )
        if int(spec.get("maxReplicas", 0)) < int(spec.get("minReplicas", 1)):
            found.append(
                f"{ref(hpa)}: expected maxReplicas >= minReplicas, found {spec.get('maxReplicas')}"
            )
        if not any(m.get("type") == "Resource" for m in spec.get("metrics") or []):
            found.append(f"{ref(hpa)}: expected a Resource metric, found {spec.get('metrics')!r}")
        if "replicas" in (w.obj.get("spec") or {}):
            found.append(
                f"{w.ref}: expected no spec.replicas (the HPA owns it)"
                f", found {w.obj['spec']['replicas']}"
            )
    return found


def disruption_budgets(objects: Sequence[Manifest]) -> list[str]:
    """Each service, and each workload with more than one replica, has exactly one
    PodDisruptionBudget selecting its pods that still lets a node drain (one pod at a time)."""
    found = []
    pdbs = find(objects, "PodDisruptionBudget")
    for w in workloads(objects):
        if w.kind not in ("Deployment", "StatefulSet"):
            continue
        replicas = _replicas(w, objects)
        if not (w.name in SERVICES or replicas > 1):
            continue
        mine = [p for p in pdbs if matches((p.get("spec") or {}).get("selector"), w.labels)]
        if len(mine) != 1:
            found.append(
                f"{w.ref}: expected one PodDisruptionBudget selecting its pods"
                f", found {[name_of(p) for p in mine]}"
            )
            continue
        spec = mine[0].get("spec") or {}
        if "maxUnavailable" in spec:
            ok = str(spec["maxUnavailable"]).rstrip("%") not in ("0", "")
        else:
            ok = int(str(spec.get("minAvailable", replicas))) < replicas
        if not ok:
            found.append(
                f"{ref(mine[0])}: expected a budget that allows one disruption of"
                f" {replicas} replicas, found {spec}"
            )
    return found


def topology_spread(objects: Sequence[Manifest]) -> list[str]:
    """Workloads with several replicas spread their pods across nodes."""
    found = []
    for w in workloads(objects):
        if w.kind not in ("Deployment", "StatefulSet") or _replicas(w, objects) < 2:
            continue
        spread = [
            t
            for t in w.pod.get("topologySpreadConstraints") or []
            if t.get("topologyKey") == "kubernetes.io/hostname"
            and matches(t.get("labelSelector"), w.labels)
        ]
        if not spread:
            found.append(
                f"{w.ref}: expected a topologySpreadConstraint on kubernetes.io/hostname"
                " selecting its pods, found none"
            )
    return found


def graceful_termination(objects: Sequence[Manifest]) -> list[str]:
    """Services stop like the code expects: a preStop pause so endpoints drop the pod first, and
    a grace period covering that pause, uvicorn's drain and the in-flight handlers (each up to
    ALTLAS_SHUTDOWN_GRACE_S) and a margin."""
    found = []
    for w in service_workloads(objects):
        c = w.container(w.name)
        if c is None:
            continue
        env = container_env(c, objects)
        grace_env = env.get("ALTLAS_SHUTDOWN_GRACE_S")
        grace = float(grace_env.value) if grace_env and grace_env.value else 10.0  # the default
        pre_stop = (c.get("lifecycle") or {}).get("preStop") or {}
        pause = int((pre_stop.get("sleep") or {}).get("seconds", 0))
        if not pre_stop:
            found.append(f"{w.ref}: expected a preStop hook (pause before SIGTERM), found none")
        needed = pause + 2 * grace + SHUTDOWN_MARGIN_S
        period = int(w.pod.get("terminationGracePeriodSeconds", 30))
        if period < needed:
            found.append(
                f"{w.ref}: expected terminationGracePeriodSeconds >= {needed:g} (preStop {pause}"
                f" + 2 x ALTLAS_SHUTDOWN_GRACE_S {grace:g} + {SHUTDOWN_MARGIN_S}), found {period}"
            )
    return found


# -- exposure and network ----------------------------------------------------------------------


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


def service_links(objects: Sequence[Manifest]) -> list[Link]:
    """Every ALTLAS_*_URL of the services, resolved to the Service it names, that Service's
    pods and the container port its port leads to."""
    links = []
    for w in service_workloads(objects):
        c = w.container(w.name)
        if c is None:
            continue
        for name, value in container_env(c, objects).items():
            if not (name.startswith("ALTLAS_") and name.endswith("_URL")) or not value.value:
                continue
            parts = urlsplit(value.value)
            host = (parts.hostname or "").split(".")[0]
            svc = find_one(objects, "Service", host)
            if svc is None:
                links.append(Link(w, name, value.value, None))
                continue
            svc_port = next(
                (
                    p
                    for p in (svc.get("spec") or {}).get("ports") or []
                    if p.get("port") == parts.port
                ),
                None,
            )
            selector = (svc.get("spec") or {}).get("selector")
            targets = [t for t in workloads(objects) if selects(selector, t.labels)]
            port = None
            if svc_port is not None and targets:
                port = resolve_port(
                    svc_port.get("targetPort", svc_port["port"]), targets[0].container_ports()
                )
            links.append(Link(w, name, value.value, svc, targets, port))
    return links


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


# -- configuration -----------------------------------------------------------------------------


def inline_secrets(objects: Sequence[Manifest]) -> list[str]:
    """No secret is written into a manifest: variables named like secrets come from a Secret,
    no URL carries a literal password (only a $(VAR) from a Secret), ConfigMaps hold none, and
    every Secret comes from a generator (its name has kustomize's hash suffix, or is listed)."""
    found = []
    for w in workloads(objects):
        for c in w.all_containers():
            where = f"{w.ref} container {c.get('name')}"
            for name, value in raw_env_values(c):
                if SECRET_NAME.search(name):
                    found.append(
                        f"{where}: expected {name} from a secretKeyRef, found an inline value"
                    )
                m = URL_PASSWORD.match(value)
                if m and not re.fullmatch(r"\$\([A-Za-z_][A-Za-z0-9_]*\)", m.group(1)):
                    found.append(
                        f"{where}: expected the password in {name} as $(VAR) from a Secret"
                        ", found it inline"
                    )
    for cm in find(objects, "ConfigMap"):
        for key, value in (cm.get("data") or {}).items():
            if SECRET_NAME.search(key) or URL_PASSWORD.match(str(value)):
                found.append(f"{ref(cm)}: expected no secret in a ConfigMap, found key {key}")
    for secret in find(objects, "Secret"):
        if "stringData" in secret:
            found.append(
                f"{ref(secret)}: expected data from a generator, found stringData written inline"
            )
    return found


@dataclass(frozen=True)
class SettingsSpec:
    """What a service's settings class accepts (field names, as ALTLAS_ variables) and needs."""

    fields: frozenset[str]
    required: frozenset[str]


def settings_and_ports(
    objects: Sequence[Manifest], settings: Mapping[str, SettingsSpec]
) -> list[str]:
    """Every ALTLAS_ variable a service gets is a field of its settings class (pydantic ignores
    unknown ones, so a typo would pass silently) and every required field is given; the service
    listens on 0.0.0.0:8080; its container port, probes and Service lead to that port; each
    ALTLAS_*_URL names a Service in the render, on one of its ports, whose pods listen there."""
    found = []
    for w in service_workloads(objects):
        c = w.container(w.name)
        if c is None:
            found.append(
                f"{w.ref}: expected a container named {w.name}"
                f", found {[x.get('name') for x in w.containers]}"
            )
            continue
        env = container_env(c, objects)
        spec = settings.get(w.name)
        if spec is not None:
            for name in sorted(n for n in env if n.startswith("ALTLAS_")):
                if name.removeprefix("ALTLAS_").lower() not in spec.fields:
                    found.append(
                        f"{w.ref}: expected ALTLAS_ variables named after settings fields"
                        f", found {name} (no such field)"
                    )
            for req in sorted(spec.required):
                if f"ALTLAS_{req.upper()}" not in env:
                    found.append(
                        f"{w.ref}: expected the required setting ALTLAS_{req.upper()}"
                        ", found it missing"
                    )
        port_env = env.get("ALTLAS_PORT")
        port = int(port_env.value) if port_env and port_env.value else None
        if port != SERVICE_PORT:
            found.append(f"{w.ref}: expected ALTLAS_PORT {SERVICE_PORT}, found {port}")
        host = env.get("ALTLAS_HOST")
        if host is None or host.value != "0.0.0.0":
            found.append(
                f"{w.ref}: expected ALTLAS_HOST 0.0.0.0 (reachable from the pod network)"
                f", found {host.value if host else None!r}"
            )
        named = w.container_ports()
        if named.get("http") != port:
            found.append(
                f"{w.ref}: expected container port 'http' = ALTLAS_PORT {port}"
                f", found {named.get('http')}"
            )
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = (c.get(probe) or {}).get("httpGet")
            if get and resolve_port(get.get("port"), named) != port:
                found.append(f"{w.ref}: expected {probe} on port {port}, found {get.get('port')!r}")
        services = [
            s
            for s in find(objects, "Service")
            if selects((s.get("spec") or {}).get("selector"), w.labels)
        ]
        if not services:
            found.append(f"{w.ref}: expected a Service selecting its pods, found none")
        for s in services:
            for p in (s.get("spec") or {}).get("ports") or []:
                if resolve_port(p.get("targetPort", p.get("port")), named) != port:
                    found.append(
                        f"{ref(s)} port {p.get('name')}: expected targetPort -> {port}"
                        f", found {p.get('targetPort')!r}"
                    )
    for link in service_links(objects):
        where = f"{link.source.ref} {link.setting}={_redact(link.url)}"
        if link.service is None:
            found.append(f"{where}: expected a Service of that name in the render, found none")
        elif not link.targets:
            found.append(f"{where}: expected the Service to select pods, found none")
        elif link.port is None:
            found.append(
                f"{where}: expected a port of {ref(link.service)}"
                f", found {[p.get('port') for p in link.service['spec'].get('ports', [])]}"
            )
        elif any(link.port not in t.port_numbers() for t in link.targets):
            found.append(
                f"{where}: expected the pods of {ref(link.service)} to listen on {link.port}"
                ", found they do not"
            )
    return found


def _redact(url: str) -> str:
    return URL_PASSWORD.sub(lambda m: m.group(0).replace(m.group(1), "***"), url)


def references(objects: Sequence[Manifest]) -> list[str]:
    """Every name an object refers to exists in the render: ConfigMaps and Secrets (env, envFrom,
    volumes), ServiceAccounts, HPA and PDB targets, Ingress backends, StatefulSet services."""
    found = []
    have = {(o.get("kind"), name_of(o)) for o in objects}

    def need(kind: str, name: str | None, by: str) -> None:
        if name and (kind, name) not in have:
            found.append(f"{by}: expected {kind}/{name} in the render, found none")

    for w in workloads(objects):
        for c in w.all_containers():
            by = f"{w.ref} container {c.get('name')}"
            for src in c.get("envFrom") or []:
                need("ConfigMap", (src.get("configMapRef") or {}).get("name"), by)
                need("Secret", (src.get("secretRef") or {}).get("name"), by)
            for item in c.get("env") or []:
                frm = item.get("valueFrom") or {}
                need("ConfigMap", (frm.get("configMapKeyRef") or {}).get("name"), by)
                need("Secret", (frm.get("secretKeyRef") or {}).get("name"), by)
        for v in w.pod.get("volumes") or []:
            need("ConfigMap", (v.get("configMap") or {}).get("name"), w.ref)
            need("Secret", (v.get("secret") or {}).get("secretName"), w.ref)
        sa = w.pod.get("serviceAccountName")
        if sa and sa != "default":
            need("ServiceAccount", sa, w.ref)
        if w.kind == "StatefulSet":
            need("Service", (w.obj.get("spec") or {}).get("serviceName"), w.ref)
    for hpa in find(objects, "HorizontalPodAutoscaler"):
        t = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        need(str(t.get("kind")), t.get("name"), ref(hpa))
    for pdb in find(objects, "PodDisruptionBudget"):
        if not any(
            matches((pdb.get("spec") or {}).get("selector"), w.labels) for w in workloads(objects)
        ):
            found.append(
                f"{ref(pdb)}: expected its selector to match a workload's pods, found none"
            )
    for ing in find(objects, "Ingress"):
        for rule in (ing.get("spec") or {}).get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                svc = (path.get("backend") or {}).get("service") or {}
                need("Service", svc.get("name"), ref(ing))
                target = find_one(objects, "Service", str(svc.get("name")))
                port = svc.get("port") or {}
                if target is not None and not any(
                    p.get("name") == port.get("name") or p.get("port") == port.get("number")
                    for p in (target.get("spec") or {}).get("ports") or []
                ):
                    found.append(
                        f"{ref(ing)}: expected port {port} on Service/{svc.get('name')}, found none"
                    )
    for sm in find(objects, "ServiceMonitor"):
        spec = sm.get("spec") or {}
        targets = [
            s
            for s in find(objects, "Service")
            if matches(spec.get("selector"), (s.get("metadata") or {}).get("labels") or {})
        ]
        for ep in spec.get("endpoints") or []:
            if not any(
                p.get("name") == ep.get("port")
                for s in targets
                for p in (s.get("spec") or {}).get("ports") or []
            ):
                found.append(
                    f"{ref(sm)}: expected a selected Service with port {ep.get('port')!r}"
                    ", found none"
                )
    return found


POLICIES: dict[str, Check] = {
    "probes": probes,
    "resources": resources,
    "security": security,
    "image_tags": image_tags,
    "autoscaling": autoscaling,
    "disruption_budgets": disruption_budgets,
    "topology_spread": topology_spread,
    "graceful_termination": graceful_termination,
    "exposure": exposure,
    "network_policies": network_policies,
    "inline_secrets": inline_secrets,
    "references": references,
}
