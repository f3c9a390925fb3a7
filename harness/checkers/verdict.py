"""What a checker hands back: anomalies by kind, counts and latency percentiles, printable.

Three verdicts: VALID (every accepted command was read back and judged clean), INVALID (an
anomaly was found), UNKNOWN (no anomaly, but the harness could not read where some commands
ended, or could not scan the archive: nothing can be said of those, and a pass is not claimed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# The last four are the broker's (harness.checkers.broker): what the stream stored.
AnomalyKind = Literal[
    "lost",
    "duplicated",
    "stuck",
    "illegal_transition",
    "phantom",
    "rejected",
    "stored_twice",
    "unmarked",
    "invalid_event",
    "over_delivered",
]
KINDS: tuple[AnomalyKind, ...] = get_args(AnomalyKind)

Status = Literal["VALID", "INVALID", "UNKNOWN"]
EXIT_CODES: Mapping[Status, int] = {"VALID": 0, "INVALID": 1, "UNKNOWN": 3}

__all__ = [
    "EXIT_CODES",
    "KINDS",
    "Anomaly",
    "AnomalyKind",
    "Group",
    "Latency",
    "Status",
    "Unread",
    "Verdict",
]


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    command_id: str | None  # None when the anomaly is about an idempotency key
    detail: str
    cause: str = ""  # what went wrong, without ids or times: anomalies are grouped by it

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cause": self.cause,
            "command_id": self.command_id,
            "detail": self.detail,
        }

    def __str__(self) -> str:
        return f"{self.kind} {self.command_id or '-'}: {self.detail}"


@dataclass(frozen=True)
class Unread:
    """Something the harness could not read back (a command's final status, or the archive
    scan when `command_id` is None), with the errors its attempts met, by kind."""

    command_id: str | None
    errors: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "errors": dict(self.errors)}

    def __str__(self) -> str:
        seen = ", ".join(f"{e} ×{n}" for e, n in self.errors.items()) or "no attempt completed"
        return f"{self.command_id or 'archive scan'}: {seen}"


@dataclass(frozen=True)
class Group:
    """Anomalies of one kind and cause: how many, and the first few."""

    kind: AnomalyKind
    cause: str
    count: int
    examples: tuple[Anomaly, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cause": self.cause,
            "count": self.count,
            "examples": [a.to_json() for a in self.examples],
        }


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

    @staticmethod
    def format_ms(value: float | None) -> str:
        """A figure as people read it: 12.4 ms, 1.23 s, — for none."""
        if value is None:
            return "—"
        return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"

    def __str__(self) -> str:
        if not self.n:
            return "no samples"
        pcts = "  ".join(
            f"{name} {self.format_ms(getattr(self, name))}" for name in ("p50", "p95", "p99", "max")
        )
        return f"{pcts}  (n={self.n})"


@dataclass(frozen=True)
class Verdict:
    anomalies: tuple[Anomaly, ...]
    counts: Mapping[str, int]
    latency_ms: Mapping[str, Latency]  # "submit" (invoke → ok), "end_to_end" (ok → archived read)
    scanned: bool  # False: no ok scan, so the archive-side checks could not run
    unread: tuple[Unread, ...] = ()

    @property
    def status(self) -> Status:
        if self.anomalies:
            return "INVALID"
        return "UNKNOWN" if self.unread else "VALID"

    @property
    def valid(self) -> bool:
        return self.status == "VALID"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def by_kind(self) -> dict[str, int]:
        return {kind: sum(1 for a in self.anomalies if a.kind == kind) for kind in KINDS}

    def groups(self, examples: int = 3) -> list[Group]:
        """Anomalies grouped by kind and cause, largest group first within each kind."""
        order = {kind: i for i, kind in enumerate(KINDS)}
        counts = Counter((a.kind, a.cause) for a in self.anomalies)
        keys = sorted(counts, key=lambda k: (order[k[0]], -counts[k], k[1]))
        return [
            Group(
                kind,
                cause,
                counts[(kind, cause)],
                tuple(a for a in self.anomalies if (a.kind, a.cause) == (kind, cause))[:examples],
            )
            for kind, cause in keys
        ]

    def unread_errors(self) -> dict[str, int]:
        """Every error the unread items met, summed by kind."""
        total: Counter[str] = Counter()
        for item in self.unread:
            total.update(item.errors)
        return dict(total.most_common())

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "valid": self.valid,
            "by_kind": self.by_kind,
            "groups": [g.to_json() for g in self.groups(examples=5)],
            "anomalies": [a.to_json() for a in self.anomalies],
            "unread": [u.to_json() for u in self.unread],
            "unread_errors": self.unread_errors(),
            "counts": dict(self.counts),
            "latency_ms": {name: lat.to_json() for name, lat in self.latency_ms.items()},
            "scanned": self.scanned,
        }

    def __str__(self) -> str:
        c = self.counts
        lines = [
            f"{self.status}: {c.get('accepted', 0)} accepted,"
            f" {c.get('archived', 0)} archived, {c.get('indeterminate', 0)} indeterminate,"
            f" {len(self.anomalies)} anomalies, {len(self.unread)} not read back",
            *(f"  {kind:<20}{n:>6}" for kind, n in self.by_kind.items()),
            *(f"  {name} latency: {lat}" for name, lat in self.latency_ms.items()),
        ]
        if not self.scanned:
            lines.append("  no archive scan: lost/duplicated/phantom checked from reads only")
        for group in self.groups():
            lines.append(f"  {group.kind} × {group.count}: {group.cause}")
            lines.extend(f"    - {a}" for a in group.examples)
            if group.count > len(group.examples):
                lines.append(f"    … and {group.count - len(group.examples)} more (report.json)")
        if self.unread:
            seen = ", ".join(f"{e} ×{n}" for e, n in self.unread_errors().items()) or "none"
            lines.append(
                f"  could not read back {len(self.unread)} (verdict UNKNOWN, not INVALID);"
                f" errors: {seen}"
            )
            lines.extend(f"    - {u}" for u in self.unread[:3])
            if len(self.unread) > 3:
                lines.append(f"    … and {len(self.unread) - 3} more (report.json)")
        return "\n".join(lines)
