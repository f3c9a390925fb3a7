"""The archive search mix: the queries Locust's SearchUser sends (load/journeys.py) and
`make bench-data` times — a term, often a filter or two, sometimes a second page."""

from __future__ import annotations

import random

SEARCH_TERMS = (
    "istanbul",
    "İstanbul",
    "hava",
    "rapor",
    "özet",
    "ozet",
    "weather",
    "report",
    "sales",
    "şikâyet",
    "ankara",
    "email",
)
TAGS = ("search", "analyze", "summarize", "save", "notify", "success:high", "success:low")


def search_params(rng: random.Random) -> dict[str, str | list[str]]:
    """A realistic search: a term, often a filter or two, sometimes a second page."""
    params: dict[str, str | list[str]] = {"q": rng.choice(SEARCH_TERMS)}
    if rng.random() < 0.4:
        params["language"] = rng.choice(("tr", "en"))
    if rng.random() < 0.3:
        params["tag"] = [rng.choice(TAGS)]
    if rng.random() < 0.2:
        params["min_success_rate"] = rng.choice(("0.5", "0.7", "0.9"))
    if rng.random() < 0.15:
        params["page"] = "2"
    params["size"] = rng.choice(("10", "20"))
    return params
