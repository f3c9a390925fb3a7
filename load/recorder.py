"""What a run records on the Locust master (or the single local process): time series, stress
steps, the SLO verdict, and the report written when the run stops.

Snapshots are taken from Locust's aggregated statistics (which in distributed mode already sum
every worker's), as `slo.Window`s; windows between two snapshots give per-interval and
per-step percentiles exactly (histogram differences), not averages of averages.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import WorkerRunner

from load import slo
from load.analysis import (
    Snapshot,
    Step,
    diff,
    drift,
    entry_json,
    knee,
    merged_http,
    open_model_summary,
)
from load.report import write_reports

log = logging.getLogger(__name__)


def snapshot(environment: Environment) -> Snapshot:
    if environment.runner is None:
        raise RuntimeError("a snapshot needs a running Locust runner")
    out: Snapshot = {}
    for (name, method), entry in environment.runner.stats.entries.items():
        out[(method, name)] = slo.Window(
            method, name, entry.num_requests, entry.num_failures, dict(entry.response_times)
        )
    return out


@dataclass
class Recorder:
    environment: Environment
    objectives: slo.Slo
    profile: str
    report_dir: Path
    interval_s: float = 2.0
    points: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    knee: dict[str, Any] | None = None
    verdict: slo.Verdict | None = None
    started: float = 0.0
    stopped: float = 0.0
    workers: int = 1
    _last: Snapshot = field(default_factory=dict)
    _last_t: float = 0.0
    _sampler: Any = None

    @property
    def open_model(self) -> bool:
        return self.profile == "open"

    @property
    def late_ms(self) -> float:
        value = getattr(self.environment.parsed_options, "open_late_ms", None)
        return 100.0 if value in (None, "") else float(value)

    def start(self) -> None:
        self.started = time.monotonic()
        self.points.clear()
        self.steps.clear()
        self.knee = None
        self.verdict = None
        self.stopped = 0.0
        self.workers = 1
        self._last = snapshot(self.environment)
        self._last_t = self.started
        self._sampler = gevent.spawn(self._sample_forever)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _sample_forever(self) -> None:
        while True:
            gevent.sleep(self.interval_s)  # a sampling period, not a readiness wait
            self.sample()

    def sample(self) -> None:
        now = time.monotonic()
        dt = now - self._last_t
        if dt < self.interval_s / 2 and self.points:
            return  # a sliver at the stop: its rates would be noise
        current = snapshot(self.environment)
        window = diff(current, self._last)
        self._last, self._last_t = current, now
        http = merged_http(window)
        e2e = window.get((slo.E2E_TYPE, slo.E2E_NAME))
        runner = self.environment.runner
        self.workers = max(self.workers, int(getattr(runner, "worker_count", 1) or 1))
        self.points.append(
            {
                "t": round(now - self.started, 2),
                "users": runner.user_count if runner is not None else 0,
                "rps": round(http.count / dt, 2),
                "fail_per_s": round(http.failures / dt, 2),
                "error_rate": round(http.failures / http.count, 4) if http.count else 0.0,
                "p50_ms": http.percentile(0.50),
                "p95_ms": http.percentile(0.95),
                "p99_ms": http.percentile(0.99),
                "archived_per_s": round(
                    (e2e.count - e2e.failures) / dt if e2e is not None else 0.0, 2
                ),
                "e2e_p95_ms": e2e.percentile(0.95) if e2e is not None else None,
            }
        )

    def judge_step(self, users: int, since: Snapshot, since_s: float) -> Step:
        """The SLO verdict of traffic since `since` (one step of the stress profile)."""
        window = diff(snapshot(self.environment), since)
        now_s = self.elapsed()
        dt = max(1e-6, now_s - since_s)
        http = merged_http(window)
        e2e = window.get((slo.E2E_TYPE, slo.E2E_NAME))
        verdict = slo.evaluate(
            self.objectives, window, open_model=self.open_model, late_ms=self.late_ms
        )
        step = Step(
            users=users,
            started_s=since_s,
            ended_s=now_s,
            http_rps=http.count / dt,
            archived_per_s=(e2e.count - e2e.failures) / dt if e2e is not None else 0.0,
            p95_ms=http.percentile(0.95),
            verdict=verdict,
        )
        self.steps.append(step)
        log.warning(
            "stress step %d users: %.1f req/s, %.2f archived/s, p95 %s ms — %s",
            users,
            step.http_rps,
            step.archived_per_s,
            step.p95_ms,
            verdict.summary(),
        )
        return step

    def mark_stopped(self) -> None:
        """The load stopped: the time series ends and the duration is fixed here (statistics
        that arrive later still count)."""
        if self._sampler is not None:
            self._sampler.kill(block=False)
            self._sampler = None
            self.sample()
            self.stopped = self.elapsed()

    def stop(self) -> None:
        self.mark_stopped()
        final = snapshot(self.environment)
        self.verdict = slo.evaluate(
            self.objectives, final, open_model=self.open_model, late_ms=self.late_ms
        )
        if self.profile == "stress":
            self.knee = knee(self.steps)
        duration = self.stopped or self.elapsed()
        doc = {
            "profile": self.profile,
            "host": self.environment.host,
            "duration_s": round(duration, 1),
            "workers": self.workers,
            "slo": self.verdict.to_json(),
            "requests": [entry_json(w, duration) for w in final.values()],
            "timeseries": self.points,
            "steps": [s.to_json() for s in self.steps],
            "knee": self.knee,
            "open_model": open_model_summary(final, duration) if self.open_model else None,
            "soak": drift(self.points) if self.profile == "soak" else None,
            "e2e_histogram": final[(slo.E2E_TYPE, slo.E2E_NAME)].histogram
            if (slo.E2E_TYPE, slo.E2E_NAME) in final
            else {},
        }
        write_reports(self.report_dir, doc)
        print(f"\n{self.verdict.summary()}")
        for check in self.verdict.checks:
            print(f"  {check.describe()}")
        if self.knee is not None:
            print(f"  capacity (knee): {self.knee['text']}")
        print(f"  report: {self.report_dir / 'report.html'}\n", flush=True)

    def exit_code(self) -> int:
        if self.verdict is None:
            return 1
        if self.profile == "stress":
            # A knee is a measurement, not a pass or a fail: the run fails only when no step
            # could be judged at all.
            return 0 if self.steps else 1
        if self.verdict.inconclusive:
            return 3  # not judged: too little traffic, or the generator fell behind
        return 0 if self.verdict.ok else 1


class WorkerCounts:
    """A worker's own count of every request it made (LOAD_WORKER_COUNTS_DIR), written when it
    quits, so a test can check the master's aggregation against the workers' sum. Counted from
    request events: a worker's Locust statistics are reset each time they go to the master."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}

    def on_request(self, request_type: str, name: str, exception: Any = None, **_: Any) -> None:
        entry = self.counts.setdefault(f"{request_type} {name}", {"count": 0, "failures": 0})
        entry["count"] += 1
        if exception is not None:
            entry["failures"] += 1

    def dump(self, environment: Environment) -> None:
        target = os.environ.get("LOAD_WORKER_COUNTS_DIR")
        runner = environment.runner
        if not target or not isinstance(runner, WorkerRunner):
            return
        path = Path(target) / f"worker-{runner.worker_index}-{os.getpid()}.json"
        path.write_text(json.dumps(self.counts, ensure_ascii=False))


# The recorder of the current run (set by the locustfile's test_start listener), for the shape.
CURRENT: list[Recorder] = []
