"""Relevance of the archive's search: nDCG@10 and precision@5 over a judged query set.

The corpus (scenarios/_support/corpus.py, 560 generated records, Turkish and English) goes into a
scratch index built with the deployment's own analysis and mappings (copied from its write
index), and each query runs as the archive runs it (search/query.json's multi_match). The
judgements come from the corpus's attributes, not from any engine. Figures are printed and
written to reports/data/relevance.json; the floors sit under what the reference design measured.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import httpx

from harness.schemas import search_match
from harness.workload.corpus import QUERIES, Query, Record, records
from scenarios.data.conftest import IndexFamily

REPORT = Path("reports/data/relevance.json")
NDCG_FLOOR = 0.78
PRECISION_FLOOR = 0.80


def ndcg(grades: list[int], ideal: list[int], k: int = 10) -> float:
    def dcg(values: list[int]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(values[:k]))

    best = dcg(sorted(ideal, reverse=True))
    return dcg(grades) / best if best else 0.0


def precision(grades: list[int], k: int = 5) -> float:
    return sum(1 for g in grades[:k] if g > 0) / k


async def _scratch_index(client: httpx.AsyncClient, source: str) -> str:
    settings = (await client.get(f"/{source}/_settings")).json()[source]["settings"]["index"]
    mappings = (await client.get(f"/{source}/_mapping")).json()[source]["mappings"]
    name = f"altlas-relevance-{uuid.uuid4().hex[:10]}"
    body = {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "analysis": settings["analysis"],
        },
        "mappings": mappings,
    }
    created = await client.put(f"/{name}", json=body)
    assert created.status_code == 200, f"expected the scratch index to be created: {created.text}"
    return name


async def _load(client: httpx.AsyncClient, index: str, corpus: list[Record]) -> None:
    lines = []
    for record in corpus:
        lines.append(json.dumps({"index": {"_index": index, "_id": record.doc["id"]}}))
        lines.append(json.dumps(record.doc, ensure_ascii=False))
    resp = await client.post(
        "/_bulk?refresh=true",
        content="\n".join(lines) + "\n",
        headers={"Content-Type": "application/x-ndjson"},
    )
    body = resp.json()
    assert resp.status_code == 200 and not body.get("errors"), (
        f"expected the corpus to load into {index}: {str(body)[:500]}"
    )


async def _ranked(client: httpx.AsyncClient, index: str, query: Query) -> list[str]:
    body: dict[str, Any] = {
        "query": search_match(query.text),
        "sort": ["_score", {"created_at": "desc"}, {"id": "asc"}],
        "size": 10,
        "_source": False,
    }
    resp = await client.post(f"/{index}/_search", json=body)
    assert resp.status_code == 200, f"query {query.text!r} failed: {resp.text}"
    return [hit["_id"] for hit in resp.json()["hits"]["hits"]]


async def test_judged_queries_meet_the_relevance_floors(
    opensearch: httpx.AsyncClient, index_family: IndexFamily
) -> None:
    corpus = records()
    assert len(corpus) >= 500 and len(QUERIES) >= 30
    scratch = await _scratch_index(opensearch, index_family.write_index)
    try:
        await _load(opensearch, scratch, corpus)
        by_id = {r.doc["id"]: r for r in corpus}
        rows = []
        for query in QUERIES:
            ranked = await _ranked(opensearch, scratch, query)
            grades = [query.grade(by_id[i]) for i in ranked]
            ideal = [query.grade(r) for r in corpus]
            rows.append(
                {
                    "query": query.text,
                    "relevant": sum(1 for g in ideal if g),
                    "ndcg@10": round(ndcg(grades, ideal), 4),
                    "p@5": precision(grades),
                    "top5": [by_id[i].doc["command"] for i in ranked[:5]],
                }
            )
    finally:
        await opensearch.delete(f"/{scratch}")
    mean_ndcg = sum(r["ndcg@10"] for r in rows) / len(rows)
    mean_p5 = sum(r["p@5"] for r in rows) / len(rows)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {"ndcg@10": mean_ndcg, "p@5": mean_p5, "records": len(corpus), "queries": rows},
            indent=2,
            ensure_ascii=False,
        )
    )
    print(
        f"\nrelevance over {len(corpus)} records, {len(rows)} queries: "
        f"nDCG@10 {mean_ndcg:.3f}, precision@5 {mean_p5:.3f} ({REPORT})"
    )
    worst = sorted(rows, key=lambda r: r["ndcg@10"])[:5]
    assert mean_ndcg >= NDCG_FLOOR and mean_p5 >= PRECISION_FLOOR, (
        f"expected mean nDCG@10 ≥ {NDCG_FLOOR} and precision@5 ≥ {PRECISION_FLOOR}, measured "
        f"{mean_ndcg:.3f} and {mean_p5:.3f}; weakest queries: "
        + "; ".join(f"{r['query']!r} nDCG {r['ndcg@10']} top5 {r['top5']}" for r in worst)
    )
