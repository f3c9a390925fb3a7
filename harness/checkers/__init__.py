"""Checkers: pure functions that judge a recorded history once the run is over."""

from harness.checkers.pipeline import KINDS, Anomaly, AnomalyKind, Latency, Unread, Verdict, check
from harness.checkers.verdict import EXIT_CODES, Group, Status

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
    "check",
]
