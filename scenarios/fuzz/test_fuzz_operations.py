"""Every operation of every service, fuzzed against its own OpenAPI document.

Schemathesis generates valid and invalid requests for each operation (examples, coverage and
fuzzing phases) and runs all of its checks on each answer: no 5xx, the body matches the declared
schema, the status code and content type are declared ones, invalid input is refused, valid input
is accepted, and secured operations refuse requests without valid credentials.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import schemathesis

from harness.stack.state import StackState

if TYPE_CHECKING:
    from schemathesis.schemas import BaseSchema

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_operation_keeps_its_contract(case: schemathesis.Case[Any]) -> None:
    # Raises with every failed check, the response and a curl line that reproduces it.
    case.call_and_validate()


def test_fuzzing_authenticates_with_each_role(
    gateway_schema: BaseSchema, stack: StackState
) -> None:
    # A 401 is a documented answer, so fuzzing that never authenticates still "passes": this
    # sends what every generated case gets, and expects past authentication (404: no such id).
    missing = str(uuid.uuid4())
    # A public operation first: the harness once cached its "no token" under the user's role.
    login = gateway_schema["/api/v1/auth/login"]["POST"]
    gateway_schema.auth.set(login.Case(), schemathesis.AuthContext(operation=login, app=None))
    for method, path, params, body, role in [
        ("GET", "/api/v1/commands/{command_id}", {"command_id": missing}, None, "user"),
        (
            "PATCH",
            "/api/v1/archive/{atlas_id}",
            {"atlas_id": missing},
            {"status": "archived"},
            "admin",
        ),
    ]:
        operation = gateway_schema[path][method]
        case = operation.Case(path_parameters=params, body=body, media_type="application/json")
        gateway_schema.auth.set(case, schemathesis.AuthContext(operation=operation, app=None))
        response = case.call()
        # Without admin credentials the harness fuzzes admin-only calls as a user: a 403.
        expected = 404 if role in stack.credentials else 403
        assert response.status_code == expected, (
            f"{method} {path} as {role}: expected {expected} (authenticated, unknown id),"
            f" got {response.status_code} {response.text[:200]}"
        )
