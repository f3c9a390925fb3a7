"""common.tasks.every: the shared periodic loop, and its cap on the share of time work takes."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from reference_services.common.tasks import every

pytestmark = pytest.mark.unit


async def _starts(work_s: float, interval_s: float, max_share: float, run_s: float) -> list[float]:
    stop = asyncio.Event()
    starts: list[float] = []

    async def work() -> None:
        starts.append(time.monotonic())
        await asyncio.sleep(work_s)  # stands for the work's duration

    task = asyncio.create_task(every("test", interval_s, work, stop, max_share=max_share))
    await asyncio.sleep(run_s)  # how long the loop is observed
    stop.set()
    await task
    return starts


async def test_slow_work_stretches_its_own_interval() -> None:
    starts = await _starts(work_s=0.1, interval_s=0.01, max_share=0.25, run_s=1.0)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps, "the work should have run more than once in a second"
    # 0.1 s of work at most a quarter of the time: a pass every 0.4 s or more.
    assert min(gaps) >= 0.38, f"work ran more often than its share allows: gaps {gaps}"


async def test_quick_work_keeps_the_interval() -> None:
    starts = await _starts(work_s=0.0, interval_s=0.1, max_share=0.1, run_s=0.5)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps, "work that takes no time should run again after its interval"
    assert min(gaps) >= 0.095, f"passes closer than the interval: {gaps}"


async def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_share"):
        await every("test", 1, asyncio.sleep, asyncio.Event(), max_share=0)
