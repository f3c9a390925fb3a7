"""`harness bench`: the three benchmarks in one run, their figures and ratios, JSON beside."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.bench.ceiling import ceiling
from harness.bench.overhead import overhead
from harness.bench.perimeter import perimeter
from harness.bench.pipeline import at_rate, saturation
from harness.stack.state import StackState

# Envelope fields (id, type, source, time, subject, schema_version, correlation_id) around each
# document, and the command.submitted event's data, in bytes: measured on the reference stack.
ENVELOPE_BYTES = 350
SUBMITTED_DATA_BYTES = 250
LOAD_FRACTIONS = (0.25, 0.5, 0.75)
WARMUP_COMMANDS = 100


async def bench(
    state: StackState,
    *,
    commands: int,
    concurrency: int,
    rate_seconds: float,
    read_seconds: float,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    # A fresh stack is cold (the JVM behind OpenSearch compiles as it goes, caches are empty):
    # a first batch warms it and is not measured.
    progress(f"warm-up: {WARMUP_COMMANDS} commands, not measured…")
    await saturation(state, WARMUP_COMMANDS, concurrency)
    progress(f"(a) pipeline at saturation: {commands} commands, {concurrency} clients…")
    sat = await saturation(state, commands, concurrency)
    progress(
        f"    {sat['archived_per_s']} commands archived/s "
        f"(accepted {sat['accepted_per_s']}/s), e2e p50 {sat['e2e']['p50_ms']} ms"
    )
    docs = sat["document_bytes"]
    sizes = (
        ENVELOPE_BYTES + SUBMITTED_DATA_BYTES,
        ENVELOPE_BYTES + docs["alt"],
        ENVELOPE_BYTES + docs["last"],
        ENVELOPE_BYTES + docs["atlas"],
    )
    progress(f"(b) ceiling: {commands} messages through three empty hops, sizes {sizes} B…")
    ceil = await ceiling(state, commands, concurrency, sizes)
    progress(f"    {ceil['per_s']} messages/s through three hops")
    loads = []
    for fraction in LOAD_FRACTIONS:
        rate = max(0.5, round(sat["archived_per_s"] * fraction, 2))
        progress(f"(a) end-to-end at {rate}/s offered ({fraction:.0%} of saturation)…")
        result = await at_rate(state, rate, rate_seconds)
        result["fraction_of_saturation"] = fraction
        progress(
            f"    p50 {result['e2e']['p50_ms']} ms, p95 {result['e2e']['p95_ms']} ms, "
            f"p99 {result['e2e']['p99_ms']} ms"
        )
        loads.append(result)
    progress(f"(c) gateway GET /commands/{{id}} vs a bare ASGI app, {read_seconds:.0f} s rounds…")
    over = await overhead(state, concurrency=16, seconds=read_seconds)
    progress("(d) the perimeter: shared vs per-process limiter, OpenID vs own token…")
    edge = await perimeter(state, concurrency=16, seconds=read_seconds)
    pipeline_ratio = sat["archived_per_s"] / ceil["per_s"] if ceil["per_s"] else 0.0
    gateway_ratio = (
        over["gateway"]["per_s"] / over["bare"]["per_s"] if over["bare"]["per_s"] else 0.0
    )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "target": state.target,
        # Services reach NATS, PostgreSQL and OpenSearch through Toxiproxy when it is present:
        # an extra hop the ceiling does not pay.
        "toxiproxy_in_path": "toxiproxy" in state.endpoints,
        "pipeline": {"saturation": sat, "fixed_loads": loads},
        "ceiling": ceil,
        "overhead": over,
        "perimeter": edge,
        "ratios": {
            "pipeline_over_ceiling": round(pipeline_ratio, 4),
            "gateway_over_bare_throughput": round(gateway_ratio, 4),
            "gateway_over_bare_p50_latency": round(
                over["gateway"]["p50_ms"] / over["bare"]["p50_ms"], 2
            )
            if over["bare"]["p50_ms"]
            else None,
        },
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def print_summary(result: dict[str, Any]) -> None:
    sat = result["pipeline"]["saturation"]
    ceil = result["ceiling"]
    over = result["overhead"]
    r = result["ratios"]
    print("\nALT_LAS benchmarks (one run, same machine)")
    print(f"  (a) pipeline at saturation      {sat['archived_per_s']:>9.2f} commands/s archived")
    for load in result["pipeline"]["fixed_loads"]:
        e = load["e2e"]
        print(
            f"      end-to-end at {load['offered_per_s']:>6.2f}/s     p50 {e['p50_ms']:>7.1f} ms"
            f"   p95 {e['p95_ms']:>7.1f} ms   p99 {e['p99_ms']:>7.1f} ms"
        )
    print(f"  (b) ceiling (3 empty hops)      {ceil['per_s']:>9.2f} messages/s")
    print(
        f"  (c) gateway GET /commands/{{id}}  {over['gateway']['per_s']:>9.1f} req/s"
        f"   p50 {over['gateway']['p50_ms']} ms"
    )
    print(
        f"      bare ASGI, same read        {over['bare']['per_s']:>9.1f} req/s"
        f"   p50 {over['bare']['p50_ms']} ms"
    )
    edge = result.get("perimeter", {})
    if "skipped" in edge:
        print(f"  (d) perimeter: skipped ({edge['skipped']})")
    elif edge:
        for name, label in (
            ("local_limit", "per-process limiter"),
            ("shared_limit", "shared limiter (NATS)"),
            ("oidc_token", "  … with an OpenID token"),
        ):
            run = edge.get(name, {})
            if "per_s" in run:
                print(f"  (d) {label:<28} {run['per_s']:>9.1f} req/s   p50 {run['p50_ms']} ms")
        er = edge["ratios"]
        print(f"  ratio shared / per-process limiter {er['shared_over_local_limit_throughput']}")
        if "oidc_over_own_token_throughput" in er:
            print(f"  ratio OpenID / own token        {er['oidc_over_own_token_throughput']:>9.3f}")
    print(f"  ratio pipeline / ceiling        {r['pipeline_over_ceiling']:>9.3f}")
    print(f"  ratio gateway / bare (req/s)    {r['gateway_over_bare_throughput']:>9.3f}")


def write(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return path
