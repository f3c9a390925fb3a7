"""The archive's zero-downtime migration to a new index version, judged on the real engines.

20,000 generated records are planted in the archive's PostgreSQL and indexed by the archive's own
catch-up; then `altlas-archive migrate` (reference_services/archive/search/migrate.py, run as a
process of its own) moves them to a new index version while the pipeline keeps writing and
searches keep coming. The harness judges by itself: every search answered, every record written
during the migration found exactly once afterwards, and the tool's own verification (checksum of
every document against its row) finding nothing. Then the tool is killed with SIGKILL halfway and
run again; a corrupt row is planted; and a second run must change nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from harness.clients.gateway import API, GatewayClient
from harness.polling import poll_until
from harness.settings import HarnessSettings
from harness.workload.corpus import records
from harness.workload.seed import backlog, plant
from scenarios.data.conftest import ArchiveTool, family

RECORDS = 20_000


@pytest.fixture(scope="module")
def planted_ids() -> list[str]:
    return []


@pytest.fixture(autouse=True, scope="module")
async def _drop_old_versions(archive_tool: ArchiveTool) -> AsyncIterator[None]:
    """Each forced run leaves the version before it for a rollback; the heap of the test node
    is small, so the versions no alias serves are deleted when the module is done."""
    yield
    rc, _, err = await archive_tool.run("migrate", "cleanup", "--keep", "0")
    assert rc == 0, f"migrate cleanup failed: {err}"


@pytest.fixture
async def planted(archive_tool: ArchiveTool, planted_ids: list[str]) -> list[str]:
    """20,000 records in PostgreSQL and in the index (planted once per module)."""
    if not planted_ids:
        corpus = records(RECORDS, seed=secrets.randbits(32))
        await plant(archive_tool.dsn, corpus)

        async def indexed() -> bool:
            return await backlog(archive_tool.dsn) == 0

        await poll_until(indexed, 180, f"the archive to index the {RECORDS} planted records")
        planted_ids.extend(r.doc["id"] for r in corpus)
    return planted_ids


@dataclass
class Traffic:
    """Commands submitted, records changed and searches made at a steady rate until stopped."""

    gateway: GatewayClient
    planted: list[str]
    submitted: dict[str, str] = field(default_factory=dict)  # word → command id
    changed: list[str] = field(default_factory=list)
    searches: int = 0
    errors: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def write(self) -> None:
        rng = random.Random(7)  # noqa: S311 - which planted record changes, not a secret
        while not self.stop.is_set():
            word = "mig" + secrets.token_hex(5)
            resp = await self.gateway.submit(f"Ankara raporunu hazırla {word}")
            if resp.status_code == 202:
                self.submitted[word] = str(resp.json()["id"])
            elif resp.status_code != 429:
                self.errors.append(f"submit: HTTP {resp.status_code} {resp.text[:200]}")
            atlas_id = rng.choice(self.planted)
            resp = await self.gateway.request(
                "PATCH", f"{API}/archive/{atlas_id}", role="admin", json={"status": "archived"}
            )
            if resp.status_code == 200:
                self.changed.append(atlas_id)
            elif resp.status_code != 429:
                self.errors.append(f"status change: HTTP {resp.status_code} {resp.text[:200]}")
            await asyncio.sleep(0.2)  # pacing: ~5 commands and 5 changes a second

    async def search(self) -> None:
        terms = ["istanbul hava", "rapor", "email", "özet", "dosya ankara"]
        while not self.stop.is_set():
            resp = await self.gateway.search(q=random.choice(terms))  # noqa: S311
            self.searches += 1
            if resp.status_code not in (200, 429):
                self.errors.append(f"search: HTTP {resp.status_code} {resp.text[:200]}")
            await asyncio.sleep(0.1)  # pacing: ~10 searches a second


async def _verify(tool: ArchiveTool, tmp: Path) -> dict[str, Any]:
    rc, out, err = await tool.run(
        "migrate", "verify", "--settle", "20", "--json", "--report-dir", str(tmp)
    )
    report: dict[str, Any] = json.loads(out)
    assert rc == 0 and report["differences"] == 0, (
        f"expected the index to hold exactly what PostgreSQL holds (exit 0), got exit {rc}:"
        f" {report['differences']} differences — missing {report['missing'][:5]}, extra"
        f" {report['extra'][:5]}, differ {report['mismatched'][:5]}, twice"
        f" {list(report['duplicated'])[:5]}, counts {report['counts']['differences'][:5]};"
        f" {err[-500:]}"
    )
    return report


async def test_migration_under_writes_and_searches_loses_nothing(
    gateway: GatewayClient,
    opensearch: httpx.AsyncClient,
    archive_tool: ArchiveTool,
    planted: list[str],
    harness_settings: HarnessSettings,
    tmp_path: Path,
) -> None:
    before = await family(opensearch, harness_settings)
    traffic = Traffic(gateway, planted)
    tasks = [asyncio.create_task(traffic.write()), asyncio.create_task(traffic.search())]
    try:
        rc, out, err = await archive_tool.run(
            "migrate", "run", "--force", "--json", "--no-verify",
            "--batch-size", "1000", "--concurrency", "2",
            "--reject-file", str(tmp_path / "rejects.jsonl"),
        )  # fmt: skip
    finally:
        traffic.stop.set()
        await asyncio.gather(*tasks)
    assert rc == 0, f"expected the migration to succeed (exit 0), got {rc}: {err[-2000:]}"
    outcome = json.loads(out)
    after = await family(opensearch, harness_settings)
    assert after.read_indices == {outcome["target"]} and after.write_index == outcome["target"], (
        f"expected both aliases on {outcome['target']} alone, got read"
        f" {sorted(after.read_indices)}, write {after.write_index} (before: {before})"
    )
    assert outcome["copied"] >= RECORDS, f"expected every row copied, got {outcome}"
    assert traffic.searches > 20 and len(traffic.submitted) > 5, (
        f"expected steady traffic during the migration, got {traffic.searches} searches and"
        f" {len(traffic.submitted)} commands"
    )
    assert not traffic.errors, (
        f"expected every request during the migration to be answered, {len(traffic.errors)}"
        f" were not: {traffic.errors[:5]}"
    )
    for word, command_id in traffic.submitted.items():
        status = await gateway.wait_until_final(command_id, timeout=60)

        async def found(word: str = word, atlas_id: str = str(status["atlas_id"])) -> bool:
            resp = await gateway.search(q=word)
            return resp.status_code == 200 and [i["id"] for i in resp.json()["items"]] == [atlas_id]

        await poll_until(found, 20, f"the record of {command_id} to be found once by {word!r}")
    report = await _verify(archive_tool, tmp_path)
    print(
        f"\nmigration of {outcome['rows']} rows under traffic: {outcome['docs_per_s']} docs/s,"
        f" {outcome['caught_up']} caught up at the swap, {traffic.searches} searches,"
        f" {len(traffic.submitted)} commands and {len(traffic.changed)} status changes meanwhile;"
        f" verify: {report['rows']} rows, 0 differences"
    )


async def _copied(dsn: str) -> tuple[str | None, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT m.target, (SELECT count(*) FROM search_migration_rows r"
            " WHERE r.target = m.target) AS n FROM search_migrations m"
            " WHERE m.state = 'backfilling'"
        )
    finally:
        await conn.close()
    return (None, 0) if row is None else (str(row["target"]), int(row["n"]))


async def test_a_killed_migration_resumes_and_loses_nothing(
    archive_tool: ArchiveTool, planted: list[str], tmp_path: Path
) -> None:
    process = await archive_tool.start(
        "migrate", "run", "--force", "--no-progress", "--max-rate", "3000", "--batch-size", "500"
    )
    try:

        async def halfway() -> bool:
            _, n = await _copied(archive_tool.dsn)
            return n >= 4000

        await poll_until(halfway, 60, "the migration to copy 4,000 rows")
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    target, n = await _copied(archive_tool.dsn)
    assert target is not None and n < len(planted), (
        f"expected the migration killed mid-backfill, it had copied {n} of {len(planted)}"
    )
    started = time.monotonic()
    rc, out, err = await archive_tool.run("migrate", "run", "--json", "--no-verify")
    assert rc == 0, f"expected the resumed migration to succeed, got {rc}: {err[-2000:]}"
    outcome = json.loads(out)
    assert outcome["target"] == target and outcome["state"] == "resumed-done", outcome
    assert outcome["copied"] == outcome["rows"] - n, (
        f"expected the resumed run to copy only what was left, {outcome['rows']} - {n},"
        f" it copied {outcome['copied']}"
    )
    await _verify(archive_tool, tmp_path)
    print(
        f"\nkilled at {n} rows copied; resumed run copied {outcome['copied']} more in"
        f" {time.monotonic() - started:.1f} s; verify: 0 differences"
    )


async def test_a_corrupt_row_goes_to_the_reject_file_and_the_exit_code_says_so(
    archive_tool: ArchiveTool, planted: list[str], tmp_path: Path
) -> None:
    corrupt = records(1, seed=secrets.randbits(32))[0]
    corrupt.doc["created_at"] = "gestern um drei"  # not a date: the mapping refuses it
    await plant(archive_tool.dsn, [corrupt])
    rejects = tmp_path / "rejects.jsonl"
    try:
        rc, out, err = await archive_tool.run(
            "migrate", "run", "--force", "--json", "--no-verify", "--reject-file", str(rejects)
        )
        assert rc == 3, f"expected exit 3 (migrated, rows rejected), got {rc}: {err[-2000:]}"
        assert json.loads(out)["rejected"] == 1
        lines = [json.loads(line) for line in rejects.read_text().splitlines()]
        assert [e["id"] for e in lines] == [corrupt.doc["id"]], lines
        assert "created_at" in lines[0]["reason"], (
            f"expected the reason to name the field, got {lines[0]['reason']!r}"
        )
        rc, out, _ = await archive_tool.run("migrate", "verify", "--json", "--settle", "5")
        report = json.loads(out)
        assert rc == 3 and report["differences"] == 0 and corrupt.doc["id"] in report["rejected"], (
            f"expected verify to list the row as a known reject (exit 3), got {rc}:"
            f" {report['differences']} differences, rejected {report['rejected']},"
            f" counts {report['counts']['differences'][:5]}"
        )
    finally:
        conn = await asyncpg.connect(archive_tool.dsn)
        try:
            await conn.execute("DELETE FROM atlas WHERE id = $1::uuid", corrupt.doc["id"])
        finally:
            await conn.close()


async def test_a_second_run_changes_nothing(
    archive_tool: ArchiveTool,
    opensearch: httpx.AsyncClient,
    planted: list[str],
    harness_settings: HarnessSettings,
) -> None:
    before = await family(opensearch, harness_settings)
    count_before = (await opensearch.get(f"/{before.read}/_count")).json()["count"]
    rc, out, err = await archive_tool.run("migrate", "run", "--json")
    assert rc == 0, f"expected a run with nothing to do to succeed, got {rc}: {err[-1000:]}"
    assert json.loads(out)["state"] == "up-to-date", out
    after = await family(opensearch, harness_settings)
    count_after = (await opensearch.get(f"/{after.read}/_count")).json()["count"]
    assert (after, count_after) == (before, count_before), (
        f"expected a second run to change nothing: {before} {count_before} → {after} {count_after}"
    )
