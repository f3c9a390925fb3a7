"""Fixtures of the data suites: the deployment's OpenSearch and the archive's index family.

They need the OpenSearch endpoint (the local stack's, or HARNESS_OPENSEARCH_URL for another
deployment) and skip, saying so, without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from harness.errors import HarnessError
from harness.settings import HarnessSettings
from harness.stack.state import StackState
from harness.workload.archive_tool import ArchiveTool


@dataclass(frozen=True)
class IndexFamily:
    read: str
    write: str
    read_indices: frozenset[str]
    write_index: str


async def family(client: httpx.AsyncClient, settings: HarnessSettings) -> IndexFamily:
    read = settings.index_alias
    write = settings.index_write_alias or f"{read}-write"
    resp = await client.get(f"/_alias/{read},{write}")
    if resp.status_code == 404:
        pytest.skip(f"OpenSearch has no alias {read} / {write} (HARNESS_INDEX_ALIAS names them)")
    resp.raise_for_status()
    read_indices, write_index = set(), None
    for index, entry in resp.json().items():
        aliases = entry.get("aliases", {})
        if read in aliases:
            read_indices.add(index)
        if write in aliases and aliases[write].get("is_write_index", True):
            write_index = index
    if write_index is None:
        pytest.skip(f"no index is the write index of {write}: this deployment has no write alias")
    return IndexFamily(read, write, frozenset(read_indices), write_index)


@pytest_asyncio.fixture(loop_scope="session")
async def opensearch(stack: StackState) -> AsyncIterator[httpx.AsyncClient]:
    url = stack.endpoints.get("opensearch")
    if not url:
        pytest.skip("the deployment's OpenSearch endpoint is not known: set HARNESS_OPENSEARCH_URL")
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def index_family(
    opensearch: httpx.AsyncClient, harness_settings: HarnessSettings
) -> IndexFamily:
    return await family(opensearch, harness_settings)


@pytest.fixture(scope="session")
def archive_tool(stack: StackState, harness_settings: HarnessSettings) -> ArchiveTool:
    try:
        return ArchiveTool.of(stack, harness_settings.index_alias)
    except HarnessError as exc:
        pytest.skip(f"drives the reference archive's own tools: {exc}")


__all__ = ["ArchiveTool", "IndexFamily", "family"]
