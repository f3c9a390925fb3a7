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
from load.report import write_reports

log = logging.getLogger(__name__)

Snapshot = dict[tuple[str, str], slo.Window]


def snapshot(environment: Environment) -> Snapshot:
    assert environment.runner is not None
    out: Snapshot = {}
    for (name, method), entry in environment.runner.stats.entries.items():
        out[(method, name)] = slo.Window(
            method, name, entry.num_requests, entry.num_failures, dict(entry.response_times)
        )
    return out


def diff(after: Snapshot, before: Snapshot) -> Snapshot:
    return {key: w.minus(before[key]) if key in before else w for key, w in after.items()}


def merged_http(windows: Snapshot) -> slo.Window:
    total = slo.Window("HTTP", "all requests")
    for w in windows.values():
        if w.is_http:
            total.count += w.count
            total.failures += w.failures
            for k, n in w.histogram.items():
                total.histogram[k] = total.histogram.get(k, 0) + n
    return total


@dataclass
class Step:
    """One step of the stress profile: its users, throughput and SLO verdict."""

    users: int
    started_s: float
    ended_s: float
    http_rps: float
    archived_per_s: float
    p95_ms: float | None
    verdict: slo.Verdict

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "started_s": round(self.started_s, 1),
            "ended_s": round(self.ended_s, 1),
            "http_rps": round(self.http_rps, 2),
            "archived_per_s": round(self.archived_per_s, 2),
            "p95_ms": self.p95_ms,
            "slo_ok": self.verdict.ok,
            "breaches": [c.describe() for c in self.verdict.breaches],
        }


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
    _last: Snapshot = field(default_factory=dict)
    _last_t: float = 0.0
    _sampler: Any = None

    @property
    def open_model(self) -> bool:
        return self.profile == "open"

    def start(self) -> None:
        self.started = time.monotonic()
        self.points.clear()
        self.steps.clear()
        self.knee = None
        self.verdict = None
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
        current = snapshot(self.environment)
        window = diff(current, self._last)
        dt = max(1e-6, now - self._last_t)
        self._last, self._last_t = current, now
        http = merged_http(window)
        e2e = window.get((slo.E2E_TYPE, slo.E2E_NAME))
        runner = self.environment.runner
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
        verdict = slo.evaluate(self.objectives, window, open_model=self.open_model)
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

    def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.kill(block=False)
            self._sampler = None
        self.sample()
        final = snapshot(self.environment)
        self.verdict = slo.evaluate(self.objectives, final, open_model=self.open_model)
        if self.profile == "stress":
            self.knee = knee(self.steps)
        duration = self.elapsed()
        doc = {
            "profile": self.profile,
            "host": self.environment.host,
            "duration_s": round(duration, 1),
            "workers": getattr(self.environment.runner, "worker_count", 1),
            "slo": self.verdict.to_json(),
            "requests": [_entry_json(w, duration) for w in final.values()],
            "timeseries": self.points,
            "steps": [s.to_json() for s in self.steps],
            "knee": self.knee,
            "open_model": _open_model_json(final, duration) if self.open_model else None,
            "soak": _drift(self.points) if self.profile == "soak" else None,
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
            # Breaking the SLO is the point of a stress run; it fails only without a knee.
            return 0 if self.knee is not None and self.knee.get("found") else 1
        return 0 if self.verdict.ok else 1


def knee(steps: list[Step]) -> dict[str, Any]:
    """Capacity: the last step that met every objective before the first that did not."""
    passed: Step | None = None
    for step in steps:
        if not step.verdict.ok:
            if passed is None:
                return {
                    "found": True,
                    "users": 0,
                    "http_rps": 0.0,
                    "archived_per_s": 0.0,
                    "broken_at_users": step.users,
                    "text": f"the first step ({step.users} users) already broke the SLO: "
                    + "; ".join(c.describe() for c in step.verdict.breaches),
                }
            return {
                "found": True,
                "users": passed.users,
                "http_rps": round(passed.http_rps, 2),
                "archived_per_s": round(passed.archived_per_s, 2),
                "broken_at_users": step.users,
                "text": (
                    f"{passed.users} users, {passed.http_rps:.1f} HTTP req/s, "
                    f"{passed.archived_per_s:.2f} commands archived/s; at {step.users} users: "
                    + "; ".join(c.describe() for c in step.verdict.breaches)
                ),
            }
        passed = step
    top = steps[-1] if steps else None
    return {
        "found": False,
        "users": top.users if top else 0,
        "http_rps": round(top.http_rps, 2) if top else 0.0,
        "archived_per_s": round(top.archived_per_s, 2) if top else 0.0,
        "broken_at_users": None,
        "text": "no step broke the SLO: capacity is above the highest load tried"
        + (f" ({top.users} users, {top.http_rps:.1f} req/s)" if top else ""),
    }


def _entry_json(w: slo.Window, duration: float) -> dict[str, Any]:
    return {
        "type": w.request_type,
        "name": w.name,
        "count": w.count,
        "failures": w.failures,
        "rps": round(w.count / duration, 3) if duration else 0.0,
        "p50_ms": w.percentile(0.50),
        "p95_ms": w.percentile(0.95),
        "p99_ms": w.percentile(0.99),
        "max_ms": max(w.histogram) if w.histogram else None,
    }


def _open_model_json(final: Snapshot, duration: float) -> dict[str, Any]:
    n = slo.arrival_counts(final)
    offered = sum(n.values())
    sent = n[slo.ARRIVAL_ON_TIME] + n[slo.ARRIVAL_LATE]
    e2e = final.get((slo.E2E_TYPE, slo.E2E_NAME))
    return {
        "arrivals": offered,
        "on_time": n[slo.ARRIVAL_ON_TIME],
        "late": n[slo.ARRIVAL_LATE],
        "dropped": n[slo.ARRIVAL_DROPPED],
        "offered_per_s": round(offered / duration, 3) if duration else 0.0,
        "achieved_per_s": round(sent / duration, 3) if duration else 0.0,
        "archived_per_s": round((e2e.count - e2e.failures) / duration, 3)
        if e2e and duration
        else 0.0,
    }


def _drift(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Soak: p95 in the first tenth of the run beside the last tenth."""
    usable = [p for p in points if p["p95_ms"] is not None]
    if len(usable) < 10:
        return None
    tenth = max(1, len(usable) // 10)
    first = sorted(p["p95_ms"] for p in usable[:tenth])[tenth // 2]
    last = sorted(p["p95_ms"] for p in usable[-tenth:])[tenth // 2]
    return {"first_p95_ms": first, "last_p95_ms": last, "ratio": round(last / first, 2)}


def dump_worker_counts(environment: Environment) -> None:
    """Workers write their own counts (LOAD_WORKER_COUNTS_DIR) so a test can check the
    master's aggregation against them."""
    target = os.environ.get("LOAD_WORKER_COUNTS_DIR")
    runner = environment.runner
    if not target or not isinstance(runner, WorkerRunner):
        return
    counts = {
        f"{method} {name}": {"count": e.num_requests, "failures": e.num_failures}
        for (name, method), e in runner.stats.entries.items()
    }
    path = Path(target) / f"worker-{runner.worker_index}-{os.getpid()}.json"
    path.write_text(json.dumps(counts, ensure_ascii=False))


# The recorder of the current run (set by the locustfile's test_start listener), for the shape.
CURRENT: list[Recorder] = []
