"""Pure analysis of a load run's statistics: windows between snapshots, stress steps and the
knee, the open model's offered and achieved rates, soak drift. No Locust import: unit-tested
on its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from load import slo

Snapshot = dict[tuple[str, str], slo.Window]


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


def knee(steps: list[Step]) -> dict[str, Any]:
    """Capacity: the last step that met every objective before the first that did not, and
    beside it the step of highest throughput (past it, more users only queue)."""
    result = _slo_knee(steps)
    if steps:
        peak = max(steps, key=lambda s: s.http_rps)
        result["peak"] = {
            "users": peak.users,
            "http_rps": round(peak.http_rps, 2),
            "archived_per_s": round(peak.archived_per_s, 2),
        }
        result["text"] += (
            f" (highest throughput: {peak.http_rps:.1f} req/s, {peak.archived_per_s:.2f} "
            f"archived/s at {peak.users} users)"
        )
    return result


def _slo_knee(steps: list[Step]) -> dict[str, Any]:
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


def entry_json(w: slo.Window, duration: float) -> dict[str, Any]:
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


def open_model_summary(final: Snapshot, duration: float) -> dict[str, Any]:
    n = slo.arrival_counts(final)
    offered = sum(n.values())
    sent = n[slo.ARRIVAL_ON_TIME] + n[slo.ARRIVAL_LATE]
    e2e = final.get((slo.E2E_TYPE, slo.E2E_NAME))
    lag = final.get((slo.OPEN_TYPE, slo.GENERATOR_LAG))
    return {
        "generator_lag_p99_ms": lag.percentile(0.99) if lag is not None else None,
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


def drift(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Soak: p95 in the first tenth of the run beside the last tenth."""
    usable = [p for p in points if p["p95_ms"] is not None]
    if len(usable) < 10:
        return None
    tenth = max(1, len(usable) // 10)
    first = sorted(p["p95_ms"] for p in usable[:tenth])[tenth // 2]
    last = sorted(p["p95_ms"] for p in usable[-tenth:])[tenth // 2]
    return {"first_p95_ms": first, "last_p95_ms": last, "ratio": round(last / first, 2)}
