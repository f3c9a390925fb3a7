"""`make bench-data`: the data layer's figures, each against a baseline measured in the same run.

(a) migration: `altlas-archive migrate run --force` docs/s, against raw `_bulk` of the very
    documents it wrote into an identical index on the same node (same batch size and
    concurrency) — the ratio is what the tool's bookkeeping (placements, checkpoints, catch-up,
    swap) costs;
(b) archive search: p50/p95/p99 of `GET /v1/atlas/search` with Locust's query mix
    (harness/workload/search_mix.py) at each size (100,000 and 1,000,000 records by default),
    the records generated (harness/workload/corpus.py), planted in PostgreSQL and indexed by the
    archive's own catch-up;
(c) backup and restore MB/s: `harness db backup` (pg_basebackup + pg_verifybackup + tar +
    upload) and a restore drill, against `pg_basebackup` alone on the same database.

The local reference stack only (it writes the archive's database and the stack's backups).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from harness.backup import ops
from harness.bench._stats import summary_ms
from harness.errors import HarnessError
from harness.polling import poll_until
from harness.settings import HarnessSettings
from harness.stack.state import StackState
from harness.workload.archive_tool import ArchiveTool
from harness.workload.corpus import records
from harness.workload.search_mix import search_params
from harness.workload.seed import backlog, plant

Progress = Callable[[str], None]
PLANT_CHUNK = 50_000
PARTS = ("migration", "search", "backup")
RAW_INDEX = "altlas-bench-raw"
# Index settings OpenSearch sets itself and refuses on creation.
SERVER_SETTINGS = ("uuid", "creation_date", "provided_name", "version", "history", "replication")


async def _rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM atlas"))
    finally:
        await conn.close()


async def fill(tool: ArchiveTool, size: int, progress: Progress, seed: int) -> dict[str, Any]:
    """Plant records until the archive holds `size`, and wait until every one is indexed."""
    have = await _rows(tool.dsn)
    started = time.monotonic()
    planted = 0
    while have + planted < size:
        n = min(PLANT_CHUNK, size - have - planted)
        planted += await plant(tool.dsn, records(n, seed=seed + have + planted))
        progress(f"    planted {have + planted:,} / {size:,} records…")
    plant_s = time.monotonic() - started
    last = [time.monotonic(), await backlog(tool.dsn)]

    async def _indexed() -> bool:
        left = await backlog(tool.dsn)
        if time.monotonic() - last[0] >= 15:
            rate = (last[1] - left) / (time.monotonic() - last[0])
            progress(f"    {left:,} rows still to index ({rate:,.0f} rows/s)")
            last[:] = [time.monotonic(), left]
        return left == 0

    await poll_until(_indexed, max(600.0, size / 500), "the archive to index every record")
    return {
        "records": size,
        "planted": planted,
        "plant_s": round(plant_s, 1),
        "index_s": round(time.monotonic() - started - plant_s, 1),
    }


async def search_latency(
    archive_url: str, queries: int, concurrency: int, seed: int
) -> dict[str, Any]:
    """`queries` searches with the load test's mix, `concurrency` at a time, after a warm-up."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible query mix, not a secret
    mix = [search_params(rng) for _ in range(queries)]
    times: list[float] = []
    hits: list[int] = []
    errors: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=archive_url, timeout=30) as client:
        for params in mix[: min(50, queries)]:  # warm-up: caches, JIT; not measured
            await client.get("/v1/atlas/search", params=params)
        queue: asyncio.Queue[dict[str, str | list[str]]] = asyncio.Queue()
        for params in mix:
            queue.put_nowait(params)

        async def worker() -> None:
            while not queue.empty():
                params = queue.get_nowait()
                t = time.perf_counter()
                resp = await client.get("/v1/atlas/search", params=params)
                if resp.status_code == 200:
                    times.append(time.perf_counter() - t)
                    hits.append(int(resp.json()["total"]))
                else:
                    errors[str(resp.status_code)] = errors.get(str(resp.status_code), 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        **summary_ms(times),
        "per_s": round(len(times) / elapsed, 1) if elapsed else 0.0,
        "concurrency": concurrency,
        "median_hits": sorted(hits)[len(hits) // 2] if hits else 0,
        "errors": errors,
    }


async def _documents(client: httpx.AsyncClient, index: str) -> list[tuple[str, dict[str, Any]]]:
    """Every document of `index` (id, source), read with the scroll API."""
    resp = await client.post(f"/{index}/_search", params={"scroll": "2m"}, json={"size": 5000})
    resp.raise_for_status()
    body = resp.json()
    docs: list[tuple[str, dict[str, Any]]] = []
    while body["hits"]["hits"]:
        docs.extend((h["_id"], h["_source"]) for h in body["hits"]["hits"])
        resp = await client.post(
            "/_search/scroll", json={"scroll": "2m", "scroll_id": body["_scroll_id"]}
        )
        resp.raise_for_status()
        body = resp.json()
    await client.request("DELETE", "/_search/scroll", json={"scroll_id": body["_scroll_id"]})
    return docs


def _bulk_body(batch: Sequence[tuple[str, dict[str, Any]]]) -> bytes:
    lines = []
    for doc_id, source in batch:
        lines.append(json.dumps({"index": {"_id": doc_id}}))
        lines.append(json.dumps(source, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


async def raw_bulk(
    opensearch_url: str, like: str, batch_size: int, concurrency: int
) -> dict[str, Any]:
    """The migrated documents, `_bulk`-loaded into a fresh index with `like`'s settings and
    mappings, `concurrency` requests in flight; timed from creation to refreshed."""
    async with httpx.AsyncClient(base_url=opensearch_url, timeout=120) as client:
        docs = await _documents(client, like)
        resp = await client.get(f"/{like}")
        resp.raise_for_status()
        definition = resp.json()[like]
        settings = {
            k: v for k, v in definition["settings"]["index"].items() if k not in SERVER_SETTINGS
        }
        await client.delete(f"/{RAW_INDEX}")
        batches = [docs[i : i + batch_size] for i in range(0, len(docs), batch_size)]
        bodies = [_bulk_body(b) for b in batches]  # encoded before the clock starts
        started = time.perf_counter()
        resp = await client.put(
            f"/{RAW_INDEX}",
            json={"settings": {"index": settings}, "mappings": definition["mappings"]},
        )
        resp.raise_for_status()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)
        failures = 0

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                body = queue.get_nowait()
                resp = await client.post(
                    f"/{RAW_INDEX}/_bulk",
                    content=body,
                    headers={"Content-Type": "application/x-ndjson"},
                )
                resp.raise_for_status()
                failures += sum(1 for item in resp.json()["items"] if item["index"].get("error"))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await client.post(f"/{RAW_INDEX}/_refresh")
        seconds = time.perf_counter() - started
        await client.delete(f"/{RAW_INDEX}")
    return {
        "documents": len(docs),
        "seconds": round(seconds, 3),
        "docs_per_s": round(len(docs) / seconds, 1) if seconds else 0.0,
        "failures": failures,
        "batch_size": batch_size,
        "concurrency": concurrency,
    }


async def migration_vs_bulk(
    tool: ArchiveTool, opensearch_url: str, progress: Progress
) -> dict[str, Any]:
    batch, concurrency = 500, 2  # altlas-archive migrate run's defaults
    progress("(a) altlas-archive migrate run --force…")
    rc, out, err = await tool.run(
        "migrate", "run", "--force", "--json", "--no-progress", "--no-verify", timeout=1800
    )
    if rc != 0:
        raise HarnessError(f"migrate run exited {rc}: {err[-2000:]}")
    migration = json.loads(out)
    progress(f"    {migration['docs_per_s']:,} docs/s; raw _bulk of the same documents…")
    raw = await raw_bulk(opensearch_url, str(migration["target"]), batch, concurrency)
    progress(f"    raw _bulk {raw['docs_per_s']:,} docs/s")
    rc, _, err = await tool.run("migrate", "cleanup", "--keep", "0")
    if rc != 0:
        raise HarnessError(f"migrate cleanup exited {rc}: {err[-2000:]}")
    return {
        "migration": {
            k: migration[k] for k in ("rows", "copied", "caught_up", "seconds", "docs_per_s")
        },
        "raw_bulk": raw,
        "ratio": round(migration["docs_per_s"] / raw["docs_per_s"], 3)
        if raw["docs_per_s"]
        else None,
    }


async def backup_vs_basebackup(settings: HarnessSettings, progress: Progress) -> dict[str, Any]:
    srv = ops.server(settings)
    work = Path(tempfile.mkdtemp(prefix="bench-basebackup-", dir=srv.state_dir))
    try:
        progress("(c) pg_basebackup alone…")
        started = time.perf_counter()
        await ops.basebackup(srv, work / "data", "bench-data baseline", settings.backup_timeout_s)
        base_s = time.perf_counter() - started
        size = ops.size_of(work / "data")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress("    harness db backup…")
    taken = (await ops.take_backup(settings)).info
    progress("    harness db restore --to latest --drill…")
    async with ops.drill(settings, None, bid=taken.id) as restored:
        restore = restored.timings

    def rate(nbytes: int, seconds: float) -> float:
        return round(nbytes / 1e6 / seconds, 1) if seconds else 0.0

    base = rate(size, base_s)
    backup = rate(taken.data_bytes, taken.duration_s)
    restore_rate = rate(taken.data_bytes, restore["total_s"])
    return {
        "data_mb": round(size / 1e6, 1),
        "pg_basebackup": {"seconds": round(base_s, 2), "mb_per_s": base},
        "backup": {"seconds": taken.duration_s, "mb_per_s": backup},
        "restore_drill": {**restore, "mb_per_s": restore_rate},
        "ratios": {
            "backup_over_basebackup": round(backup / base, 3) if base else None,
            "restore_over_basebackup": round(restore_rate / base, 3) if base else None,
        },
    }


async def bench_data(
    state: StackState,
    settings: HarnessSettings,
    *,
    sizes: Sequence[int],
    queries: int,
    concurrency: int,
    seed: int = 1,
    parts: Sequence[str] = PARTS,
    progress: Progress = print,
) -> dict[str, Any]:
    if state.target != "local":
        raise HarnessError("bench-data writes the archive's database: the local stack only")
    tool = ArchiveTool.of(state, settings.index_alias)
    opensearch = state.endpoints["opensearch"]
    t0 = time.perf_counter()
    searches = []
    migration: dict[str, Any] | None = None
    for i, size in enumerate(sorted(sizes) if {"search", "migration"} & set(parts) else []):
        progress(f"(b) {size:,} records…")
        filled = await fill(tool, size, progress, seed=seed * 10_000_000)
        if "search" in parts:
            latency = await search_latency(state.endpoints["archive"], queries, concurrency, seed)
            progress(
                f"    search p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms,"
                f" {latency['per_s']} searches/s"
            )
            searches.append({**filled, "search": latency})
        if i == 0 and "migration" in parts:
            migration = await migration_vs_bulk(tool, opensearch, progress)
    backup = await backup_vs_basebackup(settings, progress) if "backup" in parts else None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()},
        "migration": migration,
        "search": searches,
        "backup": backup,
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }


def print_summary(result: dict[str, Any]) -> None:
    m = result["migration"]
    print("\nALT_LAS data benchmarks (one run, same machine)")
    if m is not None:
        print(
            f"  (a) migration                 {m['migration']['docs_per_s']:>10,.1f} docs/s"
            f"  ({m['migration']['rows']:,} rows)"
        )
        print(f"      raw _bulk, same documents  {m['raw_bulk']['docs_per_s']:>10,.1f} docs/s")
        print(f"      ratio migration / raw       {m['ratio']:>10.3f}")
    for s in result["search"]:
        q = s["search"]
        print(
            f"  (b) search at {s['records']:>9,} records  p50 {q['p50_ms']:>7.1f} ms"
            f"  p95 {q['p95_ms']:>7.1f} ms  p99 {q['p99_ms']:>7.1f} ms  {q['per_s']:>7.1f}/s"
        )
    b = result["backup"]
    if b is None:
        return
    print(
        f"  (c) pg_basebackup alone     {b['pg_basebackup']['mb_per_s']:>10.1f} MB/s"
        f"  ({b['data_mb']:,} MB)"
    )
    print(f"      harness db backup           {b['backup']['mb_per_s']:>10.1f} MB/s")
    print(f"      restore drill (latest)      {b['restore_drill']['mb_per_s']:>10.1f} MB/s")
    r = b["ratios"]
    print(
        f"      ratios backup / basebackup {r['backup_over_basebackup']},"
        f" restore / basebackup {r['restore_over_basebackup']}"
    )


def write(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench-data.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return path
