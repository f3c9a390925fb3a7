"""The schema validation can fail: broken built-in objects, broken custom resources and kinds
with no schema at all are reported (the passing side is test_manifests.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.k8s import render
from harness.k8s.validate import CUSTOM_KINDS, validate_all, validate_object, versions


def first(
    renders: dict[str, render.Rendered], kind: str, overlay: str = "overlay prod"
) -> dict[str, Any]:
    return copy.deepcopy(renders[overlay].of_kind(kind)[0])


def messages(obj: dict[str, Any]) -> list[str]:
    return [str(p) for p in validate_all([obj])]


def test_versions_span_oldest_and_newest() -> None:
    oldest, newest = versions()
    assert oldest == "1.30.0"
    assert tuple(map(int, newest.split(".")[:2])) >= (1, 33)


def test_unknown_field_is_an_error(renders: dict[str, render.Rendered]) -> None:
    d = first(renders, "Deployment")
    d["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # wrong case
    assert any("'livenessprobe' was unexpected" in m for m in messages(d))


def test_wrong_type_is_an_error(renders: dict[str, render.Rendered]) -> None:
    s = first(renders, "StatefulSet")
    s["spec"]["replicas"] = "three"
    assert any("spec/replicas" in m for m in messages(s))


def test_missing_required_field_is_an_error(renders: dict[str, render.Rendered]) -> None:
    hpa = first(renders, "HorizontalPodAutoscaler")
    del hpa["spec"]["maxReplicas"]
    assert any("'maxReplicas' is a required property" in m for m in messages(hpa))


def test_removed_api_version_has_no_schema(renders: dict[str, render.Rendered]) -> None:
    hpa = first(renders, "HorizontalPodAutoscaler")
    hpa["apiVersion"] = "autoscaling/v2beta2"  # removed in Kubernetes 1.26
    assert any("no schema" in m for m in messages(hpa))


def test_unknown_custom_kind_is_an_error_not_a_skip() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    assert any("no schema" in m and "Widget" in m for m in messages(obj))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda o: o["spec"]["endpoints"][0].update(interval="15 seconds"), "interval"),
        (lambda o: o["spec"].pop("selector"), "'selector' is a required property"),
        (lambda o: o["spec"]["endpoints"][0].update(prot="http"), "'prot' was unexpected"),
    ],
)
def test_servicemonitor_schema_rejects(
    renders: dict[str, render.Rendered], mutate: Any, expected: str
) -> None:
    sm = first(renders, "ServiceMonitor")
    assert not validate_object(sm, versions()[0])
    mutate(sm)
    assert any(expected in m for m in messages(sm)), messages(sm)


def test_prometheusrule_schema_rejects(renders: dict[str, render.Rendered]) -> None:
    rule = first(renders, "PrometheusRule")
    assert not validate_object(rule, versions()[0])
    rule["spec"]["groups"][0]["rules"][0].pop("expr")
    assert any("'expr' is a required property" in m for m in messages(rule))


def test_networkchaos_schema_rejects() -> None:
    chaos = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "NetworkChaos",
        "metadata": {"name": "latency"},
        "spec": {"action": "delay", "mode": "all", "selector": {"labelSelectors": {"a": "b"}}},
    }
    assert any("'delay' is a required property" in m for m in messages(chaos))
    chaos["spec"]["delay"] = {"latency": "200ms"}
    assert not messages(chaos)
    chaos["spec"]["direction"] = "both"  # needs a target
    assert any("'target' is a required property" in m for m in messages(chaos))


def test_every_custom_kind_has_its_schema_file() -> None:
    from harness.k8s.validate import CRD_SCHEMAS

    for filename in CUSTOM_KINDS.values():
        assert (CRD_SCHEMAS / filename).is_file()
