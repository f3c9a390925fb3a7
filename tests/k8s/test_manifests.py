"""Every overlay and every component combination renders, validates against the Kubernetes
schemas, and passes every policy in harness/k8s/policy/."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.k8s import policy, render
from harness.k8s.objects import SERVICES, container_env, service_workloads
from harness.k8s.validate import validate_all
from reference_services.archive.settings import ArchiveSettings
from reference_services.common.settings import ServiceSettings
from reference_services.gateway.auth import TokenService
from reference_services.gateway.settings import GatewaySettings
from reference_services.runner.settings import RunnerSettings
from reference_services.segmentation.settings import SegmentationSettings

NAMES = [f"overlay {o}" for o in render.overlays()] + [
    "base + " + (" + ".join(c) if c else "no component") for c in render.combinations()
]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "gateway": GatewaySettings,
    "segmentation": SegmentationSettings,
    "runner": RunnerSettings,
    "archive": ArchiveSettings,
}
# Secret generator inputs that are committed on purpose, and why.
PUBLIC_SECRET_INPUTS = {
    "deploy/kubernetes/components/kind/demo-users.json": "the local stack's demo users (README)",
}


def test_every_overlay_and_combination_is_rendered(renders: dict[str, render.Rendered]) -> None:
    assert sorted(renders) == sorted(NAMES)
    assert {"overlay kind", "overlay prod"} <= set(renders)


@pytest.mark.parametrize("name", NAMES)
def test_renders_the_whole_system(renders: dict[str, render.Rendered], name: str) -> None:
    rendered = renders[name]
    deployments = {o["metadata"]["name"] for o in rendered.of_kind("Deployment")}
    statefulsets = {o["metadata"]["name"] for o in rendered.of_kind("StatefulSet")}
    assert deployments == set(SERVICES), f"{name}: Deployments {deployments}"
    assert statefulsets == {"nats", "opensearch", "postgres"}, f"{name}: StatefulSets"
    assert {
        o["metadata"].get("namespace") for o in rendered.objects if o["kind"] != "Namespace"
    } == {"altlas"}


@pytest.mark.parametrize("name", NAMES)
def test_validates_against_the_kubernetes_schemas(
    renders: dict[str, render.Rendered], name: str
) -> None:
    problems = validate_all(renders[name].objects)
    assert not problems, f"{name}:\n" + "\n".join(map(str, problems))


@pytest.mark.parametrize("check", sorted(policy.POLICIES))
@pytest.mark.parametrize("name", NAMES)
def test_policy(renders: dict[str, render.Rendered], name: str, check: str) -> None:
    violations = policy.POLICIES[check](renders[name].objects)
    assert not violations, f"{name}, policy {check}:\n" + "\n".join(violations)


@pytest.mark.parametrize("name", NAMES)
def test_settings_and_ports_match_the_services(
    renders: dict[str, render.Rendered],
    name: str,
    settings_specs: dict[str, policy.SettingsSpec],
) -> None:
    violations = policy.settings_and_ports(renders[name].objects, settings_specs)
    assert not violations, f"{name}:\n" + "\n".join(violations)


@pytest.mark.parametrize("name", NAMES)
def test_services_accept_the_environment_they_are_given(
    renders: dict[str, render.Rendered], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service's settings class, built from exactly the environment its container gets
    (ConfigMap, literals, the generated Secrets), starts: no missing or malformed value."""
    objects = renders[name].objects
    for workload in service_workloads(objects):
        env = container_env(workload.container(workload.name) or {}, objects)
        for var in [v for v in os.environ if v.startswith("ALTLAS_")]:
            monkeypatch.delenv(var)
        for var, value in env.items():
            assert value.value is not None, f"{workload.ref}: {var} has no value in the render"
            monkeypatch.setenv(var, value.value)
        settings = SETTINGS[workload.name]()
        assert (settings.host, settings.port) == ("0.0.0.0", policy.SERVICE_PORT)  # noqa: S104
        # NATS over TLS, as the service's own user, with the password from the nats-users
        # Secret and the CA where the container mounts it.
        assert settings.nats_url == "tls://nats:4222"
        assert settings.nats_user == workload.name, f"{workload.ref}: its own NATS user"
        assert settings.nats_password is not None and settings.nats_password.get_secret_value()
        assert settings.nats_tls_ca == "/etc/nats-ca/ca.crt"
        mounts = (workload.container(workload.name) or {}).get("volumeMounts", [])
        assert any(m.get("mountPath") == "/etc/nats-ca" for m in mounts), f"{workload.ref}"
        if isinstance(settings, GatewaySettings):
            assert settings.jwt_private_key, f"{workload.ref}: the gateway gets its signing key"
            TokenService(  # what the gateway does with the key at start-up
                settings.jwt_private_key,
                kid=settings.jwt_key_id,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                access_ttl_s=settings.access_token_ttl_s,
                refresh_ttl_s=settings.refresh_token_ttl_s,
            )


def test_kind_overlay_differs_from_prod_where_it_should(
    renders: dict[str, render.Rendered],
) -> None:
    """The components do what they say: kind seeds demo users and shrinks volumes; prod spreads
    across zones and turns OpenSearch's mmap back on; monitoring adds the NATS exporter."""

    def env(rendered: render.Rendered, workload: str) -> dict[str, object]:
        (obj,) = [
            o
            for o in rendered.objects
            if o["metadata"]["name"] == workload and o["kind"] in ("Deployment", "StatefulSet")
        ]
        container = obj["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}

    kind, prod = renders["overlay kind"], renders["overlay prod"]
    assert "ALTLAS_SEED_USERS" in env(kind, "gateway")
    assert "ALTLAS_SEED_USERS" not in env(prod, "gateway")
    assert env(kind, "opensearch")["node.store.allow_mmap"] == "false"
    assert env(prod, "opensearch")["node.store.allow_mmap"] == "true"
    nats_prod = next(o for o in prod.of_kind("StatefulSet") if o["metadata"]["name"] == "nats")
    assert [c["name"] for c in nats_prod["spec"]["template"]["spec"]["containers"]] == [
        "nats",
        "metrics",
    ]
    sizes = {
        o["metadata"]["name"]: o["spec"]["volumeClaimTemplates"][0]["spec"]["resources"][
            "requests"
        ]["storage"]
        for o in kind.of_kind("StatefulSet")
    }
    assert set(sizes.values()) == {"1Gi"}


def _tracked(prefix: str) -> list[Path]:
    """Files git tracks or would track (untracked but not ignored)."""
    root = render.ROOT
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", prefix],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return [root / p for p in out.stdout.split("\0") if p]


def test_no_secret_is_committed() -> None:
    """No Secret object is written in a manifest git tracks, and every secretGenerator input
    that git tracks is a listed public one (the rest are generated per machine and git-ignored)."""
    tracked = _tracked("deploy/kubernetes")
    assert tracked, "git ls-files found no manifests (not a git checkout?)"
    for path in tracked:
        if path.suffix not in (".yaml", ".yml"):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):  # empty documents, JSON patches
                continue
            assert doc.get("kind") != "Secret", f"{path}: a Secret written inline; use a generator"
            for gen in doc.get("secretGenerator", []) or []:
                assert not gen.get("literals"), (
                    f"{path}: secretGenerator {gen['name']} has literals"
                )
                for entry in (gen.get("files") or []) + (gen.get("envs") or []):
                    source = (path.parent / entry.split("=", 1)[-1]).resolve()
                    rel = str(source.relative_to(render.ROOT))
                    if source in tracked:
                        assert rel in PUBLIC_SECRET_INPUTS, f"{rel}: a committed secret input"
                    else:
                        ignored = subprocess.run(
                            ["git", "check-ignore", "-q", rel], cwd=render.ROOT, check=False
                        )
                        assert ignored.returncode == 0, f"{rel}: secret input not git-ignored"


def test_dashboard_and_alerts_use_metrics_the_services_export(
    renders: dict[str, render.Rendered],
) -> None:
    """Every altlas_* series the Grafana dashboard and the alert rules query is one the services
    export (reference_services/common/metrics.py): a renamed metric must not leave a blank panel."""
    from prometheus_client.metrics import MetricWrapperBase

    import reference_services.common.metrics as metrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    exported = {
        m._name + suffix
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
        for suffix in suffixes[m._type]
    }
    prod = renders["overlay prod"]
    (dashboard,) = [
        c for c in prod.of_kind("ConfigMap") if c["metadata"]["name"] == "altlas-grafana-dashboard"
    ]
    exprs = [
        t["expr"]
        for panel in json.loads(dashboard["data"]["altlas-overview.json"])["panels"]
        for t in panel["targets"]
    ]
    exprs += [
        r["expr"]
        for rule in prod.of_kind("PrometheusRule")
        for g in rule["spec"]["groups"]
        for r in g["rules"]
    ]
    used = {name for e in exprs for name in re.findall(r"\baltlas_[a-z_]+", e)}
    assert used, "no altlas_ metric found in the dashboard and rules"
    assert used <= exported, f"not exported by the services: {sorted(used - exported)}"


def test_quick_look_command_reports_each_render(
    renders: dict[str, render.Rendered],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m harness.k8s` prints a line per render and fails when one has a problem."""
    from harness.k8s import __main__ as quick_look

    builds = list(renders.values())
    monkeypatch.setattr(render, "render_all", lambda: builds)
    assert quick_look.main() == 0
    assert "ok   overlay kind" in capsys.readouterr().out
    broken = render.Rendered(
        "broken", [o for o in builds[0].objects if o["kind"] != "PodDisruptionBudget"]
    )
    monkeypatch.setattr(render, "render_all", lambda: [broken])
    assert quick_look.main() == 1
    assert "expected one PodDisruptionBudget selecting its pods" in capsys.readouterr().out
