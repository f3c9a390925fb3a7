"""Validate rendered objects against the Kubernetes OpenAPI schemas, offline.

Built-in kinds are checked against the schemas `kubernetes-validate` bundles for each Kubernetes
release, in their strict form, so an unknown field is an error rather than something the API
server silently drops. (Its `validate()` reloads the 2 MB definitions file for every object;
here one validator per kind and release is built and reused, which is what makes checking
every combination take seconds.)
Custom resources have no schema there: each kind these manifests use (Prometheus Operator,
Chaos Mesh) is validated against a minimal JSON Schema committed in `crd_schemas/`, written from
the operator's CRD. A custom kind with no committed schema is an error, never a silent skip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from kubernetes_validate import utils as kv
from packaging.version import Version
from referencing import Registry, Resource

CRD_SCHEMAS = Path(__file__).with_name("crd_schemas")
# apiVersion/kind → schema file; the kinds these manifests and experiments may use.
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.json",
    ("chaos-mesh.org/v1alpha1", "NetworkChaos"): "networkchaos.json",
}
# The oldest release these manifests support (native preStop `sleep` is on by default from
# 1.30) and the newest whose schemas kubernetes-validate bundles.
OLDEST = "1.30.0"


def versions() -> tuple[str, ...]:
    return (OLDEST, kv.latest_version())


@dataclass(frozen=True)
class Invalid:
    object: str
    version: str
    message: str

    def __str__(self) -> str:
        return f"{self.object} (Kubernetes {self.version}): {self.message}"


def describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')} {meta.get('name', '?')}"


@cache
def _custom_validator(filename: str) -> jsonschema.protocols.Validator:
    schema = json.loads((CRD_SCHEMAS / filename).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


@cache
def _schema_dir(version: str) -> str:
    """The bundled strict schemas of the newest release not newer than `version`."""
    wanted = Version(kv.major_minor(version))
    known = [v for v in kv.all_versions() if Version(kv.major_minor(v)) <= wanted]
    if not known:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {version} or older")
    return f"kubernetes-json-schema/v{known[-1]}-local-strict"


@cache
def _definitions(folder: str) -> Resource[Any]:
    return Resource.from_contents(kv.schema_contents(f"{folder}/_definitions.json", folder))


@cache
def _builtin_validator(
    api_version: str, kind: str, version: str
) -> jsonschema.protocols.Validator | None:
    folder = _schema_dir(version)
    # As kubernetes-validate names its files: rbac.authorization.k8s.io/v1 → rbac-v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", folder)
    except FileNotFoundError:
        return None
    registry: Registry[Any] = _definitions(folder) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_object(obj: dict[str, Any], version: str) -> list[Invalid]:
    """Every schema error of one object for one Kubernetes release."""
    what = describe(obj)
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    if key in CUSTOM_KINDS:
        validator = _custom_validator(CUSTOM_KINDS[key])
        return [
            Invalid(what, "CRD", f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        ]
    validator = _builtin_validator(key[0], key[1], version)
    if validator is None:
        return [
            Invalid(
                what,
                version,
                "no schema: neither a Kubernetes kind nor a custom kind with a schema in "
                f"{CRD_SCHEMAS.name}/ ({', '.join(sorted(k for _, k in CUSTOM_KINDS))})",
            )
        ]
    return [
        Invalid(what, version, f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
        for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]


def validate_all(
    objects: Iterable[dict[str, Any]], kube_versions: Sequence[str] | None = None
) -> list[Invalid]:
    """Validate each object against each release (CRD kinds once: their schema has none);
    identical objects in `objects` are validated once."""
    problems: list[Invalid] = []
    seen: set[str] = set()
    for obj in objects:
        fingerprint = json.dumps(obj, sort_keys=True, default=str)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        for i, version in enumerate(kube_versions or versions()):
            found = validate_object(obj, version)
            problems += found
            if (str(obj.get("apiVersion")), str(obj.get("kind"))) in CUSTOM_KINDS or (
                found and i == 0
            ):
                break
    return problems
