"""Rollover of the archive's write index: at its threshold, atomically, nothing missed or doubled.

The reference archive runs its lifecycle itself (`altlas-archive lifecycle run`, reference_services
/archive/search/lifecycle.py); this suite drives that tool with a document threshold just above the
write index's count, so the first pass must not roll and the pass after a few more records must.
All the while a reader searches, through the gateway, for every record written so far by a word
only that record holds: each answer must be exactly one hit — none is a record lost across the
rollover, two is a copy left behind (a status change written to the new write index instead of
the index holding the record). Other deployments run their own lifecycle (ISM), so the tool-driven
part runs on the local reference stack only.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.clients.gateway import API, GatewayClient
from harness.polling import poll_until
from harness.settings import HarnessSettings
from scenarios.data.conftest import ArchiveTool, IndexFamily, family


@dataclass
class Reader:
    """Searches every known word in turn until stopped; counts what each answer held."""

    gateway: GatewayClient
    words: dict[str, str] = field(default_factory=dict)  # word → atlas id
    reads: int = 0
    problems: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self.stop.is_set():
            for word, atlas_id in list(self.words.items()):
                resp = await self.gateway.search(q=word)
                if resp.status_code == 429:
                    await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                    continue
                self.reads += 1
                if resp.status_code != 200:
                    self.problems.append(f"search {word!r}: HTTP {resp.status_code} {resp.text}")
                    continue
                ids = [item["id"] for item in resp.json()["items"]]
                if ids != [atlas_id]:
                    self.problems.append(f"search {word!r}: expected [{atlas_id}], got {ids}")
                await asyncio.sleep(0.05)  # pacing: ~20 searches/s, well under the rate limit
            await asyncio.sleep(0)


async def _archived(gateway: GatewayClient, reader: Reader, n: int) -> list[tuple[str, str]]:
    """Submit n commands, each with a word of its own; wait until each is archived and found."""
    made = []
    for _ in range(n):
        word = "rlv" + secrets.token_hex(5)
        command_id = await gateway.submit_ok(f"İstanbul raporunu hazırla {word}")
        made.append((word, command_id))
    out = []
    for word, command_id in made:
        status = await gateway.wait_until_final(command_id, timeout=60)
        atlas_id = str(status["atlas_id"])

        async def found(word: str = word, atlas_id: str = atlas_id) -> bool:
            resp = await gateway.search(q=word)
            return resp.status_code == 200 and [i["id"] for i in resp.json()["items"]] == [atlas_id]

        await poll_until(found, 15, f"record {atlas_id} to be searchable by {word!r}")
        reader.words[word] = atlas_id
        out.append((word, atlas_id))
    return out


async def _lifecycle(tool: ArchiveTool, max_docs: int) -> dict[str, Any]:
    rc, out, err = await tool.run("lifecycle", "run", "--max-docs", str(max_docs), "--json")
    assert rc == 0, f"altlas-archive lifecycle run failed ({rc}): {err}"
    result: dict[str, Any] = json.loads(out)
    return result


async def _count(opensearch: httpx.AsyncClient, index: str) -> int:
    resp = await opensearch.get(f"/{index}/_count")
    resp.raise_for_status()
    return int(resp.json()["count"])


async def test_rollover_at_its_threshold_misses_and_doubles_nothing(
    gateway: GatewayClient,
    opensearch: httpx.AsyncClient,
    index_family: IndexFamily,
    archive_tool: ArchiveTool,
    harness_settings: HarnessSettings,
) -> None:
    reader = Reader(gateway)
    task = asyncio.create_task(reader.run())
    try:
        before = await _archived(gateway, reader, 4)
        old = index_family.write_index
        threshold = await _count(opensearch, old) + 3
        first = await _lifecycle(archive_tool, threshold)
        assert first["rolled_over"] is None, (
            f"expected no rollover below {threshold} documents in {old}, got {first}"
        )
        await _archived(gateway, reader, 3)
        reads_before = reader.reads
        second = await _lifecycle(archive_tool, threshold)
        assert second["rolled_over"] is not None and second["rolled_over"]["from"] == old, (
            f"expected {old} to roll over at {threshold} documents, got {second}"
        )
        new = second["rolled_over"]["to"]
        after = await family(opensearch, harness_settings)
        assert after.write_index == new and {old, new} <= after.read_indices, (
            f"expected the write alias on {new} alone and the read alias on both {old} and {new},"
            f" got write {after.write_index}, read {sorted(after.read_indices)}"
        )

        # New records go to the new write index; a change to an old one stays where it is.
        fresh = await _archived(gateway, reader, 2)
        for _, atlas_id in fresh:
            placed = await opensearch.get(f"/{new}/_doc/{atlas_id}")
            assert placed.status_code == 200, f"expected new record {atlas_id} in {new}"
        word, changed = before[0]
        resp = await gateway.request(
            "PATCH", f"{API}/archive/{changed}", role="admin", json={"status": "archived"}
        )
        assert resp.status_code == 200, f"expected the status change to succeed: {resp.text}"

        async def shows_archived() -> bool:
            found = await gateway.search(q=word, status="archived")
            return found.status_code == 200 and found.json()["total"] == 1

        await poll_until(shows_archived, 15, f"the status change of {changed} to be searchable")
        copy = await opensearch.get(f"/{new}/_doc/{changed}")
        assert copy.status_code == 404, (
            f"expected the changed record {changed} to stay in {old}, found a copy in {new}"
        )

        async def read_on() -> bool:
            return reader.reads > reads_before + 20

        await poll_until(read_on, 30, "reads after the rollover")
    finally:
        reader.stop.set()
        await task
    dupes = await opensearch.post(
        f"/{index_family.read}/_search",
        json={"size": 0, "aggs": {"ids": {"terms": {"field": "id", "min_doc_count": 2}}}},
    )
    doubled = [b["key"] for b in dupes.json()["aggregations"]["ids"]["buckets"]]
    assert not doubled, f"expected every record once behind {index_family.read}, doubled: {doubled}"
    assert not reader.problems, (
        f"expected every one of {reader.reads} searches across the rollover to find its record"
        f" exactly once; {len(reader.problems)} did not: {reader.problems[:5]}"
    )
