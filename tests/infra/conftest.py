"""Real servers for tests/infra: the OpenSearch distribution (resolved from Maven once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.infra.opensearch import resolve_distribution

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def opensearch_cache() -> Path:
    """The cache shared by every run on this checkout, so Maven resolves the jars only once."""
    return REPO / ".harness" / "cache"


@pytest.fixture(scope="session")
def opensearch_home(opensearch_cache: Path) -> Path:
    return resolve_distribution(opensearch_cache)
