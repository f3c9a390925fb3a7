"""Each policy check can fail: fed a render with one deliberately broken object, it reports a
violation that says what was expected. (The passing side is test_manifests.py.)"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from harness.k8s import policy, render
from harness.k8s.objects import Manifest

Mutation = Callable[[list[Manifest]], None]


def obj(objects: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def container(objects: list[Manifest], kind: str, name: str, index: int = 0) -> dict[str, Any]:
    c: dict[str, Any] = obj(objects, kind, name)["spec"]["template"]["spec"]["containers"][index]
    return c


def pod(objects: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    p: dict[str, Any] = obj(objects, kind, name)["spec"]["template"]["spec"]
    return p


def env_set(objects: list[Manifest], deployment: str, name: str, value: str) -> None:
    env = container(objects, "Deployment", deployment).setdefault("env", [])
    env[:] = [e for e in env if e["name"] != name] + [{"name": name, "value": value}]


def config_set(objects: list[Manifest], key: str, value: str) -> None:
    (cm,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("altlas-config")
    ]
    cm["data"][key] = value


def remove(objects: list[Manifest], kind: str, name: str) -> None:
    objects.remove(obj(objects, kind, name))


CASES: list[tuple[str, str, Mutation, str]] = [
    # (policy, what is broken, mutation, expected text in a violation)
    (
        "probes",
        "readiness probe on /livez",
        lambda o: container(o, "Deployment", "runner")["readinessProbe"]["httpGet"].update(
            path="/livez"
        ),
        "Deployment/runner container runner: expected readinessProbe httpGet /readyz",
    ),
    (
        "probes",
        "no startup probe",
        lambda o: container(o, "Deployment", "gateway").pop("startupProbe"),
        "expected startupProbe httpGet /livez, found None",
    ),
    (
        "probes",
        "data store without liveness probe",
        lambda o: container(o, "StatefulSet", "nats").pop("livenessProbe"),
        "StatefulSet/nats container nats: expected a livenessProbe",
    ),
    (
        "resources",
        "no memory limit",
        lambda o: container(o, "Deployment", "archive")["resources"]["limits"].pop("memory"),
        "Deployment/archive container archive: expected resources.limits.memory",
    ),
    (
        "resources",
        "request above limit",
        lambda o: container(o, "StatefulSet", "postgres")["resources"]["requests"].update(
            memory="4Gi"
        ),
        "expected memory request 4Gi <= limit 1Gi",
    ),
    (
        "security",
        "root user",
        lambda o: pod(o, "Deployment", "segmentation")["securityContext"].update(runAsUser=0),
        "expected a non-zero runAsUser, found 0",
    ),
    (
        "security",
        "runAsNonRoot off",
        lambda o: pod(o, "StatefulSet", "nats")["securityContext"].pop("runAsNonRoot"),
        "StatefulSet/nats: expected securityContext.runAsNonRoot true",
    ),
    (
        "security",
        "writable root file system",
        lambda o: container(o, "Deployment", "gateway")["securityContext"].update(
            readOnlyRootFilesystem=False
        ),
        "expected readOnlyRootFilesystem true, found False",
    ),
    (
        "security",
        "privilege escalation",
        lambda o: container(o, "StatefulSet", "postgres")["securityContext"].pop(
            "allowPrivilegeEscalation"
        ),
        "expected allowPrivilegeEscalation false",
    ),
    (
        "security",
        "capability added",
        lambda o: container(o, "Deployment", "runner")["securityContext"]["capabilities"].update(
            add=["NET_ADMIN"]
        ),
        "expected no added capabilities",
    ),
    (
        "security",
        "a service not running as the image's user",
        lambda o: pod(o, "Deployment", "archive")["securityContext"].update(runAsUser=1000),
        "expected runAsUser 10001",
    ),
    (
        "image_tags",
        "latest tag",
        lambda o: container(o, "StatefulSet", "nats").update(image="nats:latest"),
        "expected an image with a version tag or digest, found 'nats:latest'",
    ),
    (
        "image_tags",
        "no tag",
        lambda o: container(o, "Deployment", "gateway").update(
            image="registry:5000/altlas/gateway"
        ),
        "found 'registry:5000/altlas/gateway'",
    ),
    (
        "autoscaling",
        "no HPA",
        lambda o: remove(o, "HorizontalPodAutoscaler", "runner"),
        "Deployment/runner: expected a HorizontalPodAutoscaler targeting it",
    ),
    (
        "autoscaling",
        "replicas set beside the HPA",
        lambda o: obj(o, "Deployment", "gateway")["spec"].update(replicas=2),
        "expected no spec.replicas (the HPA owns it)",
    ),
    (
        "autoscaling",
        "a single replica",
        lambda o: obj(o, "HorizontalPodAutoscaler", "archive")["spec"].update(minReplicas=1),
        "expected minReplicas >= 2, found 1",
    ),
    (
        "disruption_budgets",
        "no PDB",
        lambda o: remove(o, "PodDisruptionBudget", "segmentation"),
        "Deployment/segmentation: expected one PodDisruptionBudget selecting its pods, found []",
    ),
    (
        "disruption_budgets",
        "a PDB that blocks every drain",
        lambda o: obj(o, "PodDisruptionBudget", "nats")["spec"].update(maxUnavailable=0),
        "expected a budget that allows one disruption",
    ),
    (
        "topology_spread",
        "no spread",
        lambda o: pod(o, "StatefulSet", "opensearch").pop("topologySpreadConstraints"),
        "StatefulSet/opensearch: expected a topologySpreadConstraint on kubernetes.io/hostname",
    ),
    (
        "graceful_termination",
        "grace period shorter than the shutdown",
        lambda o: pod(o, "Deployment", "runner").update(terminationGracePeriodSeconds=10),
        "terminationGracePeriodSeconds >= 30 (preStop 5 + 2 x ALTLAS_SHUTDOWN_GRACE_S 10 + 5)",
    ),
    (
        "graceful_termination",
        "a longer shutdown grace than the pod gets",
        lambda o: config_set(o, "ALTLAS_SHUTDOWN_GRACE_S", "30"),
        "expected terminationGracePeriodSeconds >= 70",
    ),
    (
        "jetstream_storage",
        "a file store larger than its volume",
        lambda o: next(
            e
            for e in container(o, "StatefulSet", "nats")["env"]
            if e["name"] == "JETSTREAM_MAX_FILE_STORE"
        ).update(value="12GB"),
        "expected JETSTREAM_MAX_FILE_STORE <= 85% of its 10Gi volume, found 12GB",
    ),
    (
        "jetstream_storage",
        "no file store limit",
        lambda o: container(o, "StatefulSet", "nats").update(
            env=[
                e
                for e in container(o, "StatefulSet", "nats")["env"]
                if e["name"] != "JETSTREAM_MAX_FILE_STORE"
            ]
        ),
        "expected JETSTREAM_MAX_FILE_STORE and a `data` volume claim, found None",
    ),
    (
        "database_connections",
        "pools that outgrow max_connections at full scale",
        lambda o: env_set(o, "archive", "ALTLAS_DB_POOL_MAX", "20"),
        "expected max_connections ≥ 269 (archive 8×20 + gateway 8×6 + runner 8×6 = 256",
    ),
    (
        "database_connections",
        "a server without an explicit limit",
        lambda o: container(o, "StatefulSet", "postgres")["args"].remove("max_connections=200"),
        "StatefulSet/postgres: expected an explicit -c max_connections=N",
    ),
    (
        "opensearch_heap",
        "a heap as large as the container",
        lambda o: next(
            e
            for e in container(o, "StatefulSet", "opensearch")["env"]
            if e["name"] == "OPENSEARCH_JAVA_OPTS"
        ).update(value="-Xms2g -Xmx2g"),
        "expected a heap of at most 50% of the memory limit 2Gi, found '-Xms2g -Xmx2g'",
    ),
    (
        "opensearch_heap",
        "a heap that grows",
        lambda o: next(
            e
            for e in container(o, "StatefulSet", "opensearch")["env"]
            if e["name"] == "OPENSEARCH_JAVA_OPTS"
        ).update(value="-Xms256m -Xmx1g"),
        "expected OPENSEARCH_JAVA_OPTS with -Xms equal to -Xmx",
    ),
    (
        "exposure",
        "a second service behind the Ingress",
        lambda o: obj(o, "Ingress", "gateway")["spec"]["rules"][0]["http"]["paths"].append(
            {
                "path": "/archive",
                "pathType": "Prefix",
                "backend": {"service": {"name": "archive", "port": {"number": 8080}}},
            }
        ),
        "Ingress/gateway: expected every backend to be the gateway Service, found 'archive'",
    ),
    (
        "exposure",
        "a NodePort",
        lambda o: obj(o, "Service", "opensearch")["spec"].update(type="NodePort"),
        "Service/opensearch: expected ClusterIP (only the gateway is exposed), found NodePort",
    ),
    (
        "network_policies",
        "no default deny",
        lambda o: remove(o, "NetworkPolicy", "default-deny-all"),
        "expected a default-deny NetworkPolicy",
    ),
    (
        "network_policies",
        "a link the services use is not allowed",
        lambda o: obj(o, "NetworkPolicy", "archive")["spec"]["egress"].pop(2),
        "archive -> opensearch:9200 (ALTLAS_OPENSEARCH_URL): expected egress allowed",
    ),
    (
        "network_policies",
        "a portal document's link not allowed (an entry of an ALTLAS_*_URLS object)",
        lambda o: obj(o, "NetworkPolicy", "runner")["spec"].pop("ingress"),
        "gateway -> runner:8080 (ALTLAS_PORTAL_OPENAPI_URLS[runner]): expected ingress allowed",
    ),
    (
        "network_policies",
        "ingress side of a link missing",
        lambda o: obj(o, "NetworkPolicy", "postgres")["spec"]["ingress"][0]["from"][0][
            "podSelector"
        ]["matchExpressions"][0].update(values=["gateway", "archive"]),
        "runner -> postgres:5432 (ALTLAS_DATABASE_URL): expected ingress allowed",
    ),
    (
        "network_policies",
        "an allow-all rule",
        lambda o: obj(o, "NetworkPolicy", "gateway")["spec"]["ingress"][0].pop("from"),
        "NetworkPolicy/gateway ingress[0]: expected peers named",
    ),
    (
        "network_policies",
        "NATS nodes cut from each other",
        lambda o: obj(o, "NetworkPolicy", "nats")["spec"].pop("egress"),
        "StatefulSet/nats: expected its pods to reach each other on cluster (6222),"
        " found egress denied",
    ),
    (
        "network_policies",
        "OpenSearch transport refused",
        lambda o: obj(o, "NetworkPolicy", "opensearch")["spec"]["ingress"].pop(1),
        "StatefulSet/opensearch: expected its pods to reach each other on transport (9300)",
    ),
    (
        "network_policies",
        "DNS denied",
        lambda o: remove(o, "NetworkPolicy", "allow-dns"),
        "expected DNS (kube-dns:53) allowed",
    ),
    (
        "network_policies",
        "a pod with no policy of its own",
        lambda o: remove(o, "NetworkPolicy", "segmentation"),
        "Deployment/segmentation: expected a NetworkPolicy selecting its pods",
    ),
    (
        "network_policies",
        "the ingress controller cannot reach the gateway",
        lambda o: obj(o, "NetworkPolicy", "gateway")["spec"].pop("ingress"),
        "expected the ingress controller (namespace ingress-nginx) allowed into the gateway",
    ),
    (
        "inline_secrets",
        "a password written inline",
        lambda o: container(o, "StatefulSet", "postgres")["env"].append(
            {"name": "EXTRA_PASSWORD", "value": "hunter2"}
        ),
        "expected EXTRA_PASSWORD from a secretKeyRef, found an inline value",
    ),
    (
        "inline_secrets",
        "a database URL with its password",
        lambda o: env_set(
            o, "runner", "ALTLAS_DATABASE_URL", "postgresql://runner:hunter2@postgres:5432/runner"
        ),
        "expected the password in ALTLAS_DATABASE_URL as $(VAR) from a Secret",
    ),
    (
        "inline_secrets",
        "a secret in a ConfigMap",
        lambda o: config_set(o, "ALTLAS_JWT_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----"),
        "expected no secret in a ConfigMap, found key ALTLAS_JWT_PRIVATE_KEY",
    ),
    (
        "references",
        "a Secret that does not exist",
        lambda o: next(x for x in o if x["kind"] == "Secret")["metadata"].update(name="renamed"),
        "expected Secret/altlas-secrets-",
    ),
    (
        "references",
        "a StatefulSet's service missing",
        lambda o: remove(o, "Service", "nats-headless"),
        "StatefulSet/nats: expected Service/nats-headless in the render",
    ),
    (
        "references",
        "an Ingress port the Service lacks",
        lambda o: obj(o, "Ingress", "gateway")["spec"]["rules"][0]["http"]["paths"][0]["backend"][
            "service"
        ].update(port={"name": "web"}),
        "expected port {'name': 'web'} on Service/gateway",
    ),
]


@pytest.fixture(scope="module")
def base(renders: dict[str, render.Rendered]) -> list[Manifest]:
    return renders["base + no component"].objects


@pytest.mark.parametrize(
    ("check", "what", "mutate", "expected"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES]
)
def test_policy_rejects(
    base: list[Manifest], check: str, what: str, mutate: Mutation, expected: str
) -> None:
    objects = copy.deepcopy(base)
    assert not policy.POLICIES[check](objects), "the unbroken render must pass first"
    mutate(objects)
    violations = policy.POLICIES[check](objects)
    assert any(expected in v for v in violations), (
        f"{check} did not reject {what}: expected a violation containing {expected!r},"
        f" got {violations}"
    )


def test_every_policy_has_a_failing_case() -> None:
    assert {c[0] for c in CASES} == set(policy.POLICIES)


def test_the_pool_default_the_policy_assumes_is_the_services() -> None:
    from reference_services.common.settings import DatabaseSettings

    default = DatabaseSettings.model_fields["db_pool_max"].default
    assert default == policy.availability.DEFAULT_POOL_MAX, (
        f"harness.k8s.policy assumes a pool of {policy.availability.DEFAULT_POOL_MAX} where"
        f" ALTLAS_DB_POOL_MAX is unset; the services' default is {default}"
    )


SETTINGS_CASES: list[tuple[str, Mutation, str]] = [
    (
        "a misspelt setting (pydantic would ignore it)",
        lambda o: env_set(o, "archive", "ALTLAS_OPENSEARCH_ULR", "http://opensearch:9200"),
        "found ALTLAS_OPENSEARCH_ULR (no such field)",
    ),
    (
        "a required setting missing",
        lambda o: container(o, "Deployment", "gateway")["env"].remove(
            next(
                e
                for e in container(o, "Deployment", "gateway")["env"]
                if e["name"] == "ALTLAS_JWT_PRIVATE_KEY"
            )
        ),
        "expected the required setting ALTLAS_JWT_PRIVATE_KEY",
    ),
    (
        "the app on another port than the container's",
        lambda o: config_set(o, "ALTLAS_PORT", "8000"),
        "expected ALTLAS_PORT 8080, found 8000",
    ),
    (
        "listening on loopback only",
        lambda o: config_set(o, "ALTLAS_HOST", "127.0.0.1"),
        "expected ALTLAS_HOST 0.0.0.0",
    ),
    (
        "a probe on the wrong port",
        lambda o: container(o, "Deployment", "runner")["livenessProbe"]["httpGet"].update(
            port=9090
        ),
        "expected livenessProbe on port 8080, found 9090",
    ),
    (
        "a Service leading elsewhere",
        lambda o: obj(o, "Service", "segmentation")["spec"]["ports"][0].update(targetPort=8000),
        "Service/segmentation port http: expected targetPort -> 8080, found 8000",
    ),
    (
        "a URL naming no Service",
        lambda o: env_set(o, "gateway", "ALTLAS_ARCHIVE_URL", "http://archive-svc:8080"),
        "expected a Service of that name in the render",
    ),
    (
        "a URL on a port the Service lacks",
        lambda o: env_set(o, "archive", "ALTLAS_OPENSEARCH_URL", "http://opensearch:9300"),
        "expected a port of Service/opensearch, found [9200]",
    ),
]


@pytest.mark.parametrize(
    ("what", "mutate", "expected"), SETTINGS_CASES, ids=[c[0] for c in SETTINGS_CASES]
)
def test_settings_and_ports_rejects(
    base: list[Manifest],
    settings_specs: dict[str, policy.SettingsSpec],
    what: str,
    mutate: Mutation,
    expected: str,
) -> None:
    objects = copy.deepcopy(base)
    specs = settings_specs
    assert not policy.settings_and_ports(objects, specs)
    mutate(objects)
    violations = policy.settings_and_ports(objects, specs)
    assert any(expected in v for v in violations), (
        f"settings_and_ports did not reject {what}: expected {expected!r}, got {violations}"
    )


def test_references_reject_a_servicemonitor_on_a_missing_port(
    renders: dict[str, render.Rendered],
) -> None:
    objects = copy.deepcopy(renders["overlay prod"].objects)
    obj(objects, "ServiceMonitor", "nats")["spec"]["endpoints"][0]["port"] = "prometheus"
    assert any(
        "expected a selected Service with port 'prometheus'" in v
        for v in policy.references(objects)
    )
