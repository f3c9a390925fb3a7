"""The runner's HTTP app: execution lookup plus ops endpoints."""

import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from reference_services.common import topology
from reference_services.common.app import Readiness, create_app, problem_responses
from reference_services.common.db import Database
from reference_services.common.models import LastDocument
from reference_services.common.runtime import Runtime, lifespan_for
from reference_services.runner.executors import executor_named
from reference_services.runner.service import RunnerHandler, get_execution
from reference_services.runner.settings import RunnerSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def build_app(settings: RunnerSettings) -> FastAPI:
    readiness = Readiness()
    runtime = Runtime(settings, readiness)
    executor = executor_named(settings.executor)

    async def start(rt: Runtime) -> None:
        handler = RunnerHandler(rt.messaging, rt.database, executor, settings.max_parallel_segments)
        rt.messaging.consume(topology.RUNNER, handler)

    app = create_app(
        title="ALT_LAS Runner",
        version="1.0.0",
        description="Executes ALT segments in dependency order and produces LAST documents.",
        lifespan=lifespan_for(runtime, database=Database(settings, MIGRATIONS), start=start),
        readiness=readiness,
    )

    @app.get(
        "/v1/executions/{execution_id}",
        response_model=LastDocument,
        tags=["runner"],
        summary="The LAST document of one execution",
        responses=problem_responses(404),
    )
    async def read_execution(execution_id: uuid.UUID, request: Request) -> dict[str, Any]:
        rt: Runtime = request.app.state.runtime
        return await get_execution(rt.database, str(execution_id))

    return app
