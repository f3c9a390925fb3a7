"""The archive's OpenSearch index family: versioned indices behind a read and a write alias.

PostgreSQL is the source of truth; the index is rebuilt from it whenever it falls behind. A new
record goes to the write alias; OpenSearch answers which concrete index took it, and the archive
keeps that (its *placement*) in PostgreSQL, so a later change of the record is written to the same
index — after a rollover the write alias points elsewhere, and writing there would leave a second
copy behind the read alias. See design.py for the names and the files the design comes from.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opensearchpy import AsyncOpenSearch, NotFoundError

from reference_services.archive.search.design import Design, Names, current
from reference_services.common.errors import TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    """Which indices the aliases point at now."""

    read: frozenset[str]
    write: str | None


@dataclass(frozen=True)
class Placed:
    """One document to write and where: its placement, or None for the write alias."""

    doc: Mapping[str, Any]
    index: str | None = None


@dataclass(frozen=True)
class Written:
    """What a bulk write did, per document id."""

    placed: dict[str, str]  # id → the concrete index that holds it now
    refused: dict[str, str]  # id → why OpenSearch refused it for good (mapping errors)
    retry: dict[str, str]  # id → why it failed for now (overload, outage): try again later


class SearchIndex:
    def __init__(
        self,
        url: str,
        prefix: str,
        timeout_s: float,
        design: Design | None = None,
        *,
        replicas: int = 0,
    ) -> None:
        self.client = AsyncOpenSearch(hosts=[url], timeout=timeout_s, max_retries=0)
        self.names = Names(prefix)
        self.design = design or current()
        self.replicas = replicas
        self._prepared = False

    @property
    def alias(self) -> str:
        return self.names.read

    async def close(self) -> None:
        await self.client.close()

    async def ready(self) -> bool:
        try:
            health = await self.client.cluster.health(request_timeout=2)
        except Exception:
            return False
        return health.get("status") in ("yellow", "green")

    async def put_template(self, version: int) -> None:
        """The index template of one design version (its indices' settings and mappings)."""
        await self.client.indices.put_index_template(
            name=self.names.template(version),
            body={
                "index_patterns": [f"{self.names.template(version)}-*"],
                # Above the pre-versioning template (priority 0, pattern "<prefix>-*").
                "priority": 100 + version,
                "template": {
                    "settings": self.design.settings(replicas=self.replicas),
                    "mappings": self.design.mappings_with_meta(version),
                },
                "_meta": {"altlas_design": self.design.digest},
            },
        )

    async def prepare(self) -> None:
        """Create version 1 (template, first index, both aliases) when there is no read alias;
        give a pre-versioning index (one index behind the read alias) its write alias."""
        if self._prepared:
            return
        try:
            if not await self.client.indices.exists_alias(name=self.names.read):
                await self.put_template(1)
                first = self.names.index(1)
                if not await self.client.indices.exists(index=first):
                    await self.client.indices.create(index=first)
                await self._add_aliases(first)
            elif not await self.client.indices.exists_alias(name=self.names.write):
                layout = await self.layout()
                if len(layout.read) != 1:
                    raise TransientError(
                        f"{self.names.read} has {len(layout.read)} indices and no write alias"
                    )
                await self._add_aliases(next(iter(layout.read)))
            # The indices that exist, and those rollovers will make from the existing templates,
            # take the replica count this deployment asks for.
            await self.client.indices.put_settings(
                index=self.names.read, body={"index": {"number_of_replicas": self.replicas}}
            )
            await self._template_replicas()
        except TransientError:
            raise
        except Exception as exc:
            if "resource_already_exists" in str(exc):
                return await self.prepare()  # another replica got there first
            raise TransientError(f"OpenSearch not ready: {exc}") from exc
        self._prepared = True

    async def _template_replicas(self) -> None:
        """Set number_of_replicas in each of our index templates (and nothing else in them:
        a template of another design version keeps its mappings)."""
        try:
            found = await self.client.indices.get_index_template(name=f"{self.names.prefix}-v*")
        except NotFoundError:
            return
        for entry in found.get("index_templates", []):
            body = entry["index_template"]
            settings = body.setdefault("template", {}).setdefault("settings", {})
            index = settings.setdefault("index", {})
            if str(index.get("number_of_replicas")) == str(self.replicas):
                continue
            index["number_of_replicas"] = self.replicas
            settings.pop("number_of_replicas", None)
            await self.client.indices.put_index_template(name=entry["name"], body=body)

    async def _add_aliases(self, index: str) -> None:
        await self.client.indices.update_aliases(
            body={
                "actions": [
                    {"add": {"index": index, "alias": self.names.read}},
                    {"add": {"index": index, "alias": self.names.write, "is_write_index": True}},
                ]
            }
        )

    async def _alias(self, name: str) -> dict[str, Any]:
        # One alias per request: asked for two, OpenSearch answers 404 if either is missing.
        try:
            found: dict[str, Any] = await self.client.indices.get_alias(name=name)
        except NotFoundError:
            return {}
        except Exception as exc:
            raise TransientError(f"OpenSearch aliases unreadable: {exc}") from exc
        return found

    async def layout(self) -> Layout:
        """The indices behind the read alias and the write alias's write index."""
        read = frozenset(await self._alias(self.names.read))
        write = None
        for index, entry in (await self._alias(self.names.write)).items():
            w = entry.get("aliases", {}).get(self.names.write) or {}
            if w.get("is_write_index", True):
                write = index
        return Layout(read, write)

    async def locate(self, ids: Sequence[str], layout: Layout) -> dict[str, str]:
        """Which live index other than the write index holds each of `ids` (real-time gets:
        no refresh needed); ids found nowhere else are absent from the answer."""
        found: dict[str, str] = {}
        for index in sorted(layout.read - {layout.write}):
            wanted = [i for i in ids if i not in found]
            if not wanted:
                break
            try:
                resp = await self.client.mget(
                    index=index, body={"ids": wanted}, params={"_source": "false"}
                )
            except Exception as exc:
                raise TransientError(f"OpenSearch mget on {index} failed: {exc}") from exc
            found.update({d["_id"]: index for d in resp["docs"] if d.get("found")})
        return found

    async def index(self, docs: Sequence[Placed], *, refresh: bool = False) -> Written:
        """Write documents by id (an upsert, so replays are harmless), each to its placement or,
        without one, to the write alias. Says, per id, which concrete index took it, or why it
        was refused for good (a mapping error) or for now (429, 5xx: retry later)."""
        await self.prepare()
        body: list[dict[str, Any]] = []
        for placed in docs:
            action: dict[str, Any] = {"_id": placed.doc["id"]}
            if placed.index is None:
                # Never auto-create an index called like the alias if the alias is gone.
                action.update(_index=self.names.write, require_alias=True)
            else:
                action["_index"] = placed.index
            body += [{"index": action}, dict(placed.doc)]
        if not body:
            return Written({}, {}, {})
        try:
            resp = await self.client.bulk(body=body, refresh=refresh)
        except Exception as exc:
            raise TransientError(f"OpenSearch indexing failed: {exc}") from exc
        written = Written({}, {}, {})
        for item in resp["items"]:
            result = item["index"]
            error = result.get("error")
            if not error:
                written.placed[result["_id"]] = result["_index"]
                continue
            reason = f"{error.get('type', 'error')}: {error.get('reason', error)}"
            status = int(result.get("status", 500))
            if status == 429 or status >= 500 or error.get("type") == "index_not_found_exception":
                written.retry[result["_id"]] = reason
            else:
                written.refused[result["_id"]] = reason
        return written

    async def refresh(self) -> None:
        """Make every write so far visible to search now, instead of within refresh_interval."""
        await self.prepare()
        try:
            await self.client.indices.refresh(index=self.names.read)
        except Exception as exc:
            raise TransientError(f"OpenSearch refresh failed: {exc}") from exc

    async def delete(self, doc_id: str) -> None:
        """Remove one document from every index behind the read alias (wherever it was placed)."""
        await self.prepare()
        try:
            await self.client.delete_by_query(
                index=self.names.read,
                body={"query": {"ids": {"values": [doc_id]}}},
                params={"refresh": "true", "conflicts": "proceed"},
            )
        except NotFoundError:
            return
        except Exception as exc:
            raise TransientError(f"OpenSearch delete failed: {exc}") from exc

    # Lifecycle operations (lifecycle.py decides when).

    async def rollover(self, conditions: Mapping[str, Any]) -> tuple[str, str] | None:
        """Roll the write alias over to the next generation if any condition holds; returns
        (old, new) when it rolled. The new index joins the read alias in the same request."""
        layout = await self.layout()
        if layout.write is None:
            raise TransientError(f"{self.names.write} points at no index")
        new = self.names.next_generation(layout.write)
        try:
            resp = await self.client.indices.rollover(
                alias=self.names.write,
                new_index=new,
                body={"conditions": dict(conditions), "aliases": {self.names.read: {}}},
            )
        except Exception as exc:
            if "resource_already_exists" in str(exc):
                return None  # another replica rolled it a moment ago
            raise TransientError(f"OpenSearch rollover failed: {exc}") from exc
        if not resp.get("rolled_over"):
            return None
        return str(resp["old_index"]), str(resp["new_index"])

    async def newest(self, index: str, *, refresh: bool = False) -> datetime | None:
        """The newest created_at in one index; None when it holds no document."""
        try:
            if refresh:
                await self.client.indices.refresh(index=index)
            resp = await self.client.search(
                index=index,
                body={"size": 0, "aggs": {"newest": {"max": {"field": "created_at"}}}},
            )
        except Exception as exc:
            raise TransientError(f"OpenSearch aggregation on {index} failed: {exc}") from exc
        value = resp["aggregations"]["newest"].get("value_as_string")
        return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))

    async def count(self, index: str) -> int:
        try:
            resp = await self.client.count(index=index)
        except Exception as exc:
            raise TransientError(f"OpenSearch count on {index} failed: {exc}") from exc
        return int(resp["count"])

    async def delete_index(self, index: str) -> None:
        try:
            await self.client.indices.delete(index=index)
        except NotFoundError:
            return
        except Exception as exc:
            raise TransientError(f"OpenSearch delete of {index} failed: {exc}") from exc

    async def counts(self) -> dict[str, dict[str, Any]]:
        """Per concrete index behind the read alias: documents, store size, design digest."""
        layout = await self.layout()
        if not layout.read:
            return {}
        names = ",".join(sorted(layout.read))
        try:
            stats = await self.client.indices.stats(index=names, metric="docs,store")
            mappings = await self.client.indices.get_mapping(index=names)
        except Exception as exc:
            raise TransientError(f"OpenSearch stats failed: {exc}") from exc
        out: dict[str, dict[str, Any]] = {}
        for name in sorted(layout.read):
            primaries = stats["indices"][name]["primaries"]
            meta = mappings[name]["mappings"].get("_meta", {})
            out[name] = {
                "docs": primaries["docs"]["count"],
                "bytes": primaries["store"]["size_in_bytes"],
                "design": meta.get("altlas_design"),
                "write": name == layout.write,
            }
        return out

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
            must.append(self.design.match(q))
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
            resp = await self.client.search(index=self.names.read, body=body)
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
