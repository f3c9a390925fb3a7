"""Tags and a one-line summary for an ATLAS record, derived from its ALT and LAST.

Pure decision logic: no I/O. The ATLAS schema requires unique, non-empty tags and a summary of
at most 280 characters; both are guaranteed here rather than left to validation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal

__all__ = ["SUMMARY_MAX_CHARS", "derive_tags", "success_band", "summarize"]

SUMMARY_MAX_CHARS: Final = 280
HIGH_BAND_MIN: Final = 0.9
MEDIUM_BAND_MIN: Final = 0.7
_STATUS_MAX_CHARS: Final = 40
_ELLIPSIS: Final = "…"


def _check_rate(rate: float) -> None:
    # NaN compares false with everything, so without this it would silently band as "low".
    if math.isnan(rate) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"success rate must be within [0, 1], got {rate!r}")


def success_band(rate: float) -> Literal["high", "medium", "low"]:
    """high at ≥ 0.9, medium at ≥ 0.7, else low. Raises ValueError outside [0, 1] or for NaN."""
    _check_rate(rate)
    if rate >= HIGH_BAND_MIN:
        return "high"
    if rate >= MEDIUM_BAND_MIN:
        return "medium"
    return "low"


def derive_tags(task_types: Iterable[str], success_rate: float) -> list[str]:
    """Sorted unique task types, then "success:<band>". Blank task types are ignored."""
    _check_rate(success_rate)
    band_tag = f"success:{success_band(success_rate)}"
    types = {t.strip() for t in task_types if t.strip()}
    types.discard(band_tag)  # tags must stay unique even if a caller passes a band tag in
    return [*sorted(types), band_tag]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1].rstrip() + _ELLIPSIS


def summarize(command: str, segments_count: int, status: str, success_rate: float) -> str:
    """One short sentence (≤ 280 chars) about a run; the command is cut with "…" to fit.

    The percentage is rounded down, so a partial run never reads as "100.0%".
    """
    _check_rate(success_rate)
    if segments_count < 0:
        raise ValueError(f"segments_count must not be negative, got {segments_count}")
    percent = math.floor(success_rate * 1000 + 1e-9) / 10
    noun = "segment" if segments_count == 1 else "segments"
    shown_status = _truncate(_one_line(status), _STATUS_MAX_CHARS) or "unknown"
    # Concatenated rather than str.format-ed: braces in the command or status are plain text.
    tail = f'" ran as {segments_count} {noun}: {shown_status}, {percent:.1f}% completed.'
    shown_command = _truncate(_one_line(command), SUMMARY_MAX_CHARS - len(tail) - 1)
    return _truncate('"' + shown_command + tail, SUMMARY_MAX_CHARS)
