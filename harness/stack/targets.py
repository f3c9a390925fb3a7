"""Stack targets by name: `local`, `docker`, `kind`, `k8s-local`.

Each target is a module `harness.stack.<name>` with
`async up(settings, progress) -> StackState` and `async down(settings, state, progress)` (a
hyphen in the name is an underscore in the module's), and
writes the same state file, so every suite runs unchanged against it. Modules are imported on
use: the docker and kind targets need packages and tools the local target does not.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Protocol, cast

from harness.errors import HarnessError
from harness.settings import HarnessSettings
from harness.stack.state import StackState

TARGETS = ("local", "docker", "kind", "k8s-local")

Progress = Callable[[str], None]


class Target(Protocol):
    def up(self, settings: HarnessSettings, progress: Progress = ...) -> Awaitable[StackState]: ...

    def down(
        self, settings: HarnessSettings, state: StackState, progress: Progress = ...
    ) -> Awaitable[None]: ...


def target(name: str) -> Target:
    """The module that starts and stops stacks of this target."""
    if name not in TARGETS:
        raise HarnessError(f"unknown target {name!r}; known: {', '.join(TARGETS)}")
    module = f"harness.stack.{name.replace('-', '_')}"
    try:
        return cast(Target, importlib.import_module(module))
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise HarnessError(f"the {name} target needs {exc.name!r}: run `make setup`") from exc
        raise HarnessError(f"the {name} target is not built into this harness yet") from exc
