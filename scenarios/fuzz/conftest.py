"""Fixtures of the API fuzzing suite: each service's OpenAPI document, loaded from the stack.

The schemas are fetched when a test runs, not at import, so collection needs no deployment and
the suite fuzzes whatever the `stack` fixture attached to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness import fuzz
from harness.settings import HarnessSettings
from harness.stack.state import StackState

if TYPE_CHECKING:
    from schemathesis import Config
    from schemathesis.schemas import BaseSchema


def _alias_nodeid() -> None:
    """Give pytest ≥ 9.2 items back the `_nodeid` attribute that Schemathesis' lazy loader uses.

    `schemathesis.pytest.from_fixture` names each operation's subtest by rewriting
    `item._nodeid`; pytest 9.2 keeps the id in `item._id` (a NodeId) instead, so without this
    every lazily loaded schema test fails with AttributeError before it sends a request.
    """
    if hasattr(pytest.Item, "_nodeid"):
        return
    from _pytest.nodeid import coerce_node_id

    def _get(item: pytest.Item) -> str:
        return item.nodeid

    def _set(item: pytest.Item, value: str) -> None:
        item._id = coerce_node_id(value)

    pytest.Item._nodeid = property(_get, _set)  # type: ignore[attr-defined]


_alias_nodeid()


@pytest.fixture(scope="session")
def fuzz_config(pytestconfig: pytest.Config, harness_settings: HarnessSettings) -> Config:
    """schemathesis.toml from the repository root, with the CI budget per operation."""
    # A fixed seed: the suite in CI generates the same cases every run, so a red build can be
    # reproduced; `make fuzz` explores with a new seed each run. HARNESS_FUZZ_SEED changes it.
    return fuzz.load_config(
        pytestconfig.rootpath / fuzz.CONFIG_FILE,
        max_examples=harness_settings.fuzz_max_examples,
        seed=harness_settings.fuzz_seed,
    )


def service_schema(stack: StackState, service: str, config: Config) -> BaseSchema:
    """The service's schema, or a skip that names the variable to set."""
    if service not in stack.endpoints:
        pytest.skip(f"the deployment exposes no {service}: set {fuzz.ENDPOINT_VARIABLES[service]}")
    if service == "gateway" and "user" not in stack.credentials:
        pytest.skip("no user credentials for the gateway: set HARNESS_USER_CREDENTIALS")
    return fuzz.load_schema(stack, service, config)


@pytest.fixture(scope="session", params=fuzz.SERVICES)
def api_schema(
    request: pytest.FixtureRequest, stack: StackState, fuzz_config: Config
) -> BaseSchema:
    """Each of the four services' OpenAPI documents in turn."""
    return service_schema(stack, request.param, fuzz_config)


@pytest.fixture(scope="session")
def gateway_schema(stack: StackState, fuzz_config: Config) -> BaseSchema:
    return service_schema(stack, "gateway", fuzz_config)
