"""The Toxiproxy client replaces a toxic an interrupted run left behind instead of failing the
fault (a killed campaign never heals its toxics; the next campaign's same fault met a 409)."""

from __future__ import annotations

import json

import httpx

from harness.infra.toxiproxy import ToxiproxyClient


async def test_a_leftover_toxic_is_replaced_by_the_one_asked_for() -> None:
    toxics: dict[str, dict[str, object]] = {"latency_downstream": {"attributes": {"latency": 9}}}
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        name = request.url.path.rsplit("/", 1)[-1]
        if request.method == "DELETE":
            toxics.pop(name)
            return httpx.Response(204)
        body = json.loads(request.content)
        if body["name"] in toxics:
            return httpx.Response(409, json={"error": "toxic already exists", "status": 409})
        toxics[body["name"]] = body
        return httpx.Response(200, json=body)

    client = ToxiproxyClient("http://toxiproxy")
    client.http = httpx.AsyncClient(
        base_url="http://toxiproxy", transport=httpx.MockTransport(handle)
    )
    async with client:
        name = await client.add_toxic("gateway_to_archive", "latency", {"latency": 1500})
    assert name == "latency_downstream"
    assert toxics[name]["attributes"] == {"latency": 1500}, "the leftover toxic is still on"
    assert calls == [
        "POST /proxies/gateway_to_archive/toxics",
        "DELETE /proxies/gateway_to_archive/toxics/latency_downstream",
        "POST /proxies/gateway_to_archive/toxics",
    ]
