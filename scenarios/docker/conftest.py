"""Fixtures of the docker-target suite: the stack (only when it is the docker target), an
engine client, and a component's container."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.stack.state import StackState


@pytest.fixture(scope="session")
def docker_stack(stack: StackState) -> StackState:
    if stack.target != "docker":
        pytest.skip(
            f"these tests need the docker target, not {stack.target!r}: "
            "HARNESS_TARGET=docker (make docker-test)"
        )
    return stack


@pytest.fixture(scope="session")
def docker_client(docker_stack: StackState) -> Iterator[Any]:
    from harness.containers import engine

    client = engine.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def container_of(docker_client: Any, docker_stack: StackState) -> Callable[[str], Any]:
    """The engine's view of a component's container (fresh attributes on each call)."""

    def _get(name: str) -> Any:
        return docker_client.containers.get(docker_stack.processes[name].extra["container_id"])

    return _get
