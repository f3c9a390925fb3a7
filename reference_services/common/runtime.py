"""Process-level wiring shared by the services: start-up order and graceful shutdown.

Start: logging → dependencies (database, NATS) → consumers → HTTP. Stop (SIGTERM): readiness
turns 503, uvicorn drains requests, consumers finish or NAK in-flight messages, connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI

from reference_services.common import tracing
from reference_services.common.app import Readiness
from reference_services.common.db import Database
from reference_services.common.messaging import Messaging
from reference_services.common.settings import ServiceSettings

log = logging.getLogger(__name__)


def dump_tasks() -> None:
    """SIGUSR1: log the stack of every asyncio task, to see what a stuck service waits on."""
    for task in asyncio.all_tasks():
        buf = io.StringIO()
        task.print_stack(file=buf)
        log.warning("task %s: %s", task.get_name(), buf.getvalue())


class Runtime:
    """The live resources of one service process, held on `app.state.runtime`."""

    def __init__(self, settings: ServiceSettings, readiness: Readiness) -> None:
        self.settings = settings
        self.readiness = readiness
        self.messaging = Messaging(settings)
        self.db: Database | None = None
        self.extras: dict[str, Any] = {}

    @property
    def database(self) -> Database:
        """The open database (a check that survives `python -O`, unlike an assert)."""
        if self.db is None:
            raise RuntimeError(f"{self.settings.service_name} has no open database")
        return self.db


def lifespan_for(
    runtime: Runtime,
    *,
    database: Database | None,
    start: Callable[[Runtime], Awaitable[None]],
    stop: Callable[[Runtime], Awaitable[None]] | None = None,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime
        provider = tracing.configure(runtime.settings.service_name, runtime.settings.trace_file)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
        async with contextlib.AsyncExitStack() as stack:
            if database is not None:
                runtime.db = await stack.enter_async_context(database)
                runtime.readiness.add("postgres", database.ready)
            await stack.enter_async_context(runtime.messaging)
            runtime.readiness.add("nats", runtime.messaging.ready)
            await start(runtime)
            try:
                yield
            finally:
                runtime.readiness.shutting_down = True
                if stop is not None:
                    await stop(runtime)
                if provider is not None:
                    provider.shutdown()  # flushes the spans still queued

    return lifespan
