"""pytest plugin for mutation runs only: run the fastest tests first.

mutmut runs every test that covers a mutated function, with `-x`, so a mutant dies at the first
failing test. Running the tests in the order of their recorded durations (mutmut's own
`mutmut-stats.json`) lets a cheap example test kill a mutant before the slow Hypothesis
properties start. Loaded through [tool.mutmut] pytest_add_cli_args, never in normal runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

# mutmut runs pytest inside mutants/, next to this file.
STATS = Path("mutmut-stats.json")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    try:
        durations: dict[str, float] = json.loads(STATS.read_text("utf-8"))["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return  # the stats run itself, before any durations exist
    # Stable sort: tests without a recorded duration keep their order, at the end.
    items.sort(key=lambda item: durations.get(item.nodeid, math.inf))
