"""Archive search over a result set larger than a page, through the gateway: walking the pages
of any size finds every record once; the total and the facets describe the whole result set on
every page (counts computed from the page alone would pass a one-page check and fail here);
and any page is its slice of the one order (a Hypothesis property over page and size).

Any deployment: the corpus is made through the API (48 commands carrying a word of their own,
so a search for it returns exactly them)."""

from __future__ import annotations

import asyncio
import math
import secrets
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.clients.gateway import GatewayClient
from harness.polling import poll_until

TEMPLATES = [
    "Rapor {n} oluştur ve sonra ekibe gönder",
    "İstanbul'daki {n}. şubenin satışlarını analiz et",
    "Dosya {n} aç",
    "Toplantı {n} için hatırlatma planla ardından notları özetle",
    "Create report {n} then send it to the team",
    "Analyze the sales of branch {n}",
    "Open file {n}",
    "Schedule meeting {n} and then summarize the notes",
]
RECORDS = 48  # more than two pages of the default size (20), and not a multiple of most sizes


@pytest.fixture(scope="module")
def token() -> str:
    return "pages" + secrets.token_hex(4)


@pytest.fixture(scope="module")
async def corpus(gateway: GatewayClient, token: str) -> list[dict[str, Any]]:
    """The whole result set in its one order (a single page of 100), once all are searchable."""
    commands = [f"{TEMPLATES[n % len(TEMPLATES)].format(n=n)} {token}" for n in range(RECORDS)]
    ids = await asyncio.gather(*(gateway.submit_ok(c) for c in commands))
    await asyncio.gather(*(gateway.wait_until_final(i, timeout=120) for i in ids))

    async def everything() -> list[dict[str, Any]] | None:
        body = (await gateway.search(q=token, size=100)).json()
        return body["items"] if body["total"] == RECORDS else None

    items = await poll_until(everything, 60, f"a search for {token} to find all {RECORDS}")
    assert {i["command_id"] for i in items} == set(ids), "the search found other commands"
    return items


def _expected_facets(items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    return {
        "status": dict(Counter(i["status"] for i in items)),
        "language": dict(Counter(i["language"] for i in items)),
        "tags": dict(Counter(t for i in items for t in i.get("tags", []))),
    }


@pytest.mark.parametrize("size", [7, 10, 20, 47])
async def test_walking_the_pages_finds_every_record_once_with_whole_set_facets(
    gateway: GatewayClient, corpus: list[dict[str, Any]], token: str, size: int
) -> None:
    expected = _expected_facets(corpus)
    pages = math.ceil(RECORDS / size)
    seen: list[str] = []
    for page in range(1, pages + 1):
        answer = await gateway.search(q=token, size=size, page=page)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == RECORDS, f"page {page} of size {size}: total {body['total']}"
        want = min(size, RECORDS - (page - 1) * size)
        assert len(body["items"]) == want, f"page {page} of size {size}: {len(body['items'])}"
        assert body["facets"] == expected, (
            f"page {page} of size {size}: facets {body['facets']} are not those of the whole"
            f" result set {expected}"
        )
        seen += [i["id"] for i in body["items"]]
    twice = [i for i, n in Counter(seen).items() if n > 1]
    assert not twice, f"size {size}: records on more than one page: {twice}"
    assert set(seen) == {i["id"] for i in corpus}, f"size {size}: the pages missed records"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(size=st.integers(1, 60), page=st.integers(1, 12))
async def test_any_page_is_its_slice_of_the_one_order(
    gateway: GatewayClient, corpus: list[dict[str, Any]], token: str, size: int, page: int
) -> None:
    body = (await gateway.search(q=token, size=size, page=page)).json()
    got = [i["id"] for i in body["items"]]
    want = [i["id"] for i in corpus[(page - 1) * size : page * size]]
    assert got == want, f"page {page} of size {size}: {got} is not its slice {want} of the order"
    assert body["total"] == RECORDS, body["total"]
