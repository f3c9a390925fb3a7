"""The gateway's cache of archive answers (gateway/archive_cache.py): what it keeps, what drops
it, and the rule that matters — an answer fetched across a change is never stored."""

from __future__ import annotations

import pytest

from reference_services.gateway.archive_cache import READ, SEARCH, ArchiveCache, atlas_id_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> ArchiveCache:
    c = ArchiveCache(read_ttl_s=30, search_ttl_s=10, settle_s=1.5, max_entries=3, clock=clock)
    c.set_live(True)
    clock.now += 5  # past the settle window of going live
    return c


def _store(cache: ArchiveCache, kind: str, key: str, value: object, atlas: str | None) -> bool:
    return cache.put(cache.begin(kind, key, atlas), value)


def test_a_stored_read_is_served_until_its_record_changes(cache: ArchiveCache) -> None:
    assert _store(cache, READ, "a", {"status": "active"}, "a")
    assert cache.get(READ, "a") == {"status": "active"}
    cache.changed("b")
    assert cache.get(READ, "a") == {"status": "active"}, "another record's change dropped it"
    cache.changed("a")
    assert cache.get(READ, "a") is None, "the record changed, and its old answer was served"


def test_a_fetch_that_overlaps_a_change_is_not_stored(cache: ArchiveCache, clock: Clock) -> None:
    ticket = cache.begin(READ, "a", "a")
    cache.changed("a")  # the change event arrives while the fetch is on its way
    assert not cache.put(ticket, {"status": "active"})
    assert cache.get(READ, "a") is None
    search = cache.begin(SEARCH, "q=x", None)
    cache.changed("z")  # any change: a search may now list other hits or counts
    clock.now += 5
    assert not cache.put(search, {"hits": []})


def test_every_change_drops_the_searches(cache: ArchiveCache, clock: Clock) -> None:
    assert _store(cache, SEARCH, "q=x", {"total": 1}, None)
    assert cache.get(SEARCH, "q=x") == {"total": 1}
    cache.changed(None)  # a new record
    assert cache.get(SEARCH, "q=x") is None


def test_a_search_right_after_a_change_is_served_but_not_kept(
    cache: ArchiveCache, clock: Clock
) -> None:
    cache.changed("a")
    clock.now += 0.5  # inside the index's refresh interval: it may not show the change yet
    assert not _store(cache, SEARCH, "q=x", {"total": 1}, None)
    clock.now += 1.5
    assert _store(cache, SEARCH, "q=x", {"total": 1}, None)


def test_a_slow_search_begun_right_after_a_change_is_not_kept(
    cache: ArchiveCache, clock: Clock
) -> None:
    cache.changed("a")
    clock.now += 0.2
    ticket = cache.begin(SEARCH, "q=x", None)  # asks the index before its refresh
    clock.now += 3  # and its answer comes back late, long after the settle window
    assert not cache.put(ticket, {"total": 1}), "an answer begun inside the window was kept"


def test_entries_expire_and_the_oldest_go_first(cache: ArchiveCache, clock: Clock) -> None:
    assert _store(cache, SEARCH, "q=x", {"total": 1}, None)
    clock.now += 11
    assert cache.get(SEARCH, "q=x") is None, "a search outlived its TTL"
    for key in ("a", "b", "c", "d"):
        assert _store(cache, READ, key, {"id": key}, key)
    assert len(cache) == 3
    assert cache.get(READ, "a") is None, "the least recently used entry should have gone"
    assert cache.get(READ, "d") == {"id": "d"}


def test_nothing_is_served_or_kept_while_the_events_are_not_read(cache: ArchiveCache) -> None:
    assert _store(cache, READ, "a", {"status": "active"}, "a")
    ticket = cache.begin(READ, "b", "b")
    cache.set_live(False)
    assert cache.get(READ, "a") is None
    assert not cache.put(ticket, {"id": "b"})
    assert cache.begin(READ, "c", "c") is None
    cache.set_live(True)
    assert cache.get(READ, "a") is None, "an entry from before the gap survived it"
    assert not cache.put(ticket, {"id": "b"}), "a fetch begun before the gap was stored"


def test_forgotten_change_marks_refuse_old_fetches(clock: Clock) -> None:
    cache = ArchiveCache(max_entries=1, settle_s=0, clock=clock)
    cache.set_live(True)
    ticket = cache.begin(READ, "a", "a")
    cache.changed("a")
    for n in range(20):  # more marks than it keeps: the one for "a" is forgotten
        cache.changed(f"other-{n}")
    assert not cache.put(ticket, {"id": "a"})


def test_off_when_configured_so(clock: Clock) -> None:
    cache = ArchiveCache(max_entries=0, clock=clock)
    cache.set_live(True)
    assert not cache.enabled
    assert cache.begin(READ, "a", "a") is None and cache.get(READ, "a") is None


def test_the_record_id_is_read_from_either_event() -> None:
    assert atlas_id_of({"data": {"atlas": {"id": "x"}, "version": 2}}) == "x"
    assert atlas_id_of({"data": {"status": "archived"}}) is None
