"""The relevance corpus and judged queries (harness.workload.corpus), and the archive tool's
refusal to touch anything but the local reference stack."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.schemas import errors
from harness.stack.state import StackState
from harness.workload.archive_tool import ArchiveTool
from harness.workload.corpus import QUERIES, SIZE, Query, Record, records
from harness.workload.seed import archive_dsn


def test_the_corpus_is_fixed_valid_and_bilingual() -> None:
    corpus = records()
    assert len(corpus) == SIZE >= 500
    assert [r.doc["id"] for r in corpus] == [r.doc["id"] for r in records()], "not reproducible"
    assert len({r.doc["id"] for r in corpus}) == SIZE, "ids must be unique"
    invalid = [(r.doc["id"], e) for r in corpus[:100] if (e := errors("atlas", r.doc))]
    assert not invalid, f"corpus records must be valid ATLAS documents: {invalid[:3]}"
    assert {r.language for r in corpus} == {"tr", "en"}
    assert any("'" in r.doc["command"] or "’" in r.doc["command"] for r in corpus), "suffixes"


def test_every_judged_query_has_something_to_find() -> None:
    corpus = records()
    assert len(QUERIES) >= 30
    # Precision@5 of a query with fewer than five relevant records cannot reach 1.
    thin = [q.text for q in QUERIES if sum(q.grade(r) == 2 for r in corpus) < 5]
    assert not thin, f"queries with fewer than 5 fully relevant records: {thin}"


def test_grades_follow_intent_topic_and_city() -> None:
    doc = records(1)[0].doc
    record = Record("weather", "forecast", "izmir", "tr", doc)
    assert Query("q", "weather", "izmir", "forecast").grade(record) == 2
    assert Query("q", "weather", "izmir", "weather-now").grade(record) == 1
    assert Query("q", "weather", "ankara").grade(record) == 0
    assert Query("q", "report", None).grade(record) == 0
    assert Query("q", "weather", None).grade(record) == 2


def test_the_archive_tool_runs_on_the_local_stack_only() -> None:
    local = StackState(
        "local", {"postgres": "postgresql://a:b@127.0.0.1:5/postgres", "opensearch": "http://x"}
    )
    tool = ArchiveTool.of(local, "my-alias")
    assert tool.env["ALTLAS_DATABASE_URL"] == "postgresql://a:b@127.0.0.1:5/archive"
    assert tool.env["ALTLAS_INDEX_PREFIX"] == "my-alias"
    assert tool.command("index", "status")[-3:] == ["reference_services.archive", "index", "status"]
    with pytest.raises(HarnessError, match="local reference stack"):
        ArchiveTool.of(StackState("external", dict(local.endpoints)))
    with pytest.raises(HarnessError, match="no opensearch"):
        ArchiveTool.of(StackState("local", {"postgres": local.endpoints["postgres"]}))
    assert archive_dsn("postgresql://u:p@h:1/postgres") == "postgresql://u:p@h:1/archive"
