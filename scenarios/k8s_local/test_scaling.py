"""The gateway's HorizontalPodAutoscaler scales out under load, on CPU metrics that
metrics-server scrapes from the kubelet: what no offline check of the manifest can show."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from harness.k8s.localcluster import LocalCluster
from harness.polling import poll_until
from harness.stack.state import StackState

NAMESPACE = "altlas"
API = "/api/v1"


async def _tokens(http: httpx.AsyncClient, stack: StackState) -> list[str]:
    """One token per load account: the gateway rate-limits per user."""
    accounts = stack.credentials["load"]
    tokens = []
    for username in accounts["usernames"].split(","):
        resp = await http.post(
            f"{API}/auth/login", json={"username": username, "password": accounts["password"]}
        )
        resp.raise_for_status()
        tokens.append(resp.json()["access_token"])
    return tokens


async def _load(http: httpx.AsyncClient, token: str, stop: asyncio.Event) -> int:
    """Authenticated reads (token verification is the gateway's CPU) until `stop`."""
    sent = 0
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        with contextlib.suppress(httpx.HTTPError):
            await http.get(f"{API}/commands/{uuid.uuid4()}", headers=headers)
        sent += 1
    return sent


async def _desired(autoscaling: Any) -> Any:
    hpa = await asyncio.to_thread(
        autoscaling.read_namespaced_horizontal_pod_autoscaler, "gateway", NAMESPACE
    )
    return hpa


async def test_gateway_scales_out_under_load(
    stack: StackState, cluster: LocalCluster, core: Any
) -> None:
    from kubernetes import client

    autoscaling = client.AutoscalingV2Api(core.api_client)
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("gateway", NAMESPACE)
    floor, target = hpa.spec.min_replicas, hpa.spec.metrics[0].resource.target.average_utilization
    behavior = autoscaling.api_client.sanitize_for_serialization(hpa.spec.behavior)
    # Start from the floor, so that a scale-out is this load's doing: while idle, let the HPA
    # scale down at once (the base waits 5 minutes), then put the base's behaviour back.
    at_once = [{"type": "Percent", "value": 100, "periodSeconds": 15}]
    quick = {"scaleDown": {"stabilizationWindowSeconds": 0, "policies": at_once}}
    autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "gateway", NAMESPACE, {"spec": {"behavior": quick}}
    )
    stop = asyncio.Event()
    seen: list[Any] = []
    try:

        async def _at_floor() -> bool:
            return bool((await _desired(autoscaling)).status.desired_replicas == floor)

        await poll_until(_at_floor, 180, f"the idle gateway HPA at {floor} replicas", interval=2.0)
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(
            base_url=stack.endpoints["gateway"], timeout=10, limits=limits
        ) as http:
            tokens = await _tokens(http, stack)
            assert tokens, "expected load accounts in the state file"
            workers = [asyncio.create_task(_load(http, t, stop)) for t in tokens for _ in range(2)]
            try:

                async def _scaled() -> int:
                    now = await _desired(autoscaling)
                    seen.append(now.status)
                    desired: int = now.status.desired_replicas or 0
                    return desired if desired > floor else 0

                desired = await poll_until(
                    _scaled, 240, f"the gateway HPA to want more than {floor} replicas",
                    interval=2.0,
                )  # fmt: skip
            finally:
                stop.set()
                sent = sum(await asyncio.gather(*workers))
    finally:
        autoscaling.patch_namespaced_horizontal_pod_autoscaler(
            "gateway", NAMESPACE, {"spec": {"behavior": behavior}}
        )
    metrics = [
        m.resource.current.average_utilization
        for s in seen
        for m in s.current_metrics or []
        if m.resource is not None
    ]
    observed = {"from": floor, "to": desired, "requests": sent, "cpu_percent_seen": metrics}
    out = Path("reports/k8s-local")
    out.mkdir(parents=True, exist_ok=True)
    (out / "hpa.json").write_text(json.dumps(observed, indent=2))
    assert metrics and max(metrics) > target, (
        f"expected the HPA to have seen CPU above its {target}% target: {observed}"
    )
