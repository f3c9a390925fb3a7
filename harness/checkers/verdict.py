"""What a checker hands back: anomalies by kind, counts and latency percentiles, printable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

AnomalyKind = Literal["lost", "duplicated", "stuck", "illegal_transition", "phantom", "rejected"]
KINDS: tuple[AnomalyKind, ...] = get_args(AnomalyKind)

__all__ = ["KINDS", "Anomaly", "AnomalyKind", "Latency", "Verdict"]


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    command_id: str | None  # None when the anomaly is about an idempotency key
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "command_id": self.command_id, "detail": self.detail}

    def __str__(self) -> str:
        return f"{self.kind} {self.command_id or '-'}: {self.detail}"


@dataclass(frozen=True)
class Latency:
    """Percentiles in ms (linear interpolation, as `harness latency` reports); None if no sample."""

    n: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Latency:
        if not samples_ms:
            return cls(0)
        ordered = sorted(samples_ms)

        def pct(p: float) -> float:
            k = (len(ordered) - 1) * p / 100
            lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
            return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

        return cls(len(ordered), pct(50), pct(95), pct(99), ordered[-1])

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max}

    def __str__(self) -> str:
        if not self.n:
            return "no samples"
        pcts = " ".join(
            f"{name}={getattr(self, name):.1f}" for name in ("p50", "p95", "p99", "max")
        )
        return f"{pcts} (n={self.n})"


@dataclass(frozen=True)
class Verdict:
    anomalies: tuple[Anomaly, ...]
    counts: Mapping[str, int]
    latency_ms: Mapping[str, Latency]  # "submit" (invoke → ok), "end_to_end" (ok → archived read)
    scanned: bool  # False: no ok scan, so the archive-side checks could not run

    @property
    def valid(self) -> bool:
        return not self.anomalies

    @property
    def by_kind(self) -> dict[str, int]:
        return {kind: sum(1 for a in self.anomalies if a.kind == kind) for kind in KINDS}

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "by_kind": self.by_kind,
            "anomalies": [a.to_json() for a in self.anomalies],
            "counts": dict(self.counts),
            "latency_ms": {name: lat.to_json() for name, lat in self.latency_ms.items()},
            "scanned": self.scanned,
        }

    def __str__(self) -> str:
        c, shown = self.counts, 5
        lines = [
            f"{'VALID' if self.valid else 'INVALID'}: {c.get('accepted', 0)} accepted,"
            f" {c.get('archived', 0)} archived, {c.get('indeterminate', 0)} indeterminate,"
            f" {len(self.anomalies)} anomalies",
            *(f"  {kind:<20}{n:>6}" for kind, n in self.by_kind.items()),
            *(f"  {name} latency ms: {lat}" for name, lat in self.latency_ms.items()),
        ]
        if not self.scanned:
            lines.append("  no archive scan: lost/duplicated/phantom checked from reads only")
        lines.extend(f"  - {a}" for a in self.anomalies[:shown])
        if len(self.anomalies) > shown:
            lines.append(f"  … and {len(self.anomalies) - shown} more")
        return "\n".join(lines)
