"""The archive's OpenSearch index: template with Turkish and English analyzers, alias, queries.

PostgreSQL is the source of truth; this index is rebuilt from it whenever it falls behind.
The `folded` analyzer lowercases with Turkish rules then folds to ASCII, so `istanbul`, `İstanbul`
and `ISTANBUL` (Turkish-lowercased to `ıstanbul`) all become `istanbul`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opensearchpy import AsyncOpenSearch, NotFoundError
from opensearchpy.helpers import async_bulk

from reference_services.common.errors import TransientError

log = logging.getLogger(__name__)

SYNONYMS = [
    "rapor, report",
    "ozet, summary",
    "eposta, email, mail",
    "hava, weather",
    "dosya, file",
]

ANALYSIS: dict[str, Any] = {
    "filter": {
        "tr_lower": {"type": "lowercase", "language": "turkish"},
        "tr_stop": {"type": "stop", "stopwords": "_turkish_"},
        "tr_stem": {"type": "stemmer", "language": "turkish"},
        "en_stop": {"type": "stop", "stopwords": "_english_"},
        "en_stem": {"type": "stemmer", "language": "english"},
        "en_possessive": {"type": "stemmer", "language": "possessive_english"},
        "altlas_synonyms": {"type": "synonym_graph", "synonyms": SYNONYMS},
    },
    "analyzer": {
        "folded": {
            "tokenizer": "standard",
            "filter": ["apostrophe", "tr_lower", "asciifolding"],
        },
        "folded_search": {
            "tokenizer": "standard",
            "filter": ["apostrophe", "tr_lower", "asciifolding", "altlas_synonyms"],
        },
        "turkish_text": {
            "tokenizer": "standard",
            "filter": ["apostrophe", "tr_lower", "tr_stop", "tr_stem"],
        },
        "english_text": {
            "tokenizer": "standard",
            "filter": ["en_possessive", "lowercase", "en_stop", "en_stem"],
        },
    },
}

TEXT_FIELD: dict[str, Any] = {
    "type": "text",
    "analyzer": "folded",
    "search_analyzer": "folded_search",
    "fields": {
        "tr": {"type": "text", "analyzer": "turkish_text"},
        "en": {"type": "text", "analyzer": "english_text"},
    },
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": {"type": "keyword"},
        "id": {"type": "keyword"},
        "last_id": {"type": "keyword"},
        "alt_id": {"type": "keyword"},
        "command_id": {"type": "keyword"},
        "command": TEXT_FIELD,
        "summary": TEXT_FIELD,
        "language": {"type": "keyword"},
        "success_rate": {"type": "float"},
        "status": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "created_at": {"type": "date"},
        "updated_at": {"type": "date"},
    },
}


class SearchIndex:
    def __init__(self, url: str, prefix: str, timeout_s: float) -> None:
        self.client = AsyncOpenSearch(hosts=[url], timeout=timeout_s, max_retries=0)
        self.alias = prefix
        self.first_index = f"{prefix}-v1"
        self.template = f"{prefix}-template"
        self._prepared = False

    async def close(self) -> None:
        await self.client.close()

    async def ready(self) -> bool:
        try:
            health = await self.client.cluster.health(request_timeout=2)
        except Exception:
            return False
        return health.get("status") in ("yellow", "green")

    async def prepare(self) -> None:
        """Create the template, the first index and the alias if missing (idempotent)."""
        if self._prepared:
            return
        try:
            await self.client.indices.put_index_template(
                name=self.template,
                body={
                    "index_patterns": [f"{self.alias}-*"],
                    "template": {
                        "settings": {
                            "number_of_shards": 1,
                            "number_of_replicas": 0,
                            "refresh_interval": "1s",
                            "analysis": ANALYSIS,
                        },
                        "mappings": MAPPINGS,
                    },
                },
            )
            if not await self.client.indices.exists_alias(name=self.alias):
                if not await self.client.indices.exists(index=self.first_index):
                    await self.client.indices.create(index=self.first_index)
                await self.client.indices.put_alias(index=self.first_index, name=self.alias)
        except Exception as exc:
            if "resource_already_exists" in str(exc):
                return await self.prepare()
            raise TransientError(f"OpenSearch not ready: {exc}") from exc
        self._prepared = True

    async def index(self, docs: Sequence[dict[str, Any]]) -> None:
        """Write documents by id (an upsert, so replays are harmless)."""
        await self.prepare()
        actions = [{"_index": self.alias, "_id": d["id"], "_source": d} for d in docs]
        try:
            await async_bulk(self.client, actions, refresh=False, raise_on_error=True)
        except Exception as exc:
            raise TransientError(f"OpenSearch indexing failed: {exc}") from exc

    async def refresh(self) -> None:
        """Make every write so far visible to search now, instead of within refresh_interval."""
        await self.prepare()
        try:
            await self.client.indices.refresh(index=self.alias)
        except Exception as exc:
            raise TransientError(f"OpenSearch refresh failed: {exc}") from exc

    async def delete(self, doc_id: str) -> None:
        """Remove one document; a document that is not there is already deleted."""
        await self.prepare()
        try:
            await self.client.delete(index=self.alias, id=doc_id, refresh=True)
        except NotFoundError:
            return
        except Exception as exc:
            raise TransientError(f"OpenSearch delete failed: {exc}") from exc

    async def search(
        self,
        *,
        q: str | None,
        status: str | None,
        tags: Sequence[str],
        language: str | None,
        min_success_rate: float | None,
        created_from: str | None,
        created_to: str | None,
        page: int,
        size: int,
    ) -> dict[str, Any]:
        await self.prepare()
        filters: list[dict[str, Any]] = []
        if status:
            filters.append({"term": {"status": status}})
        for tag in tags:
            filters.append({"term": {"tags": tag}})
        if language:
            filters.append({"term": {"language": language}})
        if min_success_rate is not None:
            filters.append({"range": {"success_rate": {"gte": min_success_rate}}})
        if created_from or created_to:
            rng = {k: v for k, v in (("gte", created_from), ("lte", created_to)) if v}
            filters.append({"range": {"created_at": rng}})
        must: list[dict[str, Any]] = []
        if q and q.strip():
            must.append(
                {
                    "multi_match": {
                        "query": q,
                        "fields": ["command^2", "command.tr", "command.en", "summary", "tags"],
                        "operator": "and",
                    }
                }
            )
        body = {
            "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
            "sort": ["_score", {"created_at": "desc"}, {"id": "asc"}],
            "from": (page - 1) * size,
            "size": size,
            "track_total_hits": True,
            "aggs": {
                "status": {"terms": {"field": "status", "size": 10}},
                "tags": {"terms": {"field": "tags", "size": 50}},
                "language": {"terms": {"field": "language", "size": 10}},
            },
        }
        try:
            resp = await self.client.search(index=self.alias, body=body)
        except NotFoundError:
            self._prepared = False
            raise TransientError("search index is being created; retry shortly") from None
        except Exception as exc:
            raise TransientError(f"OpenSearch search failed: {exc}") from exc
        facets = {
            name: {b["key"]: b["doc_count"] for b in resp["aggregations"][name]["buckets"]}
            for name in ("status", "tags", "language")
        }
        return {
            "total": resp["hits"]["total"]["value"],
            "page": page,
            "size": size,
            "items": [h["_source"] for h in resp["hits"]["hits"]],
            "facets": facets,
        }
