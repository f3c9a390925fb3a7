"""make bench-nats' pure parts: message sizes from the Pact examples, and the table."""

from __future__ import annotations

from harness.bench import nats as bn


def test_sizes_come_from_every_event_kind_of_the_pacts() -> None:
    sizes = bn.pact_sizes()
    assert {"command.submitted", "alt.created", "last.created", "status.changed"} <= set(sizes)
    assert all(100 < size < 100_000 for size in sizes.values()), sizes


def test_the_table_shows_each_cell_with_its_ratio() -> None:
    cells = [
        {"label": "R1, sync default", "message": "alt.created", "bytes": 762,
         "publish_per_s": 2000.0, "publish_ratio": 1.0, "publish_p50_ms": 1.2,
         "publish_p99_ms": 4.0, "consume_per_s": 3000.0, "consume_ratio": 1.0},
        {"label": "R3, sync always", "message": "alt.created", "bytes": 762,
         "publish_per_s": 500.0, "publish_ratio": 0.25, "publish_p50_ms": 9.5,
         "publish_p99_ms": 30.1, "consume_per_s": 900.0, "consume_ratio": 0.3},
    ]  # fmt: skip
    text = bn.render({"messages": 10, "concurrency": 2, "rounds": 1, "cells": cells}, "tests")
    assert "500/s (0.25)" in text and "9.5 / 30.1 ms" in text and "900/s (0.30)" in text
    assert text.splitlines()[0].startswith("JetStream: 10 messages per cell")
