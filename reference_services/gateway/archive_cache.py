"""A server-side cache of the archive's answers at the gateway, invalidated by the archive's own
change events, on every replica.

What it keeps: successful answers of `GET /v1/atlas/{id}` (reads) and `GET /v1/atlas/search`
(searches) — the same for every caller, so one entry serves all (authentication still runs
first on each request). What drops them: every event on `altlas.atlas.>` — a new record
(`atlas.created`) drops every search; a changed one (`atlas.updated`) drops its read and every
search. Each gateway replica reads those events itself, through an ordered consumer of its own
(`ArchiveChanges`), so a change made through any replica, or at the archive directly, reaches
all of them.

The promise, tested by scenarios/e2e/test_archive_cache.py: **once a replica has processed a
record's change event, it never serves that record's earlier state.** Three rules keep it:
- a fetch that began before an event it overlaps is not stored (each entry remembers the
  change sequence at which its fetch began, `begin()`/`put()`);
- while the replica is not reading the events (NATS away, the subscription not up), nothing is
  served or stored, and everything is dropped when it comes back — events missed in between
  cannot leave stale entries behind;
- a change made through this replica (`PATCH`) drops its entries at once, before the answer.
Searches have one more window: OpenSearch shows a write only after its refresh interval (1 s),
so a search fetched within `settle_s` of the last event is served but not stored. Entries also
expire after a TTL, a bound for what no event announces (e.g. the index catching up by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from reference_services.common import metrics, topology
from reference_services.common.messaging import Messaging

log = logging.getLogger(__name__)

READ, SEARCH = "archive_read", "archive_search"
# Answers larger than this are not kept (a search of 100 hits with long summaries fits).
MAX_ENTRY_BYTES = 256 * 1024
# How often a replica asks the server whether its consumer of the change events still exists.
CONSUMER_CHECK_S = 5.0


@dataclass(frozen=True)
class Ticket:
    """What a fetch that may be stored began with: the change sequence at its start."""

    kind: str
    key: str
    atlas_id: str | None
    seq: int
    began_at: float


@dataclass
class _Entry:
    value: Any
    atlas_id: str | None
    stored_at: float


class ArchiveCache:
    """The entries and the change sequence; pure bookkeeping, no I/O (the clock is injected)."""

    def __init__(
        self,
        *,
        read_ttl_s: float = 30.0,
        search_ttl_s: float = 10.0,
        settle_s: float = 1.5,
        max_entries: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read_ttl_s = read_ttl_s
        self.search_ttl_s = search_ttl_s
        self.settle_s = settle_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._seq = 0  # changes seen (events applied, local changes, flushes)
        self._changed: dict[str, int] = {}  # atlas id → seq of its last change (bounded)
        self._searches_changed = 0  # seq of the last change that drops searches
        self._last_change_at = float("-inf")
        self._flushed_at = 0  # fetches begun before this seq are not stored
        self.live = False  # the change events are being read

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and (self.read_ttl_s > 0 or self.search_ttl_s > 0)

    def _ttl(self, kind: str) -> float:
        return self.read_ttl_s if kind == READ else self.search_ttl_s

    def get(self, kind: str, key: str) -> Any | None:
        """The stored answer, or None (a miss, or not serving: not live)."""
        if not (self.enabled and self.live):
            metrics.CACHE_LOOKUPS.labels(kind, "bypass").inc()
            return None
        full = f"{kind}:{key}"
        entry = self._entries.get(full)
        if entry is None or self.clock() - entry.stored_at > self._ttl(kind):
            if entry is not None:
                del self._entries[full]
            metrics.CACHE_LOOKUPS.labels(kind, "miss").inc()
            return None
        self._entries.move_to_end(full)
        metrics.CACHE_LOOKUPS.labels(kind, "hit").inc()
        return entry.value

    def begin(self, kind: str, key: str, atlas_id: str | None = None) -> Ticket | None:
        """Call before fetching; None when the answer must not be stored."""
        if not (self.enabled and self.live and self._ttl(kind) > 0):
            return None
        return Ticket(kind, key, atlas_id, self._seq, self.clock())

    def put(self, ticket: Ticket | None, value: Any) -> bool:
        """Store a fetched answer unless a change overlapped its fetch; True when stored."""
        if ticket is None or not self.live:
            return False
        if ticket.kind == SEARCH:
            if self._searches_changed > ticket.seq:
                return False
            if ticket.began_at - self._last_change_at < self.settle_s:
                return False  # begun while the index may not have shown the last change yet
        elif ticket.atlas_id is not None and self._changed.get(ticket.atlas_id, 0) > ticket.seq:
            return False
        if ticket.seq < self._flushed_at:
            return False
        if len(json.dumps(value, separators=(",", ":"), default=str)) > MAX_ENTRY_BYTES:
            return False
        full = f"{ticket.kind}:{ticket.key}"
        self._entries[full] = _Entry(value, ticket.atlas_id, self.clock())
        self._entries.move_to_end(full)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def changed(self, atlas_id: str | None, *, searches: bool = True) -> None:
        """A record changed (atlas_id) and/or the set of records did (searches)."""
        self._seq += 1
        self._last_change_at = self.clock()
        if searches:
            self._searches_changed = self._seq
            for full in [k for k in self._entries if k.startswith(SEARCH + ":")]:
                del self._entries[full]
        if atlas_id is not None:
            self._changed.pop(atlas_id, None)  # to the end: the oldest marks go first below
            self._changed[atlas_id] = self._seq
            if len(self._changed) > 4 * max(self.max_entries, 1):
                # Forget the oldest marks; a fetch older than them is refused by _flushed_at.
                for old in list(self._changed)[: len(self._changed) // 2]:
                    self._flushed_at = max(self._flushed_at, self._changed.pop(old))
            self._entries.pop(f"{READ}:{atlas_id}", None)

    def flush(self) -> None:
        """Drop everything, and refuse what fetches begun before now bring back."""
        self._seq += 1
        self._flushed_at = self._seq
        self._searches_changed = self._seq
        self._last_change_at = self.clock()
        self._entries.clear()
        self._changed.clear()

    def set_live(self, live: bool) -> None:
        if live and not self.live:
            self.flush()
        if not live and self.live:
            self.flush()
            log.warning("archive cache off: its change events are not being read")
        self.live = live

    def __len__(self) -> int:
        return len(self._entries)


def atlas_id_of(envelope: dict[str, Any]) -> str | None:
    atlas = (envelope.get("data") or {}).get("atlas")
    return str(atlas["id"]) if isinstance(atlas, dict) and "id" in atlas else None


class ArchiveChanges:
    """This replica's reader of `altlas.atlas.>`: an ordered consumer from the newest message on
    (each replica its own, not a shared durable, so every replica sees every change), feeding
    `ArchiveCache.changed`. Watches the connection: the cache is live only while subscribed on
    a connected client."""

    def __init__(self, messaging: Messaging, cache: ArchiveCache, check_s: float = 0.5) -> None:
        self.messaging = messaging
        self.cache = cache
        self.check_s = check_s
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._disconnects = messaging.disconnects

    def start(self) -> None:
        if self.cache.enabled:
            self._task = asyncio.create_task(self._run(), name="archive-cache-changes")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            # Let the loop end by itself (it unsubscribes); cancel only if it does not.
            done, _ = await asyncio.wait({self._task}, timeout=2 * self.check_s + 2.0)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.cache.set_live(False)

    async def _on_message(self, msg: Msg) -> None:
        try:
            envelope = json.loads(msg.data)
            atlas_id = atlas_id_of(envelope)
        except Exception as exc:  # unreadable: which record changed is unknown
            log.warning("archive cache: unreadable change event (%s); dropping everything", exc)
            self.cache.flush()
        else:
            self.cache.changed(atlas_id, searches=True)
        with contextlib.suppress(Exception):
            metrics.CACHE_EVENT_SEQ.set(msg.metadata.sequence.stream)

    async def _run(self) -> None:
        sub: Any = None
        checked_at = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not self._stop.is_set():
                try:
                    if self.messaging.disconnects != self._disconnects:
                        # Away and back between two checks: events may come late; start afresh.
                        self._disconnects = self.messaging.disconnects
                        self.cache.flush()
                    if not self.messaging.connected:
                        self.cache.set_live(False)
                        await _unsubscribe(sub)
                        sub = None
                    elif sub is None:
                        sub = await self.messaging.js.subscribe(
                            topology.SUBJECTS_ATLAS_CHANGES,
                            stream=topology.STREAM,
                            ordered_consumer=True,
                            deliver_policy=DeliverPolicy.NEW,
                            cb=self._on_message,
                            idle_heartbeat=2.0,
                            # The server drops the consumer of a replica that went away.
                            inactive_threshold=30.0,
                        )
                        self.cache.set_live(True)
                        checked_at = loop.time()
                    elif loop.time() - checked_at >= CONSUMER_CHECK_S:
                        # The consumer lives on the server (memory, one replica): a restart
                        # there can lose it while this client stays connected.
                        await asyncio.wait_for(sub.consumer_info(), timeout=2.0)
                        checked_at = loop.time()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("archive cache: cannot read change events (%s); retrying", exc)
                    self.cache.set_live(False)
                    await _unsubscribe(sub)
                    sub = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.check_s)
        finally:
            await _unsubscribe(sub)


async def _unsubscribe(sub: Any) -> None:
    if sub is not None:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
