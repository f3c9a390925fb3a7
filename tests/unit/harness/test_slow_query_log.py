"""The slow-query report's log reader: PostgreSQL's duration lines grouped and ranked."""

from __future__ import annotations

from harness.probes.slow_queries import from_log, normalize

LOG = """\
2026-12-01 15:49:13.123 UTC [101] archive LOG:  duration: 40.500 ms  execute __asyncpg_stmt_1__: SELECT doc FROM atlas WHERE id = $1
2026-12-01 15:49:13.200 UTC [101] archive DETAIL:  parameters: $1 = '0c5d...'
2026-12-01 15:49:14.000 UTC [102] gateway LOG:  duration: 25.000 ms  statement: SELECT count(*) FROM outbox
\tWHERE published_at IS NULL
2026-12-01 15:49:15.000 UTC [101] archive LOG:  duration: 60.250 ms  execute __asyncpg_stmt_1__: SELECT doc FROM atlas WHERE id = $1
2026-12-01 15:49:16.000 UTC [103] runner LOG:  duration: 22.000 ms  statement: SELECT pg_sleep(0.022) -- 'x'
2026-12-01 15:49:16.500 UTC [104]  LOG:  checkpoint starting: time
2026-12-01 15:49:17.000 UTC [103] runner ERROR:  duration: 99.000 ms  statement: not a log line
"""


def test_statements_are_grouped_by_database_and_text_and_ranked_by_total_time() -> None:
    found = from_log(LOG.splitlines(keepends=True))
    assert [(s["database"], s["calls"], s["total_ms"]) for s in found] == [
        ("archive", 2, 100.75),
        ("gateway", 1, 25.0),
        ("runner", 1, 22.0),
    ], found
    assert found[0]["query"] == "SELECT doc FROM atlas WHERE id = $1"
    assert found[0]["max_ms"] == 60.25 and found[0]["p95_ms"] == 60.25
    assert found[1]["query"] == "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    assert found[2]["query"] == "SELECT pg_sleep(?) -- ?", "literals become ?"


def test_normalize_keeps_parameters_and_folds_literals() -> None:
    assert normalize("SELECT  1,\n 'a''b', $2") == "SELECT ?, ?, $2"
