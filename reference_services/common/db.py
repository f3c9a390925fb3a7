"""PostgreSQL access: an asyncpg pool and versioned SQL migrations applied at start-up.

Migrations are `NNNN_name.sql` files in a service's `migrations/` folder, applied in order, each
in its own transaction, under an advisory lock so that replicas starting together do not race.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import asyncpg

from reference_services.common.errors import ServiceError
from reference_services.common.settings import DatabaseSettings

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 7_246_001


class Database:
    """A connection pool; an async context manager."""

    def __init__(self, settings: DatabaseSettings, migrations: Path | None = None) -> None:
        self.settings = settings
        self.migrations = migrations
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not connected")
        return self._pool

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._pool = await asyncpg.create_pool(
                    self.settings.database_url,
                    min_size=self.settings.db_pool_min,
                    max_size=self.settings.db_pool_max,
                    command_timeout=self.settings.db_command_timeout_s,
                )
                break
            except (OSError, asyncpg.PostgresError) as exc:
                if time.monotonic() > deadline:
                    raise ServiceError(f"cannot connect to PostgreSQL: {exc}") from exc
                log.warning("PostgreSQL not reachable yet (%s); retrying", exc)
                await asyncio.sleep(0.5)
        if self.migrations is not None:
            await migrate(self.pool, self.migrations)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ready(self) -> bool:
        if self._pool is None:
            return False
        try:
            async with self.pool.acquire(timeout=2) as conn:
                return bool(await conn.fetchval("SELECT 1", timeout=2) == 1)
        except Exception:
            return False


async def migrate(pool: asyncpg.Pool, folder: Path) -> list[str]:
    """Apply pending migrations; returns the versions applied now."""
    files = sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for path in files:
                version = path.stem
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                applied_now.append(version)
                log.info("applied migration %s", version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now
