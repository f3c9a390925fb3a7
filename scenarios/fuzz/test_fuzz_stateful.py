"""Stateful fuzzing of the gateway through its OpenAPI links.

The gateway's document says where a client goes next: submit a command (202) → read its status
→ read its ALT, LAST and ATLAS documents. Schemathesis chains those calls with the ids real
answers return and checks every answer, plus what only sequences can show (a created resource
that cannot be read, a deleted one that still can).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hypothesis

from harness.settings import HarnessSettings

if TYPE_CHECKING:
    from schemathesis.schemas import BaseSchema

COMMANDS = "/api/v1/commands"


def _link_targets(schema: BaseSchema, path: str, method: str, status: str) -> set[str]:
    response = schema.raw_schema["paths"][path][method]["responses"].get(status, {})
    return {link.get("operationId", "") for link in response.get("links", {}).values()}


def test_gateway_declares_command_links(gateway_schema: BaseSchema) -> None:
    submitted = _link_targets(gateway_schema, COMMANDS, "post", "202")
    assert submitted == {"get_command"}, (
        f"POST {COMMANDS} 202 should link to get_command (the status), links to {submitted}"
    )
    status = _link_targets(gateway_schema, COMMANDS + "/{command_id}", "get", "200")
    documents = {"get_command_alt", "get_command_last", "get_command_atlas"}
    assert status == documents, (
        f"GET {COMMANDS}/{{command_id}} 200 should link to the three documents, links to {status}"
    )


def test_gateway_link_sequences_keep_the_contract(
    gateway_schema: BaseSchema, harness_settings: HarnessSettings
) -> None:
    machine = gateway_schema.as_state_machine()
    # Sequences only explore; shrinking a failure would re-run many of them against the stack.
    machine.run(
        settings=hypothesis.settings(
            max_examples=harness_settings.fuzz_max_examples,
            stateful_step_count=6,
            phases=[hypothesis.Phase.generate],
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
