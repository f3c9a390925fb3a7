"""The search-write fence: a PostgreSQL advisory lock between indexing and index maintenance.

Every indexing pass holds it shared for its transaction (read rows, write OpenSearch, record
placements). What rearranges the indices under the archive's feet — deleting an index past
retention, a migration's final catch-up and alias swap — holds it exclusively, so no pass can
write to an index as it disappears (which would auto-create it outside the aliases) or record a
placement the swap is about to make stale. An indexing pass that finds the fence closed does
not wait: its rows stay behind their version and the catch-up loop indexes them afterwards.
"""

from __future__ import annotations

from typing import Final

import asyncpg

# pg_advisory_* key, fixed for every archive replica and tool ("altlas" in ASCII).
KEY: Final = 0x616C746C6173


async def try_shared(conn: asyncpg.Connection) -> bool:
    """Take the fence shared for the current transaction; False when maintenance holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock_shared($1)", KEY))


async def exclusive(conn: asyncpg.Connection, timeout_s: float) -> None:
    """Take the fence exclusively for the current transaction, waiting up to `timeout_s` for
    indexing passes in flight to finish (asyncpg raises LockNotAvailableError after that)."""
    await conn.execute(f"SET LOCAL lock_timeout = '{int(timeout_s * 1000)}ms'")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", KEY)
