"""`altlas-archive migrate verify`: does the search index hold exactly what PostgreSQL holds?

PostgreSQL is the truth. Every row is compared with what the read alias (or one index) serves:
a checksum per document (canonical JSON of the stored row vs the indexed source), counts per
status, language and day, a sampled field-by-field comparison, and documents held twice. Rows
still on their way (changed a moment ago) are re-read for up to `settle_s` before a difference is
called one; rows OpenSearch refused for good are listed apart, as known rejects. A report is
written as JSON and HTML.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import random
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reference_services.archive.search.index import SearchIndex
from reference_services.common.db import Database
from reference_services.common.errors import TransientError


def checksum(doc: Any) -> str:
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Side:
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sums: dict[str, str] = field(default_factory=dict)
    where: dict[str, list[str]] = field(default_factory=dict)  # OpenSearch: id → indices

    def put(self, doc_id: str, doc: dict[str, Any], index: str | None = None) -> None:
        self.docs[doc_id] = doc
        self.sums[doc_id] = checksum(doc)
        if index is not None:
            self.where.setdefault(doc_id, []).append(index)

    def counts(self, leave_out: Collection[str] = ()) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {
            "status": Counter(),
            "language": Counter(),
            "day": Counter(),
        }
        for doc_id, doc in self.docs.items():
            if doc_id in leave_out:
                continue
            out["status"][str(doc.get("status"))] += 1
            out["language"][str(doc.get("language"))] += 1
            out["day"][str(doc.get("created_at", ""))[:10]] += 1
        return {k: dict(sorted(v.items())) for k, v in out.items()}


@dataclass
class Report:
    scope: str
    rows: int
    documents: int
    missing: list[str]
    extra: list[str]
    mismatched: list[str]
    duplicated: dict[str, list[str]]
    rejected: dict[str, str]
    counts: dict[str, Any]
    sample: dict[str, Any]
    seconds: float
    written: dict[str, str] = field(default_factory=dict)

    @property
    def differences(self) -> int:
        return (
            len(self.missing)
            + len(self.extra)
            + len(self.mismatched)
            + len(self.duplicated)
            + len(self.counts["differences"])
            + len(self.sample["differences"])
        )

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["differences"] = self.differences
        return data


async def _pg(db: Database, ids: list[str] | None = None) -> tuple[Side, dict[str, str]]:
    side, rejected = Side(), {}
    sql = "SELECT id, doc, version, rejected_version, rejected_reason FROM atlas"
    async with db.pool.acquire() as conn, conn.transaction():
        if ids is None:
            rows = conn.cursor(sql)
        else:
            rows = conn.cursor(sql + " WHERE id = ANY($1::uuid[])", ids)
        async for row in rows:
            doc_id = str(row["id"])
            if row["rejected_version"] == row["version"]:
                rejected[doc_id] = str(row["rejected_reason"])
            side.put(doc_id, json.loads(row["doc"]))
        migration = await conn.fetch(
            "SELECT m.id, m.rejected FROM search_migration_rows m JOIN atlas a ON a.id = m.id"
            " AND a.version = m.version WHERE m.rejected IS NOT NULL AND m.target ="
            " (SELECT target FROM search_migrations ORDER BY started_at DESC LIMIT 1)"
        )
    for row in migration:
        rejected[str(row["id"])] = str(row["rejected"])
    return side, rejected


async def _os(index: SearchIndex, scope: str, ids: list[str] | None = None) -> Side:
    side = Side()
    query: dict[str, Any] = {"match_all": {}} if ids is None else {"ids": {"values": ids}}
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {"query": query, "size": 2000, "sort": [{"id": "asc"}, "_doc"]}
        if after is not None:
            body["search_after"] = after
        try:
            resp = await index.client.search(index=scope, body=body)
        except Exception as exc:
            raise TransientError(f"reading {scope} failed: {exc}") from exc
        hits = resp["hits"]["hits"]
        for hit in hits:
            side.put(hit["_id"], hit["_source"], hit["_index"])
        if len(hits) < 2000:
            return side
        after = hits[-1]["sort"]


def _compare(pg: Side, os_: Side, rejected: dict[str, str]) -> dict[str, list[str]]:
    missing = [i for i in pg.sums if i not in os_.sums and i not in rejected]
    extra = [i for i in os_.sums if i not in pg.sums]
    mismatched = [
        i for i in pg.sums if i in os_.sums and pg.sums[i] != os_.sums[i] and i not in rejected
    ]
    duplicated = [i for i, where in os_.where.items() if len(where) > 1]
    return {"missing": missing, "extra": extra, "mismatched": mismatched, "duplicated": duplicated}


def _field_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"field": k, "postgres": a.get(k), "opensearch": b.get(k)}
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


async def verify(
    db: Database,
    index: SearchIndex,
    *,
    scope: str | None = None,
    sample: int = 200,
    settle_s: float = 10.0,
    seed: int | None = None,
) -> Report:
    started = time.monotonic()
    scope = scope or index.names.read
    pg, rejected = await _pg(db)
    os_ = await _os(index, scope)
    found = _compare(pg, os_, rejected)
    deadline = time.monotonic() + settle_s
    # Changes a moment old are still on their way (refresh interval, catch-up): re-read them.
    while any(found.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # pacing of the re-reads, bounded by settle_s
        suspects = sorted({i for ids in found.values() for i in ids})
        pg_now, rejected_now = await _pg(db, suspects)
        os_now = await _os(index, scope, suspects)
        for doc_id in suspects:
            for table in (pg.docs, pg.sums, os_.docs, os_.sums, os_.where, rejected):
                table.pop(doc_id, None)
        for doc_id, doc in pg_now.docs.items():
            pg.put(doc_id, doc)
        for doc_id, doc in os_now.docs.items():
            os_.docs[doc_id], os_.sums[doc_id] = doc, os_now.sums[doc_id]
            os_.where[doc_id] = os_now.where[doc_id]
        rejected.update(rejected_now)
        found = _compare(pg, os_, rejected)
    # Known rejects are listed apart; they are not a count difference as well.
    pg_counts, os_counts = pg.counts(leave_out=rejected), os_.counts()
    count_diffs = [
        {"by": by, "value": value, "postgres": n, "opensearch": os_counts[by].get(value, 0)}
        for by, values in pg_counts.items()
        for value, n in values.items()
        if os_counts[by].get(value, 0) != n
    ] + [
        {"by": by, "value": value, "postgres": 0, "opensearch": n}
        for by, values in os_counts.items()
        for value, n in values.items()
        if value not in pg_counts[by]
    ]
    both = sorted(set(pg.docs) & set(os_.docs))
    picked = random.Random(seed).sample(both, min(sample, len(both)))  # noqa: S311 - sampling
    sample_diffs = [
        {"id": i, "fields": d}
        for i in picked + found["mismatched"][:20]
        if (d := _field_diff(pg.docs[i], os_.docs[i]))
    ]
    return Report(
        scope=scope,
        rows=len(pg.docs),
        documents=len(os_.docs),
        missing=found["missing"],
        extra=found["extra"],
        mismatched=found["mismatched"],
        duplicated={i: os_.where[i] for i in found["duplicated"]},
        rejected=rejected,
        counts={"postgres": pg_counts, "opensearch": os_counts, "differences": count_diffs},
        sample={"size": len(picked), "differences": sample_diffs},
        seconds=round(time.monotonic() - started, 3),
    )


def write(report: Report, folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path, html_path = folder / f"verify-{stamp}.json", folder / f"verify-{stamp}.html"
    json_path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    html_path.write_text(_html(report), encoding="utf-8")
    report.written = {"json": str(json_path), "html": str(html_path)}
    return report.written


def _html(report: Report) -> str:
    verdict = "no differences" if report.differences == 0 else f"{report.differences} differences"
    colour = "#1a7f37" if report.differences == 0 else "#cf222e"
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{len(items)}</td>"
        f"<td>{html.escape(', '.join(list(items)[:20]))}</td></tr>"
        for name, items in (
            ("missing from the index", report.missing),
            ("in the index, not in PostgreSQL", report.extra),
            ("checksum differs", report.mismatched),
            ("held twice", report.duplicated),
            ("rejected (known)", report.rejected),
        )
    )
    counts = "".join(
        f"<tr><td>{html.escape(by)}</td><td>{html.escape(str(value))}</td><td>{n}</td>"
        f"<td>{report.counts['opensearch'][by].get(value, 0)}</td></tr>"
        for by, values in report.counts["postgres"].items()
        for value, n in values.items()
    )
    return f"""<!doctype html><meta charset="utf-8"><title>Index verification</title>
<style>body{{font:14px system-ui;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse;margin:1em 0}}</style>
<h1>{html.escape(report.scope)}: <span style="color:{colour}">{verdict}</span></h1>
<p>{report.rows} rows in PostgreSQL, {report.documents} documents in the index; sample of
{report.sample["size"]} compared field by field ({len(report.sample["differences"])} differ);
{report.seconds} s.</p>
<table><tr><th>check</th><th>count</th><th>ids (first 20)</th></tr>{rows}</table>
<h2>Counts</h2><table><tr><th>by</th><th>value</th><th>PostgreSQL</th><th>index</th></tr>
{counts}</table>"""
