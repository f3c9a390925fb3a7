"""Archive statistics from the materialized views of migration 0004 (atlas_daily, _tags).

`refresh` runs REFRESH MATERIALIZED VIEW CONCURRENTLY (readers are not blocked; two replicas
refreshing at once are serialized by PostgreSQL); `read` answers GET /v1/atlas/stats from the
views, with the time of the last refresh so a reader knows how fresh the figures are.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

from reference_services.common.db import Database
from reference_services.common.tasks import every

log = logging.getLogger(__name__)


async def refresh(db: Database) -> None:
    async with db.pool.acquire() as conn:
        await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY atlas_daily")
        await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY atlas_daily_tags")
        await conn.execute(
            "INSERT INTO atlas_stats_refreshed (only_row, refreshed_at) VALUES (true, now())"
            " ON CONFLICT (only_row) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at"
        )


async def refresh_forever(db: Database, interval_s: float, stop: asyncio.Event) -> None:
    # At most a tenth of the time: at a million rows one refresh takes seconds (measured by
    # make bench-data: ~6 s on two cores), and back to back it starved indexing and search.
    await every("statistics refresh", interval_s, lambda: refresh(db), stop, max_share=0.1)


async def read(db: Database, day_from: date | None, day_to: date | None) -> dict[str, Any]:
    async with db.pool.acquire() as conn:
        daily = await conn.fetch(
            "SELECT day, status, language, records, mean_success_rate FROM atlas_daily"
            " WHERE ($1::date IS NULL OR day >= $1) AND ($2::date IS NULL OR day <= $2)"
            " ORDER BY day, status, language",
            day_from,
            day_to,
        )
        tags = await conn.fetch(
            "SELECT day, tag, records FROM atlas_daily_tags"
            " WHERE ($1::date IS NULL OR day >= $1) AND ($2::date IS NULL OR day <= $2)"
            " ORDER BY day, tag",
            day_from,
            day_to,
        )
        refreshed = await conn.fetchval("SELECT refreshed_at FROM atlas_stats_refreshed")
    totals: dict[str, dict[str, int]] = {"status": {}, "language": {}, "tag": {}}
    for row in daily:
        for key in ("status", "language"):
            totals[key][row[key]] = totals[key].get(row[key], 0) + int(row["records"])
    for row in tags:
        totals["tag"][row["tag"]] = totals["tag"].get(row["tag"], 0) + int(row["records"])
    return {
        "refreshed_at": refreshed.isoformat().replace("+00:00", "Z") if refreshed else None,
        "records": sum(int(r["records"]) for r in daily),
        "totals": totals,
        "days": [
            {
                "day": r["day"].isoformat(),
                "status": r["status"],
                "language": r["language"],
                "records": int(r["records"]),
                "mean_success_rate": round(float(r["mean_success_rate"] or 0.0), 4),
            }
            for r in daily
        ],
        "tags": [
            {"day": r["day"].isoformat(), "tag": r["tag"], "records": int(r["records"])}
            for r in tags
        ],
    }
