"""The overhead benchmark's baseline: `GET /commands/{id}` as a bare ASGI app — the same
PostgreSQL read as the gateway's, JSON out, and nothing else (no framework, auth, rate limit,
validation or metrics). Served by uvicorn exactly as the services are.

    python -m harness.bench.bare_app DATABASE_URL PORT
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg
import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BareRead:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    # The gateway's pool size (db_pool_max).
                    self.pool = await asyncpg.create_pool(
                        self.database_url, min_size=1, max_size=10
                    )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.pool is not None:
                        await self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if self.pool is None:
            raise RuntimeError("the bare app got a request before its lifespan started")
        status, body = 404, b'{"detail":"not found"}'
        parts = scope["path"].strip("/").split("/")
        if len(parts) == 2 and parts[0] == "commands":
            try:
                command_id = str(uuid.UUID(parts[1]))
            except ValueError:
                command_id = ""
            if command_id:
                row = await self.pool.fetchrow("SELECT * FROM commands WHERE id = $1", command_id)
                if row is not None:
                    status, body = 200, json.dumps(dict(row), default=str).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def main() -> None:
    database_url, port = sys.argv[1], int(sys.argv[2])
    # As reference_services.common.app.serve configures the services' uvicorn.
    uvicorn.run(
        BareRead(database_url),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
