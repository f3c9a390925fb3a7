"""Chaos Toolkit activities for the kind target that chaostoolkit-kubernetes does not have:
wait for a rollout to complete, cut one NetworkPolicy's egress to one app (and put it back),
and drain a node the way `kubectl drain` does (evictions retried while a PodDisruptionBudget
says no, where chaostoolkit-kubernetes' drain_nodes gives up on the first refusal).

    {"type": "python", "module": "harness.chaos.k8s", "func": "deny_egress",
     "arguments": {"policy": "runner", "to": "nats"}}

The cluster is the one chaostoolkit-kubernetes talks to (kubeconfig, KUBERNETES_CONTEXT).
The workload, steady-state probes and checker are the shared ones (harness.chaos.actions and
harness.chaos.probes), reading the endpoints of the kind stack from its state file.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from typing import Any

from chaoslib.exceptions import ActivityFailed

from harness.chaos._runtime import run
from harness.polling import poll_until

__all__ = [
    "deny_egress",
    "drain_node",
    "egress_denied",
    "restore_network_policy",
    "rollout_complete",
]

NAMESPACE = "altlas"
APP_LABEL = "app.kubernetes.io/name"
logger = logging.getLogger("chaostoolkit")
# Where deny_egress keeps the policy's spec as it was, for restore_network_policy.
ORIGINAL = "altlas.io/chaos-original-spec"


def _api() -> Any:
    from chaosk8s import create_k8s_api_client

    return create_k8s_api_client()


def rollout_complete(
    name: str, kind: str = "deployment", ns: str = NAMESPACE, timeout_s: float = 300
) -> bool:
    """Wait until every replica of a Deployment or StatefulSet runs the current template and is
    ready (what `kubectl rollout status` waits for), and its pods are exactly that many, all
    ready, none terminating: right after pods are deleted the workload's status still counts
    them as ready for a moment, and a check of the status alone would pass too early."""
    from kubernetes import client

    api = _api()
    apps: Any = client.AppsV1Api(api)  # typed loosely: its models' fields are Optional
    core: Any = client.CoreV1Api(api)
    method = {
        "deployment": "read_namespaced_deployment_status",
        "statefulset": "read_namespaced_stateful_set_status",
    }.get(kind.lower())
    if method is None:
        raise ActivityFailed(f"unknown workload kind {kind!r}: deployment or statefulset")
    read = getattr(apps, method)

    async def _done() -> bool:
        obj = await asyncio.to_thread(read, name, ns)
        want = obj.spec.replicas or 0
        status = obj.status
        current = (status.observed_generation or 0) >= (obj.metadata.generation or 0)
        updated = (status.updated_replicas or 0) == want
        ready = (status.ready_replicas or 0) == want
        if kind.lower() == "statefulset":
            updated = updated and status.current_revision == status.update_revision
        if not (current and updated and ready):
            return False
        selector = ",".join(f"{k}={v}" for k, v in (obj.spec.selector.match_labels or {}).items())
        pods = (
            await asyncio.to_thread(core.list_namespaced_pod, ns, label_selector=selector)
        ).items
        return len(pods) == want and all(_pod_ready(p) for p in pods)

    return run(poll_until(_done, float(timeout_s), f"the rollout of {kind}/{name} in {ns}"))


def _pod_ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None:
        return False
    conditions = pod.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _selects_app(peer: dict[str, Any], app: str) -> bool:
    labels = ((peer.get("podSelector") or {}).get("matchLabels")) or {}
    values = [
        e.get("values") or []
        for e in (peer.get("podSelector") or {}).get("matchExpressions") or []
        if e.get("key") == APP_LABEL and e.get("operator") == "In"
    ]
    return labels.get(APP_LABEL) == app or any(app in v for v in values)


def without_egress_to(spec: dict[str, Any], app: str) -> dict[str, Any]:
    """The policy spec with every egress peer that selects `app`'s pods removed (a rule left
    with no peer is removed whole: an empty `to` would allow everything)."""
    out = copy.deepcopy(spec)
    rules = []
    for rule in out.get("egress") or []:
        peers = [p for p in rule.get("to") or [] if not _selects_app(p, app)]
        if not rule.get("to"):
            rules.append(rule)  # no peers named: not a rule about `app`
        elif peers:
            rules.append({**rule, "to": peers})
    out["egress"] = rules
    return out


def deny_egress(policy: str, to: str, ns: str = NAMESPACE) -> str:
    """Take the egress to `to`'s pods out of NetworkPolicy `policy` (NetworkPolicies only
    allow, so a deny is an allow removed). New connections from the pods it selects to `to`
    are then dropped by the default deny. Heal with restore_network_policy."""
    from kubernetes import client

    net: Any = client.NetworkingV1Api(_api())
    live = net.read_namespaced_network_policy(policy, ns)
    annotations = dict(live.metadata.annotations or {})
    if ORIGINAL in annotations:
        raise ActivityFailed(f"NetworkPolicy {policy} is already modified by an experiment")
    spec: dict[str, Any] = client.ApiClient().sanitize_for_serialization(live.spec)  # type: ignore[no-untyped-call]
    cut = without_egress_to(spec, to)
    if cut == spec:
        raise ActivityFailed(f"NetworkPolicy {policy} has no egress rule to {to}: nothing to deny")
    annotations[ORIGINAL] = json.dumps(spec, sort_keys=True)
    body = {"metadata": {"annotations": annotations}, "spec": cut}
    net.patch_namespaced_network_policy(policy, ns, body)
    return f"egress from NetworkPolicy {policy} to {to} removed"


# Run inside a pod (Python is in every service image): one TCP connection attempt, its outcome.
_CONNECT = """import socket
s = socket.socket()
s.settimeout({timeout})
try:
    s.connect(({host!r}, {port}))
    print("connected")
except Exception as e:
    print(type(e).__name__)
"""


def _connect_from(core: Any, pod: str, ns: str, host: str, port: int) -> str | None:
    """The outcome of a TCP connection from `pod` to host:port, or None when nothing in the pod
    can run it yet (its container is restarting)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.stream import stream

    code = _CONNECT.format(host=host, port=port, timeout=4)
    try:
        out = stream(
            core.connect_get_namespaced_pod_exec, pod, ns, command=["python", "-c", code],
            stderr=True, stdin=False, stdout=True, tty=False, _request_timeout=30,
        )  # fmt: skip
    except (ApiException, OSError) as exc:
        logger.info(f"exec in {pod} not possible yet: {exc}")
        return None
    lines = str(out).strip().splitlines()
    return lines[-1] if lines else None


def egress_denied(app: str, to: str, port: int, ns: str = NAMESPACE, timeout_s: float = 90) -> str:
    """Check that a deny_egress took effect where it matters, on the pods of `app` started
    after it: none of them is ready (their readiness needs `to`), and a TCP connection from
    inside each to `to`:`port` is refused or times out. Fails if one connects or is ready:
    the experiment would otherwise pass without having denied anything (a policy the
    enforcer ignored, or a pod that connected before the enforcer saw it)."""
    from kubernetes import client

    core: Any = client.CoreV1Api(_api())
    outcomes: dict[str, str] = {}
    breaches: list[str] = []  # found: stop polling (poll_until retries what raises)

    async def _checked() -> bool:
        pods = [
            p
            for p in (await asyncio.to_thread(
                core.list_namespaced_pod, ns, label_selector=f"{APP_LABEL}={app}"
            )).items
            if p.metadata.deletion_timestamp is None
        ]  # fmt: skip
        if ready := [p.metadata.name for p in pods if _pod_ready(p)]:
            breaches.append(
                f"{', '.join(ready)} ready while its egress to {to} is denied: it reached {to}"
            )
            return True
        for pod in pods:
            name = pod.metadata.name
            if name in outcomes:
                continue
            got = await asyncio.to_thread(_connect_from, core, name, ns, to, port)
            if got == "connected":
                breaches.append(f"{name} connected to {to}:{port} although it is denied")
                return True
            if got is not None:
                outcomes[name] = got
        return bool(pods) and all(p.metadata.name in outcomes for p in pods)

    what = f"a connection attempt from every {app} pod to {to}"
    run(poll_until(_checked, float(timeout_s), what))
    if breaches:
        raise ActivityFailed(breaches[0])
    return "; ".join(f"{pod}→{to}:{port}: {outcome}" for pod, outcome in sorted(outcomes.items()))


def restore_network_policy(policy: str, ns: str = NAMESPACE) -> str:
    """Put back the spec deny_egress saved; nothing to do when the policy was not modified."""
    from kubernetes import client

    net: Any = client.NetworkingV1Api(_api())
    live = net.read_namespaced_network_policy(policy, ns)
    annotations = dict(live.metadata.annotations or {})
    saved = annotations.pop(ORIGINAL, None)
    if saved is None:
        return f"NetworkPolicy {policy} was not modified"
    live.spec = client.V1NetworkPolicySpec.from_dict(json.loads(saved))
    live.metadata.annotations = annotations
    net.replace_namespaced_network_policy(policy, ns, live)
    return f"NetworkPolicy {policy} restored"


def drain_node(label_selector: str, timeout_s: float = 300) -> dict[str, Any]:
    """Cordon the nodes matching `label_selector` and evict their pods (DaemonSet and mirror
    pods stay), retrying an eviction a PodDisruptionBudget refuses until `timeout_s`, then wait
    until the evicted pods are gone. Returns the nodes, the pods evicted and how many times a
    budget said not now (for the journal). Heal with chaosk8s' uncordon_node."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core: Any = client.CoreV1Api(_api())
    nodes: list[str] = [
        n.metadata.name for n in core.list_node(label_selector=label_selector).items
    ]
    if not nodes:
        raise ActivityFailed(f"no node matches {label_selector!r}")
    for node in nodes:
        core.patch_node(node, {"spec": {"unschedulable": True}})
    pods = [
        p
        for node in nodes
        for p in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
        if not any(o.kind == "DaemonSet" for o in p.metadata.owner_references or [])
        and "kubernetes.io/config.mirror" not in (p.metadata.annotations or {})
        and p.status.phase not in ("Succeeded", "Failed")
    ]
    pending = {(p.metadata.namespace, p.metadata.name): p.metadata.uid for p in pods}
    accepted: set[tuple[str, str]] = set()
    refusals: dict[str, int] = {}

    async def _evicted() -> bool:
        for ns, name in [key for key in pending if key not in accepted]:
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))
            try:
                await asyncio.to_thread(core.create_namespaced_pod_eviction, name, ns, body)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                if exc.status != 429:  # 429: a disruption budget says not now
                    raise
                refusals[f"{ns}/{name}"] = refusals.get(f"{ns}/{name}", 0) + 1
                continue
            accepted.add((ns, name))
        return True

    async def _gone() -> bool:
        for (ns, name), uid in list(pending.items()):
            try:
                pod = await asyncio.to_thread(core.read_namespaced_pod, name, ns)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                pending.pop((ns, name))
                continue
            if pod.metadata.uid != uid:
                pending.pop((ns, name))
        if pending:
            await _evicted()
        return not pending

    async def _drain() -> dict[str, Any]:
        await _evicted()
        await poll_until(
            _gone, float(timeout_s), f"the pods of {', '.join(nodes)} to be evicted", interval=1.0
        )
        evicted = sorted(f"{ns}/{name}" for ns, name in accepted)
        logger.info(f"evicted {len(evicted)} pods; refused by a budget: {refusals or 'none'}")
        return {"nodes": nodes, "evicted": evicted, "refusals": refusals}

    return run(_drain())
