"""What only a real cluster can prove about the manifests: probes answered by a kubelet,
NetworkPolicies that drop packets, DNS, and volumes that outlive their pods.

Each test acts on the cluster the way an operator or a failure would, then watches the
Kubernetes API until the promised reaction is seen, within a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from typing import Any

import asyncpg

from harness.k8s.localcluster import K8S_VERSION, ZONES, LocalCluster, Node
from harness.polling import poll_until
from harness.stack.state import StackState

NAMESPACE = "altlas"

APP = "app.kubernetes.io/name"


def _kubectl(
    cluster: LocalCluster, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cluster.kubectl(*args), capture_output=True, text=True, timeout=timeout, check=False
    )


def _pods(core: Any, app: str) -> list[Any]:
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"{APP}={app}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _endpoint_ips(core: Any, service: str) -> set[str]:
    from kubernetes import client

    discovery = client.DiscoveryV1Api(core.api_client)
    slices = discovery.list_namespaced_endpoint_slice(
        NAMESPACE, label_selector=f"kubernetes.io/service-name={service}"
    ).items
    return {
        address
        for s in slices
        for e in s.endpoints or []
        if e.conditions and e.conditions.ready
        for address in e.addresses
    }


def test_the_cluster_is_kubernetes_built_here_with_a_ready_node_per_zone(
    cluster: LocalCluster,
) -> None:
    version = json.loads(_kubectl(cluster, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == K8S_VERSION, version
    nodes = json.loads(_kubectl(cluster, "get", "nodes", "-o", "json").stdout)["items"]
    zones = {}
    for node in nodes:
        name = node["metadata"]["name"]
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions.get("Ready") == "True", f"expected node {name} Ready: {conditions}"
        zones[name] = node["metadata"]["labels"].get("topology.kubernetes.io/zone")
    assert zones == {n.name: n.zone for n in cluster.nodes}, zones
    assert sorted(zones.values()) == list(ZONES)


def test_the_statefulsets_spread_over_the_nodes_as_the_base_asks(core: Any) -> None:
    # NATS has a hard one-per-machine spread: on three nodes, one each (a drained node then
    # takes one JetStream peer away, never two).
    nodes = [p.spec.node_name for p in _pods(core, "nats")]
    assert len(set(nodes)) == len(nodes) == 3, (
        f"expected the three NATS pods on three nodes, got {nodes}"
    )


async def test_every_altlas_pod_is_running_and_ready(core: Any) -> None:
    # Within a deadline: a pod the HPA or an earlier test just started is still starting.
    async def _not_ready() -> list[str]:
        pods = await asyncio.to_thread(lambda: core.list_namespaced_pod(NAMESPACE).items)
        assert pods, "expected ALT_LAS pods in the namespace"
        return [p.metadata.name for p in pods if p.status.phase != "Succeeded" and not _ready(p)]

    # The value awaited is an empty list (no pod waiting): `accept` says so; the last list of
    # waiting pods is in the message if it never empties.
    await poll_until(_not_ready, 180, "every ALT_LAS pod to be ready", accept=lambda w: not w)


def _connect_from(cluster: LocalCluster, pod: str, host: str, port: int) -> str:
    """Try a TCP connection from inside `pod` (Python is in every service image)."""
    code = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout(4)\n"
        f"try:\n s.connect(({host!r},{port})); print('connected')\n"
        "except Exception as e: print(type(e).__name__)\n"
    )
    done = _kubectl(cluster, "-n", NAMESPACE, "exec", pod, "--", "python", "-c", code)
    assert done.returncode == 0, f"kubectl exec in {pod} failed: {done.stderr}"
    return done.stdout.strip()


def test_network_policies_let_through_only_what_they_allow(
    cluster: LocalCluster, core: Any
) -> None:
    gateway = _pods(core, "gateway")[0].metadata.name
    segmentation = _pods(core, "segmentation")[0].metadata.name
    # The gateway may talk to PostgreSQL (allowed by name, resolved by the cluster's DNS) …
    assert _connect_from(cluster, gateway, "postgres", 5432) == "connected"
    # … segmentation may not: the base's default deny stops it on the way. kube-router rejects
    # such packets (a refusal; other enforcers drop them: a timeout). PostgreSQL listens (the
    # gateway just connected to the same name), so the refusal is the policy's, not a listener's.
    got = _connect_from(cluster, segmentation, "postgres", 5432)
    assert got in {"ConnectionRefusedError", "TimeoutError"}, (
        f"expected segmentation→postgres stopped by the NetworkPolicy, got {got}"
    )


def _host_pid(node: Node, container_id: str) -> int:
    tasks = subprocess.run(
        node.ctr("tasks", "ls"), capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for line in tasks[1:]:
        parts = line.split()
        if parts and parts[0] == container_id:
            return int(parts[1])
    raise AssertionError(f"container {container_id} has no running task on {node.name}")


async def test_a_frozen_pod_leaves_its_endpoints_then_liveness_restarts_it(
    cluster: LocalCluster, core: Any
) -> None:
    [pod, *_] = _pods(core, "runner")
    name, ip = pod.metadata.name, pod.status.pod_ip
    status = pod.status.container_statuses[0]
    restarts = status.restart_count
    assert ip in _endpoint_ips(core, "runner"), f"expected {name} ({ip}) among runner endpoints"
    pid = _host_pid(cluster.node(pod.spec.node_name), status.container_id.split("://", 1)[1])
    os.kill(pid, signal.SIGSTOP)  # frozen: alive to the kernel, silent to its probes
    try:

        async def _out_of_endpoints() -> bool:
            return ip not in await asyncio.to_thread(_endpoint_ips, core, "runner")

        await poll_until(_out_of_endpoints, 60, f"readiness to take {name} out of endpoints")

        async def _restarted() -> int:
            current = await asyncio.to_thread(core.read_namespaced_pod, name, NAMESPACE)
            count: int = current.status.container_statuses[0].restart_count
            return count if count > restarts else 0

        await poll_until(_restarted, 120, f"liveness to restart the frozen {name}")
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass  # restarted: the frozen process is gone, as it should be

    async def _back() -> bool:
        return ip in await asyncio.to_thread(_endpoint_ips, core, "runner")

    await poll_until(_back, 120, f"the restarted {name} back among runner endpoints")


async def test_a_statefulset_pod_deleted_comes_back_with_its_data(
    stack: StackState, core: Any, apps: Any
) -> None:
    dsn = stack.endpoints["postgres"]
    marker = f"survivor-{os.getpid()}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS harness_pvc_check (marker text)")
        await conn.execute("INSERT INTO harness_pvc_check VALUES ($1)", marker)
    finally:
        await conn.close()
    [pod] = _pods(core, "postgres")
    uid = pod.metadata.uid
    core.delete_namespaced_pod(pod.metadata.name, NAMESPACE)

    async def _replaced() -> bool:
        pods = await asyncio.to_thread(_pods, core, "postgres")
        return bool(pods) and pods[0].metadata.uid != uid and _ready(pods[0])

    await poll_until(_replaced, 240, "postgres-0 to be recreated and ready", interval=1.0)

    async def _read() -> list[str]:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            query = "SELECT marker FROM harness_pvc_check WHERE marker = $1"
            rows = await conn.fetch(query, marker)
        finally:
            await conn.close()
        return [r["marker"] for r in rows]

    # Through the supervised port-forward, which follows the new pod.
    found = await poll_until(_read, 120, "the marker row through the new postgres-0")
    assert found == [marker], f"expected the row written before the deletion, got {found}"


def test_opensearch_pods_form_the_cluster_the_base_names(stack: StackState, apps: Any) -> None:
    # Found on the first real run: the local image ignored the base's settings, so each pod was
    # a one-node cluster of its own behind one Service, and a search missed what the others held.
    import httpx

    replicas = apps.read_namespaced_stateful_set("opensearch", NAMESPACE).spec.replicas
    url = stack.endpoints["opensearch"]
    health = httpx.get(f"{url}/_cluster/health", timeout=10).json()
    assert (health["cluster_name"], health["number_of_nodes"]) == ("altlas", replicas), health
    nodes = httpx.get(f"{url}/_cat/nodes?h=name&format=json", timeout=10).json()
    assert sorted(n["name"] for n in nodes) == [f"opensearch-{i}" for i in range(replicas)]


async def test_metrics_server_serves_node_and_pod_metrics(cluster: LocalCluster) -> None:
    # Found on the first real run: pods had no route to the node's address, so metrics-server
    # could not scrape the kubelet and the HPAs had nothing to scale on.
    async def _top() -> str:
        done = await asyncio.to_thread(_kubectl, cluster, "-n", NAMESPACE, "top", "pod")
        return done.stdout if done.returncode == 0 and "gateway" in done.stdout else ""

    table = await poll_until(_top, 120, "`kubectl top pod` to list the ALT_LAS pods")
    assert "MEMORY" in table, table


async def test_a_disruption_budget_refuses_a_second_nats_eviction(core: Any, apps: Any) -> None:
    # The base's PDB lets one of three JetStream peers go at a time (quorum stays): while the
    # first evicted one is away, the API refuses to evict another (429), as a drain would meet.
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    def _evict(name: str) -> None:
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=NAMESPACE))
        core.create_namespaced_pod_eviction(name, NAMESPACE, body)

    first, second, *_ = sorted(p.metadata.name for p in _pods(core, "nats"))
    _evict(first)
    try:
        _evict(second)
    except ApiException as exc:
        assert exc.status == 429, f"expected 429 (the budget), got {exc.status}: {exc.body}"
    else:
        raise AssertionError(f"{second} was evicted while {first} was away: the PDB let it go")

    async def _all_ready() -> bool:
        sts = await asyncio.to_thread(apps.read_namespaced_stateful_set, "nats", NAMESPACE)
        pods = await asyncio.to_thread(_pods, core, "nats")
        want = sts.spec.replicas
        return (
            (sts.status.ready_replicas or 0) == want
            and len(pods) == want
            and all(_ready(p) for p in pods)
        )

    await poll_until(_all_ready, 240, "the three NATS pods ready again", interval=1.0)
