"""Checkers: pure functions that judge a recorded history once the run is over."""

from harness.checkers.pipeline import KINDS, Anomaly, AnomalyKind, Latency, Verdict, check

__all__ = ["KINDS", "Anomaly", "AnomalyKind", "Latency", "Verdict", "check"]
