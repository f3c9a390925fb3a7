"""The archive's HTTP app: search, read, status change, plus ops endpoints."""

import asyncio
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from reference_services.archive import provider_states, stats
from reference_services.archive.search import lifecycle
from reference_services.archive.search.index import SearchIndex
from reference_services.archive.service import Archive
from reference_services.archive.settings import ArchiveSettings
from reference_services.common import topology
from reference_services.common.app import Readiness, create_app, problem_responses
from reference_services.common.db import Database
from reference_services.common.models import AtlasDocument, AtlasStatus
from reference_services.common.runtime import Runtime, lifespan_for
from reference_services.common.search_params import SearchParams
from reference_services.common.tasks import supervised
from reference_services.common.validation import Date

MIGRATIONS = Path(__file__).parent / "migrations"


class SearchResult(BaseModel):
    total: int
    page: int
    size: int
    items: list[AtlasDocument]
    facets: dict[str, dict[str, int]] = Field(
        description="Counts per value for status, tags and language over all matches"
    )


class DailyCount(BaseModel):
    day: date
    status: AtlasStatus
    language: str
    records: int
    mean_success_rate: float


class DailyTag(BaseModel):
    day: date
    tag: str
    records: int


class Statistics(BaseModel):
    refreshed_at: str | None = Field(description="When the figures were computed (null: never)")
    records: int
    totals: dict[str, dict[str, int]] = Field(description="Per status, language and tag")
    days: list[DailyCount]
    tags: list[DailyTag]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AtlasStatus


def build_app(settings: ArchiveSettings) -> FastAPI:
    readiness = Readiness()
    runtime = Runtime(settings, readiness)
    index = SearchIndex(
        settings.opensearch_url,
        settings.index_prefix,
        settings.opensearch_timeout_s,
        replicas=settings.index_replicas,
    )
    stop_catch_up = asyncio.Event()
    policy = lifecycle.Policy.defaults().override(
        max_docs=settings.rollover_max_docs,
        max_size=settings.rollover_max_size,
        max_age=settings.rollover_max_age,
        retention=settings.retention,
    )

    async def start(rt: Runtime) -> None:
        archive = Archive(rt.database, index, rt.messaging)
        rt.extras["archive"] = archive
        rt.readiness.add("opensearch", index.ready)
        rt.messaging.consume(topology.ARCHIVE, archive.handle_last_created)
        rt.extras["catch_up"] = supervised(
            "index-catch-up",
            lambda: archive.catch_up_forever(settings.catch_up_interval_s, stop_catch_up),
            stop_catch_up,
        )
        if settings.stats_refresh_s > 0:
            rt.extras["stats"] = supervised(
                "stats-refresh",
                lambda: stats.refresh_forever(rt.database, settings.stats_refresh_s, stop_catch_up),
                stop_catch_up,
            )
        if settings.lifecycle_interval_s > 0:
            rt.extras["lifecycle"] = supervised(
                "index-lifecycle",
                lambda: lifecycle.run_forever(
                    index, rt.database, policy, settings.lifecycle_interval_s, stop_catch_up
                ),
                stop_catch_up,
            )

    async def stop(rt: Runtime) -> None:
        stop_catch_up.set()
        tasks = [t for k in ("catch_up", "lifecycle", "stats") if (t := rt.extras.get(k))]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await index.close()

    app = create_app(
        title="ALT_LAS Archive",
        version="1.0.0",
        description="Stores ATLAS records (PostgreSQL) and searches them (OpenSearch).",
        lifespan=lifespan_for(
            runtime, database=Database(settings, MIGRATIONS), start=start, stop=stop
        ),
        readiness=readiness,
    )

    def _archive(request: Request) -> Archive:
        archive: Archive = request.app.state.runtime.extras["archive"]
        return archive

    if settings.test_mode:
        # Contract verification only (see provider_states); absent, hence 404, otherwise.
        app.include_router(provider_states.router(_archive))

    @app.get(
        "/v1/atlas/search",
        response_model=SearchResult,
        tags=["archive"],
        summary="Full-text search over ATLAS records with filters and facets",
        responses=problem_responses(422, 503),
    )
    async def search(request: Request, params: Annotated[SearchParams, Query()]) -> dict[str, Any]:
        return await index.search(**params.search_kwargs())

    @app.get(
        "/v1/atlas/stats",
        response_model=Statistics,
        tags=["archive"],
        summary="Records per day, status, language and tag (materialized; see refreshed_at)",
        responses=problem_responses(422),
    )
    async def statistics(
        request: Request,
        day_from: Annotated[Date | None, Query(alias="from")] = None,
        day_to: Annotated[Date | None, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        # from after to is an empty window (as in search), not an error: OpenAPI cannot state
        # a rule between two parameters, and every rule a request meets is in the OpenAPI.
        return await stats.read(request.app.state.runtime.database, day_from, day_to)

    # `:uuid` keeps ".../search" from also matching this route: a PATCH there is a 405, not an
    # id that fails validation (422), and a 405's Allow header names only the search's GET.
    @app.get(
        "/v1/atlas/{atlas_id:uuid}",
        response_model=AtlasDocument,
        tags=["archive"],
        summary="One ATLAS record",
        responses=problem_responses(404),
    )
    async def read(atlas_id: uuid.UUID, request: Request) -> dict[str, Any]:
        return await _archive(request).get(str(atlas_id))

    @app.patch(
        "/v1/atlas/{atlas_id:uuid}",
        response_model=AtlasDocument,
        tags=["archive"],
        summary="Change an ATLAS record's status",
        responses=problem_responses(404, 422),
    )
    async def change_status(
        atlas_id: uuid.UUID, body: StatusChange, request: Request
    ) -> dict[str, Any]:
        return await _archive(request).set_status(str(atlas_id), body.status)

    return app
