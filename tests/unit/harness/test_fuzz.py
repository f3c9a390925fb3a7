"""harness.fuzz without a deployment: who calls what, which queries are sendable, the summary."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness import fuzz

SECURED = {"security": [{"HTTPBearer": []}]}


def _operation(method: str, path: str, raw: dict[str, Any] | None = None) -> Any:
    # Only what harness.fuzz reads of a Schemathesis APIOperation.
    return SimpleNamespace(
        method=method,
        path=path,
        definition=SimpleNamespace(raw=raw or {}),
        schema=SimpleNamespace(raw_schema={}),
    )


CREDENTIALS = {
    "user": {"username": "u", "password": "p"},
    "admin": {"username": "a", "password": "q"},
}


@pytest.mark.parametrize(
    ("method", "path", "raw", "role"),
    [
        ("POST", "/api/v1/auth/login", {}, None),
        ("GET", "/.well-known/jwks.json", {}, None),
        ("POST", "/api/v1/commands", SECURED, "user"),
        ("GET", "/api/v1/archive/{atlas_id}", SECURED, "user"),
        ("PATCH", "/api/v1/archive/{atlas_id}", SECURED, "admin"),
    ],
)
def test_each_operation_is_called_as_the_role_it_needs(
    method: str, path: str, raw: dict[str, Any], role: str | None
) -> None:
    login = fuzz.GatewayLogin("http://gw", CREDENTIALS)
    assert login.role(_operation(method, path, raw)) == role


def test_admin_only_calls_fall_back_to_the_user_without_admin_credentials() -> None:
    login = fuzz.GatewayLogin("http://gw", {"user": CREDENTIALS["user"]})
    assert login.role(_operation("PATCH", "/api/v1/archive/{atlas_id}", SECURED)) == "user"


def test_no_user_credentials_is_a_clear_error() -> None:
    with pytest.raises(fuzz.FuzzError, match="HARNESS_USER_CREDENTIALS"):
        fuzz.GatewayLogin("http://gw", {})


SEARCH = {
    "parameters": [
        {"name": "q", "in": "query", "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        {"name": "page", "in": "query", "schema": {"type": "integer"}},
        {
            "name": "tag",
            "in": "query",
            "schema": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
        },
    ]
}


@pytest.mark.parametrize(
    ("query", "sendable"),
    [
        (None, True),
        ({}, True),
        ({"q": "x", "page": 2, "tag": ["a", "b"]}, True),
        ({"page": "two", "q": 5, "tag": None}, True),  # a query string can tell these apart
        ({"tag": {"a": ["", "null"]}}, False),  # goes out as tag=a: a valid array
        ({"tag": "false"}, False),  # goes out as a one-item array
        ({"tag": [1, "b"]}, False),  # 1 goes out as the string "1"
        ({"tag": [["a"], "b"]}, False),
        ({"q": {"a": 1}}, False),
    ],
)
def test_only_queries_a_query_string_can_carry_are_generated(
    query: dict[str, Any] | None, sendable: bool
) -> None:
    context = SimpleNamespace(operation=_operation("GET", "/v1/atlas/search", SEARCH))
    assert fuzz._representable_query(context, query) is sendable


REPORT = {
    "exit_code": 1,
    "running_time": 12.5,
    "operations": {"selected": 6, "tested": 6},
    "test_cases": {"generated": 1168, "unique_failures": 2},
    "failures": [
        {"code": "ST101", "title": "Server error", "count": 1},
        {"code": "ST201", "title": "Schema-violating request accepted", "count": 1},
    ],
    "errors": [],
    "warnings": {"missing_auth": [], "missing_test_data": ["GET /v1/executions/{execution_id}"]},
}


def test_figures_come_from_the_json_report() -> None:
    figures = fuzz.RunFigures.from_report("archive", 1, REPORT)
    assert (figures.operations_tested, figures.test_cases, figures.failures) == (6, 1168, 2)
    assert figures.failure_codes == {
        "ST101 Server error": 1,
        "ST201 Schema-violating request accepted": 1,
    }
    assert figures.warnings == ["missing_test_data (GET /v1/executions/{execution_id})"]
    assert not figures.ok


def test_summary_totals_every_service_and_gives_a_verdict() -> None:
    clean = fuzz.RunFigures("runner", 0, 4, 4, 144, seconds=3.0)
    failed = fuzz.RunFigures.from_report("archive", 1, REPORT)
    text = fuzz.format_summary([clean, failed], "100 examples per operation")
    total = next(line for line in text.splitlines() if line.strip().startswith("total"))
    assert total.split()[1:5] == ["10", "1312", "2", "0"], total
    assert "FAIL" in text and "1 × ST101 Server error" in text
    assert "PASS" in fuzz.format_summary([clean], "budget")
