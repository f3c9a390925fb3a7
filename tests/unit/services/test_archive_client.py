"""The gateway's archive client: which answers trip the breaker, what is retried, the 503.

The archive is an httpx.MockTransport, so every request the client makes is counted and no
socket is opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from reference_services.common.app import Readiness, create_app
from reference_services.common.errors import NotFound
from reference_services.common.resilience import CircuitBreaker, CircuitOpen, RetryPolicy
from reference_services.gateway.archive_client import (
    ArchiveClient,
    ArchiveRejected,
    ArchiveUnavailable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Archive:
    """A scripted archive: answers with `status` (and JSON) and counts requests by method."""

    def __init__(self, status: int = 200, *, refuse: bool = False, text: str | None = None):
        self.status = status
        self.refuse = refuse
        self.text = text
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.method)
        if self.refuse:
            raise httpx.ConnectError("connection refused", request=request)
        if self.text is not None:
            return httpx.Response(self.status, text=self.text)
        return httpx.Response(self.status, json={"status": self.status, "title": "scripted"})


class Clients:
    """Archive clients sharing one fake clock, closed when the test ends."""

    def __init__(self, name: str) -> None:
        self.clock = Clock()
        self.name = name
        self.open: list[ArchiveClient] = []

    def __call__(self, archive: Archive) -> ArchiveClient:
        client = ArchiveClient(
            "http://archive.test",
            1.0,
            # A name per test: the gauge series is global and keyed by breaker name.
            breaker=CircuitBreaker(3, 5.0, clock=self.clock, name=f"test-{self.name}"),
            retry=RetryPolicy(base_s=0.001, max_s=0.001, max_attempts=2),
            transport=httpx.MockTransport(archive),
        )
        self.open.append(client)
        return client


@pytest.fixture
async def make_client(request: pytest.FixtureRequest) -> AsyncIterator[Clients]:
    clients = Clients(request.node.name)
    yield clients
    for client in clients.open:
        await client.close()


async def test_reads_are_retried_and_failures_counted(make_client: Clients) -> None:
    archive = Archive(503)
    client = make_client(archive)
    with pytest.raises(ArchiveUnavailable, match="archive answered 503"):
        await client.request("GET", "/v1/atlas/search")
    assert archive.requests == ["GET", "GET"], "a GET is tried archive_retry_attempts times"
    assert client.breaker.consecutive_failures == 2, "every failed attempt counts"


async def test_writes_are_not_retried(make_client: Clients) -> None:
    archive = Archive(500)
    client = make_client(archive)
    with pytest.raises(ArchiveUnavailable):
        await client.request("PATCH", "/v1/atlas/x", json={"status": "hidden"})
    assert archive.requests == ["PATCH"], "a timed-out write may have been applied"


async def test_client_errors_do_not_trip_the_breaker(make_client: Clients) -> None:
    archive = Archive(422)
    client = make_client(archive)
    for _ in range(5):
        with pytest.raises(ArchiveRejected) as rejected:
            await client.request("GET", "/v1/atlas/search")
        assert rejected.value.status == 422 and rejected.value.body["title"] == "scripted"
    archive.status = 404
    with pytest.raises(NotFound):
        await client.request("GET", "/v1/atlas/abc")
    assert archive.requests == ["GET"] * 6, "4xx answers are not retried"
    assert client.breaker.state == "closed" and client.breaker.consecutive_failures == 0


async def test_refused_connections_open_the_circuit(make_client: Clients) -> None:
    archive = Archive(refuse=True)
    client = make_client(archive)
    with pytest.raises(ArchiveUnavailable, match="unreachable: ConnectError"):
        await client.request("GET", "/v1/atlas/search")
    with pytest.raises(ArchiveUnavailable):
        await client.request("PATCH", "/v1/atlas/x")
    assert client.breaker.state == "open"
    with pytest.raises(CircuitOpen) as rejected:
        await client.request("GET", "/v1/atlas/search")
    assert rejected.value.retry_after_s == 5.0
    assert len(archive.requests) == 3, "an open circuit sends nothing (and is not retried)"


async def test_half_open_trial_closes_the_circuit(make_client: Clients) -> None:
    archive = Archive(502)
    client = make_client(archive)
    for method in ("GET", "PATCH"):
        with pytest.raises(ArchiveUnavailable):
            await client.request(method, "/v1/atlas/x")
    assert client.breaker.retry_after_s() == 5.0, "3 failures (2 GET attempts, 1 PATCH) open it"
    make_client.clock.now += 5.0
    archive.status = 200
    assert await client.request("GET", "/v1/atlas/x") == {"status": 200, "title": "scripted"}
    assert client.breaker.state == "closed"


async def test_a_2xx_without_json_is_a_failure(make_client: Clients) -> None:
    client = make_client(Archive(200, text="<html>proxy error</html>"))
    with pytest.raises(ArchiveUnavailable, match="without JSON"):
        await client.request("PATCH", "/v1/atlas/x")
    assert client.breaker.consecutive_failures == 1


async def test_gauge_follows_the_breaker(make_client: Clients) -> None:
    client = make_client(Archive(500))
    labels = {"name": client.breaker.name}
    assert REGISTRY.get_sample_value("altlas_circuit_state", labels) == 0
    for _ in range(3):
        with pytest.raises(ArchiveUnavailable):
            await client.request("PATCH", "/v1/atlas/x")
    assert REGISTRY.get_sample_value("altlas_circuit_state", labels) == 2
    make_client.clock.now += 5.0
    assert REGISTRY.get_sample_value("altlas_circuit_state", labels) == 1, "by time alone"


async def test_open_circuit_is_a_503_with_retry_after(make_client: Clients) -> None:
    archive = Archive(500)
    client = make_client(archive)
    app: FastAPI = create_app(
        title="t", version="0", description="", lifespan=None, readiness=Readiness()
    )

    @app.get("/search")
    async def search() -> object:
        return await client.request("PATCH", "/v1/atlas/search")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
        for _ in range(3):
            failed = await http.get("/search")
            assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
        make_client.clock.now += 0.5
        rejected = await http.get("/search")
    assert rejected.status_code == 503
    assert rejected.headers["content-type"] == "application/problem+json"
    assert rejected.headers["retry-after"] == "5", "ceil(4.5 s until half-open)"
    assert "circuit" in rejected.json()["detail"]
    assert len(archive.requests) == 3, "the rejected request never reached the archive"
