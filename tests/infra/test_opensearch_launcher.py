"""The embedded OpenSearch launcher runs a real 2.19 node: Turkish search, aggregation, restart."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.infra._process import pid_alive
from harness.infra.opensearch import OPENSEARCH_VERSION, OpenSearchServer

REPO = Path(__file__).resolve().parents[2]

INDEX = "turkish-probe"
DOCS = [
    {"text": "İstanbul Boğazı", "tag": "city"},
    {"text": "ISTANBUL HAVALİMANI", "tag": "city"},
    {"text": "Ankara Kalesi", "tag": "capital"},
]
INDEX_BODY: dict[str, Any] = {
    "settings": {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "analysis": {
            "filter": {"tr_lowercase": {"type": "lowercase", "language": "turkish"}},
            "analyzer": {
                # Turkish lowercasing maps İ→i but I→ı; asciifolding then makes ı→i, so both
                # spellings of the city meet the query "istanbul".
                "tr_text": {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": ["apostrophe", "tr_lowercase", "asciifolding"],
                }
            },
        },
    },
    "mappings": {
        "properties": {"text": {"type": "text", "analyzer": "tr_text"}, "tag": {"type": "keyword"}}
    },
}


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _processes_mentioning(needle: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            pids.append(int(proc.name))
    return pids


async def _matching_texts(client: httpx.AsyncClient, query: str) -> set[str]:
    response = await client.post(
        f"/{INDEX}/_search", json={"query": {"match": {"text": query}}, "size": 10}
    )
    assert response.status_code == 200, f"search for {query!r} failed: {response.text}"
    return {hit["_source"]["text"] for hit in response.json()["hits"]["hits"]}


@pytest.mark.slow
async def test_turkish_search_aggregation_and_clean_stop(
    opensearch_home: Path, tmp_path: Path
) -> None:
    assert (opensearch_home / "modules" / "analysis-common").is_dir(), (
        f"expected resolve_distribution to lay out modules/analysis-common under {opensearch_home}"
    )
    server = OpenSearchServer(opensearch_home, tmp_path / "data", tmp_path / "opensearch.log")
    async with server, httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
        info = (await client.get("/")).json()
        assert info["version"]["number"] == OPENSEARCH_VERSION, (
            f"expected OpenSearch {OPENSEARCH_VERSION}, the node reports {info['version']}"
        )
        assert server.record().extra == {"url": server.url}

        created = await client.put(f"/{INDEX}", json=INDEX_BODY)
        assert created.status_code == 200, (
            f"expected the index with a Turkish lowercase filter to be created: {created.text}"
        )
        for number, doc in enumerate(DOCS):
            indexed = await client.put(f"/{INDEX}/_doc/{number}", json=doc)
            assert indexed.status_code == 201, f"expected doc {doc} to be indexed: {indexed.text}"
        await client.post(f"/{INDEX}/_refresh")

        found = await _matching_texts(client, "istanbul")
        expected = {"İstanbul Boğazı", "ISTANBUL HAVALİMANI"}
        assert found == expected, (
            f"expected a match query for 'istanbul' to find exactly {expected} "
            f"(Turkish lowercasing + asciifolding), found {found}"
        )

        aggs = await client.post(
            f"/{INDEX}/_search",
            json={"size": 0, "aggs": {"tags": {"terms": {"field": "tag"}}}},
        )
        buckets = {b["key"]: b["doc_count"] for b in aggs.json()["aggregations"]["tags"]["buckets"]}
        assert buckets == {"city": 2, "capital": 1}, (
            f"expected terms buckets city=2, capital=1, got {buckets}"
        )
    pid, port = server.process.pid, server.http_port

    assert not _port_open(port), f"expected port {port} to be closed after stop()"
    assert not pid_alive(pid), f"expected OpenSearch pid {pid} to be gone after stop()"
    leftovers = _processes_mentioning(str(server.config_dir))
    assert not leftovers, (
        f"expected no process using {server.config_dir} after stop(), found {leftovers}"
    )

    # The chaos tests stop and start the node on the same data dir and expect the data back.
    async with server, httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
        count = (await client.get(f"/{INDEX}/_count")).json()
        assert count.get("count") == len(DOCS), (
            f"expected the {len(DOCS)} documents to survive a restart on the same data dir, "
            f"got {count}"
        )
        assert await _matching_texts(client, "istanbul") == expected
    assert not _port_open(port), f"expected port {port} to be closed after the second stop()"
