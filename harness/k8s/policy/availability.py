"""Staying up through change: autoscaling, disruption budgets, spread, graceful termination,
and a JetStream store that fits its volume."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from harness.k8s.objects import (
    SERVICES,
    Manifest,
    Workload,
    container_env,
    find,
    matches,
    name_of,
    quantity,
    ref,
    service_workloads,
    workloads,
)

# JetStream's file store may take this share of its volume at most (the rest: the store's own
# indexes and the head-room a compaction needs); a full disk disables JetStream.
JETSTREAM_VOLUME_SHARE = 0.85
_NATS_SIZE = re.compile(r"([0-9.]+)\s*([KMGT]?)B?", re.I)


def nats_size(value: str) -> int:
    """A NATS size ("768MB", "8GB", "1G", "1048576") in bytes (NATS counts in powers of 1024)."""
    m = _NATS_SIZE.fullmatch(value.strip())
    if not m:
        raise ValueError(f"not a NATS size: {value!r}")
    return int(float(m.group(1)) * 1024 ** "_KMGT".index(m.group(2).upper() or "_"))


# The preStop pause before SIGTERM plus a margin for closing connections, on top of twice
# ALTLAS_SHUTDOWN_GRACE_S (uvicorn's drain, then in-flight handlers: common/app.py, messaging.py).
SHUTDOWN_MARGIN_S = 5


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


def jetstream_storage(objects: Sequence[Manifest]) -> list[str]:
    """NATS's JetStream file store limit (JETSTREAM_MAX_FILE_STORE, read by nats.conf) is set
    and fits its data volume with room to spare."""
    found = []
    for w in workloads(objects):
        if w.kind != "StatefulSet" or w.name != "nats":
            continue
        c = w.container("nats")
        env = container_env(c or {}, objects).get("JETSTREAM_MAX_FILE_STORE")
        claims = {
            t["metadata"]["name"]: t["spec"]["resources"]["requests"]["storage"]
            for t in (w.obj.get("spec") or {}).get("volumeClaimTemplates") or []
        }
        if env is None or env.value is None or "data" not in claims:
            found.append(
                f"{w.ref}: expected JETSTREAM_MAX_FILE_STORE and a `data` volume claim,"
                f" found {env.value if env else None!r} and {sorted(claims)}"
            )
            continue
        limit, volume = nats_size(env.value), quantity(claims["data"])
        if limit > volume * Decimal(JETSTREAM_VOLUME_SHARE):
            found.append(
                f"{w.ref}: expected JETSTREAM_MAX_FILE_STORE <= {JETSTREAM_VOLUME_SHARE:.0%} of"
                f" its {claims['data']} volume, found {env.value}"
            )
    return found


_JVM_SIZE = re.compile(r"-Xm([sx])([0-9]+)([kmg])", re.I)
# The JVM heap takes at most half the container's memory: Lucene lives on the file-system cache
# and the JVM needs memory beyond its heap (OpenSearch's own sizing advice).
HEAP_SHARE = 0.5


def opensearch_heap(objects: Sequence[Manifest]) -> list[str]:
    """OpenSearch's heap is fixed (-Xms = -Xmx, a bootstrap check) and at most half the
    container's memory limit."""
    found = []
    for w in workloads(objects):
        if w.kind != "StatefulSet" or w.name != "opensearch":
            continue
        c = w.container("opensearch") or {}
        opts = container_env(c, objects).get("OPENSEARCH_JAVA_OPTS")
        sizes = {
            kind.lower(): int(n) * 1024 ** "kmg".index(unit.lower()) * 1024
            for kind, n, unit in _JVM_SIZE.findall(opts.value if opts and opts.value else "")
        }
        limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
        if set(sizes) != {"s", "x"} or sizes["s"] != sizes["x"]:
            found.append(
                f"{w.ref}: expected OPENSEARCH_JAVA_OPTS with -Xms equal to -Xmx,"
                f" found {opts.value if opts else None!r}"
            )
        elif limit is None or sizes["x"] > quantity(limit) * Decimal(HEAP_SHARE):
            found.append(
                f"{w.ref}: expected a heap of at most {HEAP_SHARE:.0%} of the memory limit"
                f" {limit}, found {opts.value if opts else None!r}"
            )
    return found


# The services' pool size when ALTLAS_DB_POOL_MAX is not set (DatabaseSettings.db_pool_max;
# tests/k8s holds this to the services' default) and what PostgreSQL keeps aside: its
# superuser_reserved_connections (3) and room for an operator's psql, a backup, a migration Job.
DEFAULT_POOL_MAX = 10
RESERVED_CONNECTIONS = 3 + 10
_MAX_CONNECTIONS = re.compile(r"^max_connections=([0-9]+)$")


def database_connections(objects: Sequence[Manifest]) -> list[str]:
    """At full scale (every HPA at maxReplicas) the services' pools fit in PostgreSQL's
    max_connections with the reserve left: Σ maxReplicas × ALTLAS_DB_POOL_MAX + reserve ≤
    max_connections. Past it, a scale-up meets "too many connections" exactly when load peaks."""
    postgres = [w for w in workloads(objects) if w.name == "postgres"]
    if not postgres:
        return []
    container = postgres[0].container("postgres") or {}
    limits = [
        int(m.group(1))
        for arg in container.get("args") or []
        if (m := _MAX_CONNECTIONS.match(str(arg)))
    ]
    if not limits:
        return [f"{postgres[0].ref}: expected an explicit -c max_connections=N in its args"]
    demand, parts = 0, []
    for w in service_workloads(objects):
        env = {}
        for c in w.containers:
            env.update(container_env(c, objects))
        if "ALTLAS_DATABASE_URL" not in env:
            continue
        pool_env = env.get("ALTLAS_DB_POOL_MAX")
        pool = int(pool_env.value) if pool_env and pool_env.value else DEFAULT_POOL_MAX
        hpa = _hpa_for(w, objects)
        pods = (
            int((hpa.get("spec") or {}).get("maxReplicas", 1))
            if hpa is not None
            else int((w.obj.get("spec") or {}).get("replicas", 1))
        )
        demand += pods * pool
        parts.append(f"{w.name} {pods}×{pool}")
    if demand + RESERVED_CONNECTIONS > limits[-1]:
        return [
            f"{postgres[0].ref}: expected max_connections ≥ {demand + RESERVED_CONNECTIONS}"
            f" ({' + '.join(parts)} = {demand} at maxReplicas, + {RESERVED_CONNECTIONS} reserved),"
            f" found {limits[-1]}"
        ]
    return []
