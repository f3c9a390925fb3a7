"""Read rendered Kubernetes objects: workloads and their pods, containers, environment, labels,
ports and quantities — the vocabulary the policy checks are written in."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Manifest = dict[str, Any]

SERVICES = ("gateway", "segmentation", "runner", "archive")
# What the service images do (deploy/docker/Dockerfile): listen on 8080, run as uid 10001.
SERVICE_PORT = 8080
SERVICE_UID = 10001
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def ref(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{name_of(obj)}"


def find(objects: Sequence[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [o for o in objects if o.get("kind") == kind and (name is None or name_of(o) == name)]


def find_one(objects: Sequence[Manifest], kind: str, name: str) -> Manifest | None:
    found = find(objects, kind, name)
    return found[0] if found else None


@dataclass(frozen=True)
class Workload:
    obj: Manifest

    @property
    def ref(self) -> str:
        return ref(self.obj)

    @property
    def name(self) -> str:
        return name_of(self.obj)

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def template(self) -> Manifest:
        spec = self.obj.get("spec") or {}
        if self.kind == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        return dict(spec.get("template") or {})

    @property
    def pod(self) -> Manifest:
        return dict(self.template.get("spec") or {})

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.template.get("metadata") or {}).get("labels") or {})

    @property
    def containers(self) -> list[Manifest]:
        return list(self.pod.get("containers") or [])

    @property
    def init_containers(self) -> list[Manifest]:
        return list(self.pod.get("initContainers") or [])

    def all_containers(self) -> list[Manifest]:
        return self.init_containers + self.containers

    def container(self, name: str) -> Manifest | None:
        return next((c for c in self.containers if c.get("name") == name), None)

    def container_ports(self) -> dict[str, int]:
        """Named ports of every container (name → number)."""
        return {
            str(p["name"]): int(p["containerPort"])
            for c in self.containers
            for p in c.get("ports") or []
            if "name" in p
        }

    def port_numbers(self) -> set[int]:
        return {int(p["containerPort"]) for c in self.containers for p in c.get("ports") or []}


def workloads(objects: Sequence[Manifest]) -> list[Workload]:
    return [Workload(o) for o in objects if o.get("kind") in WORKLOAD_KINDS]


def service_workloads(objects: Sequence[Manifest]) -> list[Workload]:
    """The four ALT_LAS services' Deployments."""
    return [w for w in workloads(objects) if w.kind == "Deployment" and w.name in SERVICES]


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) select these labels? An empty
    selector selects everything; None (absent) selects nothing."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selects(service_selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """A Service's plain selector (a label map)."""
    return bool(service_selector) and all(labels.get(k) == v for k, v in service_selector.items())  # type: ignore[union-attr]


_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class EnvValue:
    """One environment variable of a container: a literal, a ConfigMap value, or a reference."""

    name: str
    value: str | None  # the literal or ConfigMap value, $(VAR) references expanded
    source: str  # "value", "configmap:<name>", "secret:<name>/<key>", "field", "other"


def container_env(container: Mapping[str, Any], objects: Sequence[Manifest]) -> dict[str, EnvValue]:
    """The container's environment as Kubernetes builds it: envFrom first, then env (which
    overrides), with $(VAR) expanded from variables defined before it."""
    env: dict[str, EnvValue] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            cm_name = source["configMapRef"]["name"]
            cm = find_one(objects, "ConfigMap", cm_name)
            for key, value in ((cm or {}).get("data") or {}).items():
                env[prefix + key] = EnvValue(prefix + key, str(value), f"configmap:{cm_name}")
        elif "secretRef" in source:
            secret = find_one(objects, "Secret", source["secretRef"]["name"])
            for key in ((secret or {}).get("data") or {}).keys():
                env[prefix + key] = EnvValue(prefix + key, None, f"secret:{name_of(secret or {})}")
    for item in container.get("env") or []:
        name = str(item["name"])
        if "value" in item:
            raw = str(item["value"])

            def _expand(m: re.Match[str]) -> str:
                known = env.get(m.group(1))
                if known is None:
                    return m.group(0)
                # A Secret's value is not in the render: a stand-in keeps the URL parseable.
                return known.value if known.value is not None else "REDACTED"

            env[name] = EnvValue(name, _VAR.sub(_expand, raw), "value")
        else:
            frm = item.get("valueFrom") or {}
            if "secretKeyRef" in frm:
                s = frm["secretKeyRef"]
                env[name] = EnvValue(
                    name,
                    secret_value(objects, s["name"], s["key"]),
                    f"secret:{s['name']}/{s['key']}",
                )
            elif "configMapKeyRef" in frm:
                c = frm["configMapKeyRef"]
                cm = find_one(objects, "ConfigMap", c["name"])
                value = ((cm or {}).get("data") or {}).get(c["key"])
                env[name] = EnvValue(name, value, f"configmap:{c['name']}")
            elif "fieldRef" in frm or "resourceFieldRef" in frm:
                env[name] = EnvValue(name, None, "field")
            else:
                env[name] = EnvValue(name, None, "other")
    return env


def secret_value(objects: Sequence[Manifest], name: str, key: str) -> str | None:
    """A key of a Secret in the render (generated Secrets carry their data), decoded."""
    secret = find_one(objects, "Secret", name)
    encoded = ((secret or {}).get("data") or {}).get(key)
    if encoded is None:
        return ((secret or {}).get("stringData") or {}).get(key)
    return base64.b64decode(encoded).decode()


def raw_env_values(container: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(name, literal) of every env entry written inline, unexpanded."""
    for item in container.get("env") or []:
        if "value" in item:
            yield str(item["name"]), str(item["value"])


_SUFFIX: dict[str, Decimal | int] = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(value: str | int | float) -> Decimal:
    """A Kubernetes resource quantity ("500m", "2Gi", 1) as a number."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"not a quantity: {value!r}")
    return Decimal(m.group(1)) * Decimal(_SUFFIX[m.group(2)])


def resolve_port(port: str | int, named: Mapping[str, int]) -> int | None:
    """A port given as a number or a name of a container port."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    return named.get(str(port))
