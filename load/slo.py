"""Service-level objectives: the declarative file (`load/slo.yaml`) and their evaluation.

Pure: works on histogram snapshots (`Window`), not on Locust objects, so it is unit-tested
without a load run and evaluates a whole run or one step of the stress profile the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).with_name("slo.yaml")
E2E_TYPE = "E2E"  # request_type of the end-to-end pseudo-requests
E2E_NAME = "submit → archived"
OPEN_TYPE = "OPEN"  # request_type of the open model's arrival bookkeeping
ARRIVAL_ON_TIME = "arrival sent on time"
ARRIVAL_LATE = "arrival sent late"
ARRIVAL_DROPPED = "arrival dropped"
# How late the open model's dispatcher woke from a short sleep: the generator's own event-loop
# lag (CPU starvation of its host, or its own greenlets hogging the loop), in ms.
GENERATOR_LAG = "generator loop lag"
PSEUDO_TYPES = frozenset({E2E_TYPE, OPEN_TYPE})


class SloFileError(ValueError):
    """The SLO file is missing, not YAML, or names an unknown objective."""


@dataclass(frozen=True)
class Latency:
    p95_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class Slo:
    requests: Mapping[str, Latency]
    end_to_end: Latency
    error_rate: float
    missed_arrivals: float
    min_requests: int


_LATENCY_KEYS = {"p95_ms", "p99_ms"}
_TOP_KEYS = {"requests", "end_to_end", "error_rate", "missed_arrivals", "min_requests"}


def _latency(where: str, raw: Any) -> Latency:
    if not isinstance(raw, dict) or not raw:
        raise SloFileError(f"{where}: expected a mapping with p95_ms and/or p99_ms, got {raw!r}")
    unknown = set(raw) - _LATENCY_KEYS
    if unknown:
        raise SloFileError(f"{where}: unknown keys {sorted(unknown)}; known: p95_ms, p99_ms")
    for key, value in raw.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise SloFileError(f"{where}.{key}: expected a positive number of ms, got {value!r}")
    return Latency(p95_ms=raw.get("p95_ms"), p99_ms=raw.get("p99_ms"))


def _ratio(name: str, raw: Any) -> float:
    if not isinstance(raw, int | float) or isinstance(raw, bool) or not 0 <= raw <= 1:
        raise SloFileError(f"{name}: expected a ratio between 0 and 1, got {raw!r}")
    return float(raw)


def parse(doc: Any, source: str = "SLO file") -> Slo:
    if not isinstance(doc, dict):
        raise SloFileError(f"{source}: expected a mapping at the top level")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise SloFileError(f"{source}: unknown keys {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    requests = doc.get("requests") or {}
    if not isinstance(requests, dict):
        raise SloFileError(f"{source}: requests must map request names to objectives")
    min_requests = doc.get("min_requests", 1)
    if not isinstance(min_requests, int) or min_requests < 0:
        raise SloFileError(f"{source}: min_requests must be a whole number ≥ 0")
    return Slo(
        requests={name: _latency(f"requests[{name!r}]", v) for name, v in requests.items()},
        end_to_end=_latency("end_to_end", doc["end_to_end"]) if "end_to_end" in doc else Latency(),
        error_rate=_ratio("error_rate", doc.get("error_rate", 0.01)),
        missed_arrivals=_ratio("missed_arrivals", doc.get("missed_arrivals", 0.01)),
        min_requests=min_requests,
    )


def load(path: Path = DEFAULT_FILE) -> Slo:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SloFileError(f"cannot read the SLO file {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SloFileError(f"{path} is not valid YAML: {exc}") from None
    return parse(doc, str(path))


@dataclass
class Window:
    """Requests of one name over a time window: counts and a response-time histogram (ms)."""

    request_type: str
    name: str
    count: int = 0
    failures: int = 0
    histogram: dict[int, int] = field(default_factory=dict)

    def percentile(self, p: float) -> float | None:
        """The smallest recorded time with at least p of the requests at or under it."""
        total = sum(self.histogram.values())
        if total == 0:
            return None
        wanted = p * total
        seen = 0
        for value in sorted(self.histogram):
            seen += self.histogram[value]
            if seen >= wanted:
                return float(value)
        return float(max(self.histogram))

    def minus(self, earlier: Window) -> Window:
        """What happened between the `earlier` snapshot and this one."""
        hist = {
            k: n - earlier.histogram.get(k, 0)
            for k, n in self.histogram.items()
            if n - earlier.histogram.get(k, 0) > 0
        }
        return Window(
            self.request_type,
            self.name,
            self.count - earlier.count,
            self.failures - earlier.failures,
            hist,
        )

    @property
    def is_http(self) -> bool:
        return self.request_type not in PSEUDO_TYPES


@dataclass(frozen=True)
class Check:
    objective: str
    measured: float | None
    limit: float
    unit: str  # "ms" or "ratio"

    @property
    def ok(self) -> bool:
        return self.measured is not None and self.measured <= self.limit

    def describe(self) -> str:
        if self.measured is None:
            return f"{self.objective}: no data (objective ≤ {self._fmt(self.limit)})"
        verdict = "ok" if self.ok else "BREACH"
        text = (
            f"{self.objective} = {self._fmt(self.measured)} (objective ≤ {self._fmt(self.limit)})"
        )
        if not self.ok:
            over = self.measured - self.limit
            rel = f", {over / self.limit:.0%} over" if self.limit else ""
            text += f": {self._fmt(over)} over the objective{rel}"
        return f"[{verdict}] {text}"

    def _fmt(self, value: float) -> str:
        return f"{value:.0f} ms" if self.unit == "ms" else f"{value:.2%}"

    def to_json(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "measured": self.measured,
            "limit": self.limit,
            "unit": self.unit,
            "ok": self.ok,
            "text": self.describe(),
        }


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]
    http_requests: int
    inconclusive: str | None = None

    @property
    def ok(self) -> bool:
        return self.inconclusive is None and all(c.ok for c in self.checks)

    @property
    def breaches(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        if self.inconclusive:
            return f"SLO verdict: INCONCLUSIVE — {self.inconclusive}"
        if self.ok:
            return f"SLO verdict: PASS — {len(self.checks)} objectives met"
        names = ", ".join(c.objective for c in self.breaches)
        return f"SLO verdict: FAIL — {len(self.breaches)} of {len(self.checks)} broken: {names}"

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "inconclusive": self.inconclusive,
            "http_requests": self.http_requests,
            "checks": [c.to_json() for c in self.checks],
        }


def arrival_counts(windows: Mapping[tuple[str, str], Window]) -> dict[str, int]:
    """The open model's arrivals: on time, late, dropped."""
    counts = {}
    for name in (ARRIVAL_ON_TIME, ARRIVAL_LATE, ARRIVAL_DROPPED):
        window = windows.get((OPEN_TYPE, name))
        counts[name] = window.count if window is not None else 0
    return counts


def _latency_checks(label: str, spec: Latency, window: Window | None) -> list[Check]:
    checks = []
    for p, limit in ((0.95, spec.p95_ms), (0.99, spec.p99_ms)):
        if limit is not None:
            measured = window.percentile(p) if window is not None else None
            checks.append(Check(f"p{round(p * 100)} of {label}", measured, limit, "ms"))
    return checks


def evaluate(
    slo: Slo,
    windows: Mapping[tuple[str, str], Window],
    *,
    open_model: bool,
    late_ms: float = 100.0,
) -> Verdict:
    """Judge one window of traffic. `windows` is keyed by (request_type, name).

    An open-model run whose arrivals were not sent on time is judged against the generator's
    own measured capacity: when its event loop itself lagged more than `late_ms` (p99), the
    generator could not have kept any schedule, the system under test was not offered the load,
    and the verdict is INCONCLUSIVE, not FAIL. A generator that kept up and still sent late
    fails as before."""
    by_name: dict[str, Window] = {}
    for window in windows.values():
        if not window.is_http:
            continue
        # Locust keys stats by (name, method); an SLO names "METHOD name".
        key = f"{window.request_type} {window.name}"
        merged = by_name.setdefault(key, Window(window.request_type, key))
        merged.count += window.count
        merged.failures += window.failures
        for ms, count in window.histogram.items():
            merged.histogram[ms] = merged.histogram.get(ms, 0) + count
    http_count = sum(w.count for w in by_name.values())
    http_failures = sum(w.failures for w in by_name.values())
    checks: list[Check] = []
    for name, spec in slo.requests.items():
        seen = by_name.get(name)
        if seen is not None and seen.count:
            checks.extend(_latency_checks(name, spec, seen))
    e2e = windows.get((E2E_TYPE, E2E_NAME))
    if e2e is not None and e2e.count:
        checks.extend(_latency_checks("end-to-end (submit → archived)", slo.end_to_end, e2e))
    elif slo.end_to_end.p95_ms or slo.end_to_end.p99_ms:
        checks.extend(_latency_checks("end-to-end (submit → archived)", slo.end_to_end, None))
    rate = http_failures / http_count if http_count else None
    checks.append(Check("error rate", rate, slo.error_rate, "ratio"))
    if open_model:
        arrivals = arrival_counts(windows)
        n_missed = arrivals[ARRIVAL_LATE] + arrivals[ARRIVAL_DROPPED]
        total = sum(arrivals.values())
        checks.append(
            Check(
                "arrivals not sent on time",
                n_missed / total if total else None,
                slo.missed_arrivals,
                "ratio",
            )
        )
    inconclusive = None
    if open_model and not checks[-1].ok:
        lag = windows.get((OPEN_TYPE, GENERATOR_LAG))
        lag_p99 = lag.percentile(0.99) if lag is not None else None
        if lag_p99 is not None and lag_p99 > late_ms:
            inconclusive = (
                f"the load generator fell behind: its own event loop lagged {lag_p99:.0f} ms"
                f" (p99) against the {late_ms:.0f} ms an arrival may be late, so the arrivals"
                " not sent on time say that its host was busy, not how the system serves"
            )
    if http_count < slo.min_requests:
        inconclusive = (
            f"only {http_count} HTTP requests, fewer than min_requests={slo.min_requests}"
        )
    return Verdict(tuple(checks), http_count, inconclusive)
