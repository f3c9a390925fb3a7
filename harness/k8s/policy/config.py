"""Configuration: no secret written into a manifest, settings the services understand on the
ports they listen on, and every reference resolving to an object of the render."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.k8s.objects import (
    SERVICE_PORT,
    Manifest,
    container_env,
    find,
    find_one,
    matches,
    name_of,
    raw_env_values,
    ref,
    resolve_port,
    selects,
    service_workloads,
    workloads,
)
from harness.k8s.policy.network import service_links

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL", re.I)
URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]+:([^@/\s]+)@", re.I)


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
    # Groups of fields of which at least one must be given (the gateway's signing key, or the
    # secret store it reads it from).
    one_of: tuple[tuple[str, ...], ...] = ()


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
            for group in spec.one_of if spec is not None else ():
                names = [f"ALTLAS_{g.upper()}" for g in group]
                if not any(n in env for n in names):
                    found.append(
                        f"{w.ref}: expected the required setting {' or '.join(names)}"
                        ", found none of them"
                    )
        port_env = env.get("ALTLAS_PORT")
        port = int(port_env.value) if port_env and port_env.value else None
        if port != SERVICE_PORT:
            found.append(f"{w.ref}: expected ALTLAS_PORT {SERVICE_PORT}, found {port}")
        host = env.get("ALTLAS_HOST")
        if host is None or host.value != "0.0.0.0":  # noqa: S104 the policy checks pods bind it
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
