"""`harness report api-usage`: who uses the API, how much, how often it fails and how fast it
answers — read from the gateway's own metrics, over a window.

The gateway counts every `/api/` request by caller (`user:<name>`, `apikey:<id>`, `anonymous`),
route template and status (`altlas_api_requests_total`) and times it
(`altlas_api_request_seconds`, a histogram). This module scrapes `/metrics` at the start and the
end of a window and reports the difference: requests, client errors (4xx), server errors (5xx)
and latency percentiles per caller and route, estimated from the histogram's buckets as
Prometheus's `histogram_quantile` does (linear within a bucket). `--since-start` reports the
counters as they are (everything since the gateway started) without waiting.

A Prometheus that scrapes the replicas answers the same question for a fleet
(`sum by (principal, route) (increase(altlas_api_requests_total[1h]))`); this report reads one
gateway, or several `--metrics-url`s summed (the replicas of a deployment).
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import HarnessError

REQUESTS = "altlas_api_requests"
SECONDS = "altlas_api_request_seconds"
QUANTILES = (0.5, 0.95, 0.99)

Key = tuple[str, str]  # (principal, route)


@dataclass
class Snapshot:
    """The usage series of one or more scrapes, summed: counts per (principal, method, route,
    status) and cumulative bucket counts per (principal, route, le)."""

    requests: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    buckets: dict[tuple[str, str, float], float] = field(default_factory=dict)

    @classmethod
    def parse(cls, texts: Iterable[str]) -> Snapshot:
        snap = cls()
        for text in texts:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    labels = sample.labels
                    if sample.name == f"{REQUESTS}_total":
                        key = (
                            labels.get("principal", ""),
                            labels.get("method", ""),
                            labels.get("route", ""),
                            labels.get("status", ""),
                        )
                        snap.requests[key] = snap.requests.get(key, 0.0) + sample.value
                    elif sample.name == f"{SECONDS}_bucket":
                        le = float(labels["le"])
                        bkey = (labels.get("principal", ""), labels.get("route", ""), le)
                        snap.buckets[bkey] = snap.buckets.get(bkey, 0.0) + sample.value
        return snap

    def minus(self, earlier: Snapshot) -> Snapshot:
        """What happened between `earlier` and this scrape of one gateway. If any of its
        counters went down, the gateway restarted in between: everything it counts now is from
        after the restart, so this scrape is the window's (per source, never per series, or a
        histogram's buckets would mix the two)."""
        restarted = any(v < earlier.requests.get(k, 0.0) for k, v in self.requests.items()) or any(
            v < earlier.buckets.get(k, 0.0) for k, v in self.buckets.items()
        )
        if restarted:
            return Snapshot(dict(self.requests), dict(self.buckets))
        return Snapshot(
            {k: v - earlier.requests.get(k, 0.0) for k, v in self.requests.items()},
            {k: v - earlier.buckets.get(k, 0.0) for k, v in self.buckets.items()},
        )

    @staticmethod
    def total(snaps: Iterable[Snapshot]) -> Snapshot:
        """Several gateways' snapshots (or windows) summed."""
        out = Snapshot()
        for snap in snaps:
            for k, v in snap.requests.items():
                out.requests[k] = out.requests.get(k, 0.0) + v
            for bk, bv in snap.buckets.items():
                out.buckets[bk] = out.buckets.get(bk, 0.0) + bv
        return out


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile of a cumulative histogram ({upper bound: count}), in seconds; None when
    empty. Linear within the bucket it falls in; in the +Inf bucket, the highest finite bound."""
    bounds = sorted(buckets)
    if not bounds:
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            width = count - below
            return lower + (bound - lower) * ((rank - below) / width if width else 1.0)
        lower, below = bound, count
    return lower


@dataclass(frozen=True)
class Row:
    principal: str
    route: str
    requests: int
    client_errors: int
    server_errors: int
    latency_ms: dict[str, float | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "route": self.route,
            "requests": self.requests,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class Usage:
    window_s: float | None  # None: since the gateway started
    rows: list[Row]
    sources: list[str]

    def by(self, what: str) -> dict[str, dict[str, int]]:
        """Totals per principal or per route: requests, client and server errors."""
        out: dict[str, dict[str, int]] = defaultdict(
            lambda: {"requests": 0, "client_errors": 0, "server_errors": 0}
        )
        for r in self.rows:
            t = out[r.principal if what == "principal" else r.route]
            t["requests"] += r.requests
            t["client_errors"] += r.client_errors
            t["server_errors"] += r.server_errors
        return dict(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "sources": self.sources,
            "rows": [r.to_json() for r in self.rows],
            "by_principal": self.by("principal"),
            "by_route": self.by("route"),
        }

    def render(self, top: int = 30) -> str:
        span = "since the gateway started" if self.window_s is None else f"over {self.window_s:g} s"
        total = sum(r.requests for r in self.rows)
        lines = [f"API usage {span}: {total} requests ({', '.join(self.sources)})"]
        if not self.rows:
            lines.append("  no API requests in the window")
            return "\n".join(lines)
        head = f"  {'caller':<28} {'route':<36} {'requests':>8} {'4xx':>5} {'5xx':>5}"
        head += "".join(f" {'p' + format(q * 100, 'g'):>8}" for q in QUANTILES)
        lines += ["", head]
        for r in self.rows[:top]:
            cells = "".join(f" {_ms(r.latency_ms[_qname(q)]):>8}" for q in QUANTILES)
            lines.append(
                f"  {r.principal[:28]:<28} {r.route[:36]:<36} {r.requests:>8}"
                f" {r.client_errors:>5} {r.server_errors:>5}{cells}"
            )
        if len(self.rows) > top:
            lines.append(f"  … and {len(self.rows) - top} more (--top, or --json for all)")
        lines += ["", "  per caller:"]
        for name, t in sorted(self.by("principal").items(), key=lambda kv: -kv[1]["requests"]):
            errors = t["client_errors"] + t["server_errors"]
            share = 100 * errors / t["requests"] if t["requests"] else 0.0
            lines.append(
                f"    {name:<34} {t['requests']:>8} requests, {errors} errors ({share:.1f} %)"
            )
        return "\n".join(lines)


def _qname(q: float) -> str:
    return "p" + format(q * 100, "g")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


def usage(snap: Snapshot, window_s: float | None, sources: list[str]) -> Usage:
    counts: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (principal, _method, route, status), n in snap.requests.items():
        if n <= 0:
            continue
        c = counts[(principal, route)]
        c[0] += round(n)
        if status.startswith("4"):
            c[1] += round(n)
        elif status.startswith("5"):
            c[2] += round(n)
    hist: dict[Key, dict[float, float]] = defaultdict(dict)
    for (principal, route, le), n in snap.buckets.items():
        hist[(principal, route)][le] = n
    rows = []
    for (principal, route), (n, c4, c5) in counts.items():
        lat = {
            _qname(q): (None if (v := quantile(q, hist.get((principal, route), {}))) is None
                        else round(v * 1000, 2))
            for q in QUANTILES
        }  # fmt: skip
        rows.append(Row(principal, route, n, c4, c5, lat))
    rows.sort(key=lambda r: (-r.requests, r.principal, r.route))
    return Usage(window_s, rows, sources)


async def scrape_each(urls: list[str], timeout_s: float = 10.0) -> list[Snapshot]:
    """One snapshot per gateway, in the order of `urls`."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:

        async def _one(url: str) -> str:
            try:
                resp = await client.get(url)
            except httpx.HTTPError as exc:
                raise HarnessError(f"cannot read the gateway's metrics at {url}: {exc}") from exc
            if resp.status_code != 200:
                raise HarnessError(f"{url} answered {resp.status_code}, expected its metrics")
            if f"{REQUESTS}_total" not in resp.text and "# TYPE " + REQUESTS not in resp.text:
                raise HarnessError(
                    f"{url} exports no {REQUESTS}_total: it is not an ALT_LAS gateway that"
                    " counts usage (a reference gateway from before the usage metrics?)"
                )
            return resp.text

        texts = await asyncio.gather(*(_one(u) for u in urls))
    return [Snapshot.parse([t]) for t in texts]


async def scrape(urls: list[str], timeout_s: float = 10.0) -> Snapshot:
    """The gateways' counters, summed."""
    return Snapshot.total(await scrape_each(urls, timeout_s))


def window(before: list[Snapshot], after: list[Snapshot]) -> Snapshot:
    """What each gateway counted between two scrapes, summed over the gateways."""
    return Snapshot.total(a.minus(b) for a, b in zip(after, before, strict=True))


async def measure(
    urls: list[str],
    window_s: float | None,
    progress: Callable[[float], None] | None = None,
) -> Usage:
    """Usage over `window_s` seconds from now (None: the counters as they are)."""
    first = await scrape_each(urls)
    if window_s is None:
        return usage(Snapshot.total(first), None, urls)
    loop = asyncio.get_running_loop()
    end = loop.time() + window_s
    while (left := end - loop.time()) > 0:
        if progress is not None:
            progress(left)
        await asyncio.sleep(min(left, 5.0))
    last = await scrape_each(urls)
    return usage(window(first, last), window_s, urls)


def parse_window(text: str) -> float:
    """`90`, `90s`, `5m`, `1h` → seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    value = text.strip().lower()
    scale = units.get(value[-1:], None)
    number = value[:-1] if scale else value
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise HarnessError(f"--window {text!r}: expected seconds or 30s / 5m / 1h") from None
    if not 0 < seconds <= 86400:
        raise HarnessError(f"--window {text!r}: expected more than 0 and at most a day")
    return seconds
