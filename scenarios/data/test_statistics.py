"""The archive's statistics endpoint (`GET /v1/atlas/stats`, materialized views of PostgreSQL)
against what its search index says (the search's facets): once refreshed, on a quiet stack, the
two independent counts agree. Bad input gets a 422 that names the parameter."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import httpx
import pytest

from harness.clients.gateway import GatewayClient
from harness.polling import poll_until
from harness.stack.state import StackState


@pytest.fixture
async def archive(stack: StackState) -> httpx.AsyncClient:
    url = stack.endpoints.get("archive")
    if not url:
        pytest.skip("the archive's own endpoint is not known: set HARNESS_ARCHIVE_URL")
    return httpx.AsyncClient(base_url=url, timeout=30.0)


async def test_statistics_agree_with_the_search_index(
    archive: httpx.AsyncClient, gateway: GatewayClient
) -> None:
    async with archive:
        probe = await archive.get("/v1/atlas/stats")
        if probe.status_code == 404:
            pytest.skip("this archive serves no /v1/atlas/stats")
        # At least one record to count, whatever ran before (or nothing did).
        await gateway.wait_until_final(await gateway.submit_ok("İstanbul hava durumunu ara"))
        started = datetime.now(UTC)

        async def refreshed_since(moment: datetime) -> dict | None:
            body = (await archive.get("/v1/atlas/stats")).json()
            stamp = body["refreshed_at"]
            if stamp and datetime.fromisoformat(stamp.replace("Z", "+00:00")) > moment:
                return body
            return None

        # The statistics are a snapshot refreshed every few seconds and the index refreshes
        # every second: a record archived between the two reads (by an earlier test's last
        # commands) differs by one for a moment. They must agree on one pair of reads within
        # a few refreshes; a real miscount never does.
        mismatch = ""
        for _ in range(5):
            stats = await poll_until(
                functools.partial(refreshed_since, started), 150, "the statistics to be refreshed"
            )
            search = (await archive.get("/v1/atlas/search", params={"size": 1})).json()
            counted = (stats["records"], {f: stats["totals"][f] for f in ("status", "language")})
            indexed = (search["total"], {f: search["facets"][f] for f in ("status", "language")})
            if counted == indexed:
                break
            mismatch = f"the statistics count {counted}, the index holds {indexed}"
            started = datetime.now(UTC)
        else:
            raise AssertionError(
                f"expected the statistics to agree with the search index within five refreshes;"
                f" last: {mismatch}"
            )
        days = {d["day"] for d in stats["days"]}
        assert days and all(d["records"] > 0 for d in stats["days"]), stats["days"][:5]
        one = sorted(days)[0]
        narrowed = (await archive.get("/v1/atlas/stats", params={"from": one, "to": one})).json()
        assert {d["day"] for d in narrowed["days"]} == {one}, narrowed["days"][:5]
        backwards = await archive.get("/v1/atlas/stats", params={"from": one, "to": "2000-01-01"})
        assert backwards.status_code == 200 and backwards.json()["records"] == 0, (
            f"expected a window ending before it starts to be empty, got {backwards.text[:300]}"
        )


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"), ({"to": "0"}, "to"),
     ({"from": "2026-12-01T00:00:00Z"}, "from")],
)  # fmt: skip
async def test_bad_dates_are_a_422_naming_the_parameter(
    archive: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    async with archive:
        resp = await archive.get("/v1/atlas/stats", params=params)
    if resp.status_code == 404:
        pytest.skip("this archive serves no /v1/atlas/stats")
    assert resp.status_code == 422 and field in resp.text, (
        f"expected a 422 naming {field!r} for {params}, got {resp.status_code}: {resp.text}"
    )
