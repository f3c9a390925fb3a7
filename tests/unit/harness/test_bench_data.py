"""make bench-data's pieces that need no stack: the _bulk body, the summary, the JSON; and the
disaster-recovery experiment's conversions (PostgreSQL durations, wall → history time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.bench.data import _bulk_body, print_summary, write
from harness.chaos.backup import _history_time, _seconds

pytestmark = pytest.mark.unit

RESULT: dict[str, Any] = {
    "migration": {
        "migration": {"rows": 100_000, "docs_per_s": 4043.8},
        "raw_bulk": {"docs_per_s": 5439.3},
        "ratio": 0.743,
    },
    "search": [
        {
            "records": 100_000,
            "search": {"p50_ms": 36.0, "p95_ms": 90.9, "p99_ms": 120.0, "per_s": 93.9},
        },
        {
            "records": 1_000_000,
            "search": {"p50_ms": 210.8, "p95_ms": 632.3, "p99_ms": 1085.9, "per_s": 16.5},
        },
    ],
    "backup": {
        "data_mb": 1070.0,
        "pg_basebackup": {"mb_per_s": 120.1},
        "backup": {"mb_per_s": 46.8},
        "restore_drill": {"mb_per_s": 48.8},
        "ratios": {"backup_over_basebackup": 0.39, "restore_over_basebackup": 0.406},
    },
}


def test_the_bulk_body_is_ndjson_with_each_id_and_the_text_as_written() -> None:
    body = _bulk_body([("a1", {"command": "İstanbul'da hava"}), ("b2", {"command": "rapor"})])
    lines = body.decode().splitlines()
    assert body.endswith(b"\n"), "_bulk wants a final newline"
    assert [json.loads(line) for line in lines[::2]] == [
        {"index": {"_id": "a1"}},
        {"index": {"_id": "b2"}},
    ]
    assert "İstanbul'da" in lines[1], "Turkish text is sent as it is, not escaped"


def test_the_summary_shows_every_figure_and_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    print_summary(RESULT)
    out = capsys.readouterr().out
    for expected in ("4,043.8", "5,439.3", "0.743", "1,000,000", "632.3", "120.1", "0.39", "0.406"):
        assert expected in out, f"{expected} missing from the summary:\n{out}"


def test_a_partial_run_prints_what_it_measured(capsys: pytest.CaptureFixture[str]) -> None:
    print_summary({**RESULT, "migration": None, "backup": None})
    out = capsys.readouterr().out
    assert "632.3" in out and "migration" not in out and "pg_basebackup" not in out


def test_the_result_is_written_as_json(tmp_path: Path) -> None:
    path = write(RESULT, tmp_path / "out")
    assert json.loads(path.read_text()) == RESULT and path.name == "bench-data.json"


@pytest.mark.parametrize(
    ("setting", "seconds"),
    [("15s", 15.0), ("1min", 60.0), ("0", 0.0), ("500ms", 0.5), ("2h", 7200.0)],
)
def test_postgresql_durations_in_seconds(setting: str, seconds: float) -> None:
    assert _seconds(setting) == seconds


def test_a_wall_time_maps_onto_the_history_clock(tmp_path: Path) -> None:
    # The history started at monotonic 100.0; at wall 1000.0 the monotonic clock read 130.0.
    (tmp_path / "w.clock.json").write_text(
        json.dumps({"wall": 1000.0, "mono": 130.0, "start": 100.0})
    )
    assert _history_time(tmp_path, "w", 1000.0) == 30.0
    assert _history_time(tmp_path, "w", 990.0) == 20.0


def _mock_clients(monkeypatch: pytest.MonkeyPatch, handler: Any) -> None:
    import functools

    import httpx

    # The module's httpx is this one: its clients get a mock transport for the test.
    transport = httpx.MockTransport(handler)
    monkeypatch.setattr(
        httpx, "AsyncClient", functools.partial(httpx.AsyncClient, transport=transport)
    )


async def test_search_latency_times_the_mix_and_counts_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    from harness.bench.data import search_latency

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["q"])
        if len(seen) % 10 == 0:
            return httpx.Response(503, json={"title": "busy"})
        return httpx.Response(200, json={"total": 7, "items": [], "facets": {}})

    _mock_clients(monkeypatch, handler)
    result = await search_latency("http://archive", queries=100, concurrency=3, seed=1)
    assert len(seen) == 150, "50 warm-up searches, then the 100 timed"
    assert result["errors"] == {"503": 10} and result["n"] == 90
    assert result["median_hits"] == 7 and result["concurrency"] == 3


async def test_raw_bulk_loads_every_document_into_a_copy_and_removes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    from harness.bench.data import RAW_INDEX, raw_bulk

    docs: list[dict[str, Any]] = [{"_id": f"d{i}", "_source": {"n": i}} for i in range(7)]
    calls: list[tuple[str, str]] = []
    bulked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        path = request.url.path
        if path == "/src/_search":
            return httpx.Response(200, json={"_scroll_id": "s1", "hits": {"hits": docs[:5]}})
        if path == "/_search/scroll" and request.method == "POST":
            scroll = json.loads(request.content)["scroll_id"]
            rest = docs[5:] if scroll == "s1" else []
            return httpx.Response(200, json={"_scroll_id": "s2", "hits": {"hits": rest}})
        if path == "/src":
            settings = {"index": {"uuid": "x", "creation_date": "1", "number_of_shards": "1"}}
            return httpx.Response(200, json={"src": {"settings": settings, "mappings": {}}})
        if path == f"/{RAW_INDEX}" and request.method == "PUT":
            body = json.loads(request.content)
            assert "uuid" not in body["settings"]["index"], "server-set settings are dropped"
            return httpx.Response(200, json={})
        if path == f"/{RAW_INDEX}/_bulk":
            lines = request.content.decode().splitlines()
            bulked.extend(json.loads(line)["index"]["_id"] for line in lines[::2])
            return httpx.Response(200, json={"items": [{"index": {}} for _ in lines[::2]]})
        return httpx.Response(200, json={})

    _mock_clients(monkeypatch, handler)
    result = await raw_bulk("http://os", "src", batch_size=3, concurrency=2)
    assert sorted(bulked) == sorted(d["_id"] for d in docs), "every document, once"
    assert result["documents"] == 7 and result["failures"] == 0 and result["docs_per_s"] > 0
    assert calls[-1] == ("DELETE", f"/{RAW_INDEX}"), "the copy is removed at the end"
