"""The archive index's lifecycle, run by the archive itself (OpenSearch's ISM plugin is not on
Maven Central, so the reference stack cannot rely on it): roll the write index over when it
reaches a threshold, delete indices past retention. Only core APIs (`_rollover`, index delete).

Every archive replica may run it: `_rollover` evaluates its conditions atomically on the cluster
and names the new index explicitly, so two replicas cannot both roll; deleting an index happens
under the search-write fence (fence.py) and deleting one twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from reference_services.archive.search import fence
from reference_services.archive.search.design import DesignError, lifecycle_defaults
from reference_services.archive.search.index import SearchIndex
from reference_services.common.db import Database
from reference_services.common.tasks import every

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^(?P<n>[1-9][0-9]*)(?P<unit>s|m|h|d)$")
_SIZE = re.compile(r"^(?P<n>[1-9][0-9]*)(?P<unit>b|kb|mb|gb|tb)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """'30d', '12h', '90m', '45s' (the units OpenSearch's conditions take, whole numbers)."""
    m = _DURATION.match(text.strip())
    if m is None:
        raise DesignError(f"{text!r} is not a duration like 30d, 12h, 90m or 45s")
    return timedelta(seconds=int(m["n"]) * _UNIT_S[m["unit"]])


def size(text: str) -> str:
    if _SIZE.match(text.strip().lower()) is None:
        raise DesignError(f"{text!r} is not a size like 5gb, 500mb or 10kb")
    return text.strip().lower()


@dataclass(frozen=True)
class Policy:
    """Rollover thresholds (any one suffices; None = not used) and retention (None = forever)."""

    max_docs: int | None = None
    max_size: str | None = None
    max_age: str | None = None
    retention: str | None = None

    @classmethod
    def defaults(cls) -> Policy:
        data = lifecycle_defaults()
        rollover = data.get("rollover", {})
        return cls(
            max_docs=rollover.get("max_docs"),
            max_size=rollover.get("max_size"),
            max_age=rollover.get("max_age"),
            retention=data.get("retention"),
        ).checked()

    def checked(self) -> Policy:
        if self.max_docs is not None and self.max_docs < 1:
            raise DesignError(f"max_docs must be at least 1, not {self.max_docs}")
        if self.max_size is not None:
            size(self.max_size)
        for value in (self.max_age, self.retention):
            if value is not None:
                duration(value)
        if self.max_docs is None and self.max_size is None and self.max_age is None:
            raise DesignError("a lifecycle policy needs at least one rollover threshold")
        return self

    def override(self, **changes: Any) -> Policy:
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).checked()

    def conditions(self) -> dict[str, Any]:
        pairs = (
            ("max_docs", self.max_docs),
            ("max_size", self.max_size),
            ("max_age", self.max_age),
        )
        return {k: v for k, v in pairs if v is not None}


@dataclass(frozen=True)
class Pass:
    """What one lifecycle pass did."""

    rolled_over: tuple[str, str] | None
    deleted: tuple[str, ...]
    kept: tuple[str, ...]
    policy: Policy

    def to_json(self) -> dict[str, Any]:
        return {
            "rolled_over": None
            if self.rolled_over is None
            else {"from": self.rolled_over[0], "to": self.rolled_over[1]},
            "deleted": list(self.deleted),
            "kept": list(self.kept),
            "policy": asdict(self.policy),
        }


async def run_once(
    index: SearchIndex, db: Database, policy: Policy, fence_timeout_s: float = 10
) -> Pass:
    """One pass. The rollover and each deletion run under the exclusive fence (fence.py), so
    no migration swap, rollback or cleanup reads a layout that changes under it, and no
    indexing pass writes into an index being deleted."""
    await index.prepare()
    async with db.pool.acquire() as conn, conn.transaction():
        await fence.exclusive(conn, fence_timeout_s)
        rolled = await index.rollover(policy.conditions())
    if rolled is not None:
        log.info("rolled %s over from %s to %s", index.names.write, *rolled)
    deleted: list[str] = []
    kept: list[str] = []
    if policy.retention is not None:
        cutoff = datetime.now(UTC) - duration(policy.retention)
        for name in sorted((await index.layout()).read):
            async with db.pool.acquire() as conn, conn.transaction():
                await fence.exclusive(conn, fence_timeout_s)
                layout = await index.layout()  # as it is now, under the fence
                if name not in layout.read or name == layout.write:
                    continue
                # A document written a moment ago is not searchable before a refresh: refresh,
                # then judge by the newest record, or by emptiness.
                newest = await index.newest(name, refresh=True)
                if newest is not None and newest >= cutoff:
                    kept.append(name)
                    continue
                if newest is None and await index.count(name) > 0:
                    kept.append(name)
                    continue
                await index.delete_index(name)
            log.info("deleted %s (newest record %s, retention %s)", name, newest, policy.retention)
            deleted.append(name)
    return Pass(rolled, tuple(deleted), tuple(kept), policy)


async def run_forever(
    index: SearchIndex, db: Database, policy: Policy, interval_s: float, stop: asyncio.Event
) -> None:
    await every("lifecycle pass", interval_s, lambda: run_once(index, db, policy), stop)
