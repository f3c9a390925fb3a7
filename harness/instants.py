"""RFC 3339 instants given on the command line, parsed once: an offset is required (a bare
local time would mean different instants on different machines)."""

from __future__ import annotations

from datetime import datetime

from harness.errors import HarnessError


def parse_instant(text: str, option: str) -> datetime:
    """`text` as an aware datetime; a HarnessError naming `option` otherwise."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise HarnessError(
            f"{option} takes an RFC 3339 time such as 2026-12-01T14:30:05Z, not {text!r}"
        ) from None
    if when.tzinfo is None:
        raise HarnessError(f"{option} {text!r} has no UTC offset: add Z or +03:00, for example")
    return when
