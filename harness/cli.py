"""`harness` command line: up, status, logs, down.

harness up                 start the local stack (detached) and print how to use it
harness status [--json]    health of every component
harness logs SERVICE [-n N] [-f]
harness down               stop everything `up` started
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import sys
import time
from pathlib import Path

from harness import streamctl
from harness.clients.gateway import GatewayClient
from harness.errors import HarnessError
from harness.settings import HarnessSettings
from harness.stack import local
from harness.stack.health import check_stack
from harness.stack.state import NoStack, StackState, load_state
from harness.stack.targets import TARGETS, target
from harness.workload.archive_tool import ArchiveTool


def _print_usage(state: StackState) -> None:
    e = state.endpoints
    print("\nALT_LAS is up. Endpoints:")
    for name, url in e.items():
        print(f"  {name:<13} {url}")
    if state.credentials:
        print("\nDemo users (local stack only):")
        for role, cred in state.credentials.items():
            # Infrastructure logins (the NATS operator's) stay in the state file, unprinted.
            if "username" in cred and not role.startswith("nats"):
                print(f"  {role:<7} {cred['username']} / {cred['password']}")
        load = state.credentials.get("load")
        if load:
            names = load["usernames"].split(",")
            print(f"  load    {names[0]} … {names[-1]} / {load['password']} (Locust's accounts)")
    accounts = {r: c for r, c in state.credentials.items() if r.startswith("oidc-")}
    if accounts:
        issuer = next(iter(accounts.values()))["issuer"]
        print(f"\nOpenID provider {issuer}: service accounts (client credentials grant)")
        for role, c in accounts.items():
            print(f"  {role.removeprefix('oidc-'):<7} {c['client_id']} / {c['client_secret']}")
    user = state.credentials.get("user", {"username": "demo-user", "password": "demo-user-pass"})
    gw = e.get("gateway", "http://127.0.0.1:8000")
    print(
        "\nTry it:\n"
        f"  TOKEN=$(curl -s -X POST {gw}/api/v1/auth/login -H 'Content-Type: application/json' \\\n"
        f'      -d \'{{"username":"{user["username"]}","password":"{user["password"]}"}}\' '
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'  curl -s -X POST {gw}/api/v1/commands -H "Authorization: Bearer $TOKEN" \\\n'
        "      -H 'Content-Type: application/json' \\\n"
        '      -d \'{"command":"İstanbul hava durumunu ara ve sonuçları özetle"}\'\n'
        f"  API portal: {gw}/portal   State: harness status --json   Stop: make down"
    )


def _with_cluster(settings: HarnessSettings, size: int) -> HarnessSettings:
    if size < 1 or (size > 1 and (size < 3 or size % 2 == 0)):
        raise HarnessError(f"--nats-cluster must be 1 or an odd number ≥ 3, not {size}")
    return settings.model_copy(update={"nats_cluster": size})


async def _up(settings: HarnessSettings, target_name: str) -> int:
    state = await target(target_name).up(settings)
    _print_usage(state)
    return 0


async def _status(settings: HarnessSettings, as_json: bool) -> int:
    state = load_state(settings)
    health = await check_stack(state)
    healthy = all(h.healthy for h in health)
    if as_json:
        doc = state.to_json()
        for rec in doc["processes"].values():
            rec.pop("env", None)  # holds keys and passwords; endpoints and credentials suffice
        doc["healthy"] = healthy
        doc["components"] = {h.name: h.to_json() for h in health}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print(f"target: {state.target}   started: {state.started_at or '-'}")
        for h in health:
            mark = "ok  " if h.healthy else "DOWN"
            pid = f"pid {h.pid}" if h.pid else ""
            print(f"  [{mark}] {h.name:<13} {h.endpoint or '-':<48} {pid:<10} {h.detail}")
    return 0 if healthy else 1


def _logs(settings: HarnessSettings, service: str, lines: int, follow: bool) -> int:
    state = load_state(settings)
    record = state.processes.get(service)
    if record is None:
        known = ", ".join(sorted(state.processes)) or "none (not a local stack)"
        raise HarnessError(f"no process named {service!r}; known: {known}")
    if state.target == "docker":
        from harness.stack import docker

        docker.print_logs(state, service, lines, follow)  # `docker logs`, not a file
        return 0
    path = Path(record.log)
    text = path.read_text(errors="replace") if path.exists() else ""
    for line in text.splitlines()[-lines:]:
        print(line)
    if follow:
        with path.open(errors="replace") as fh:
            fh.seek(0, 2)
            try:
                while True:
                    line = fh.readline()
                    if line:
                        print(line, end="", flush=True)
                    else:
                        time.sleep(0.2)  # tailing a file, not waiting for readiness
            except KeyboardInterrupt:
                pass
    return 0


async def _restart(settings: HarnessSettings, name: str) -> None:
    if load_state(settings).target == "docker":
        from harness.faults import container

        await container.kill(settings, name, "SIGTERM")  # docker stop: SIGTERM, then SIGKILL
        await container.start(settings, name)
        return
    await local.restart(settings, name)


async def _down(settings: HarnessSettings) -> int:
    try:
        state = load_state(settings)
    except NoStack:
        # A local Kubernetes cluster whose deploy failed has no state file: stop it too.
        from harness.k8s.localcluster import LocalCluster

        cluster = LocalCluster.of_state_dir(settings.state_dir)
        if cluster.records():
            from harness.stack.k8s_local import stop_cluster

            await stop_cluster(cluster, lambda m: print(m, file=sys.stderr))
            return 0
        print("no stack is running", file=sys.stderr)
        return 0
    if state.target not in TARGETS:
        raise HarnessError(
            f"the stack is {state.target}: the harness did not start it and will not stop it"
        )
    await target(state.target).down(settings, state)
    return 0


async def _latency(settings: HarnessSettings, n: int, as_json: bool) -> int:
    from harness.probes.latency import measure

    state = load_state(settings)
    report = (await measure(state, n)).to_json()
    if as_json:
        print(json.dumps(report))
    else:
        print(
            f"POST /commands → archived over {report['n']} commands at idle: "
            f"p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms "
            f"(min {report['min_ms']}, max {report['max_ms']})"
        )
    return 0


async def _bench(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.bench.run import bench, print_summary, write

    started = None
    try:
        state = load_state(settings)
    except NoStack:
        print(
            "bench: no stack is running; starting a local one without Toxiproxy (the ceiling's "
            "path has no proxy either)",
            file=sys.stderr,
        )
        settings = settings.model_copy(update={"toxiproxy": False})
        started = target("local")
        state = await started.up(settings)
    try:
        result = await bench(
            state,
            commands=args.commands,
            concurrency=args.concurrency,
            rate_seconds=args.rate_seconds,
            read_seconds=args.read_seconds,
            progress=_say,
        )
    finally:
        if started is not None:
            await started.down(settings, load_state(settings))
    print_summary(result)
    print(f"\n  written to {write(result, Path(args.out))}")
    return 0


async def _bench_nats(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.bench import nats as bn

    sizes: dict[str, int] = {}
    source = "the Pact message examples (contracts/pacts)"
    if settings.state_file.exists() or settings.nats_url:
        from harness.stack.state import nats_access_of

        try:
            access = nats_access_of(settings)
        except HarnessError:
            access = None  # a stack without a NATS endpoint: the Pact examples' sizes
        if access is not None:
            sizes = await bn.stream_sizes(access)
            source = f"the running stack's events stream ({access.url.split(',')[0]})"
    if not sizes:
        sizes = bn.pact_sizes()
        source = "the Pact message examples (contracts/pacts)"
    result = await bn.bench_nats(
        sizes,
        messages=args.messages,
        concurrency=args.concurrency,
        rounds=args.rounds,
        progress=_say,
    )
    result["sizes_from"] = source
    print(bn.render(result, source))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-nats.json").write_text(json.dumps(result, indent=2))
    print(f"\n  written to {out / 'bench-nats.json'}")
    return 0


async def _bench_data(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.bench.data import bench_data, print_summary, write

    try:
        sizes = sorted({int(x.replace("_", "")) for x in args.sizes.split(",") if x.strip()})
    except ValueError:
        raise HarnessError(
            f"--sizes takes counts like 100000,1000000, not {args.sizes!r}"
        ) from None
    if not sizes or sizes[0] < 1000:
        raise HarnessError(f"--sizes needs counts of at least 1,000 records, not {args.sizes!r}")
    from harness.bench.data import PARTS

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or set(parts) - set(PARTS):
        raise HarnessError(f"--parts takes some of {', '.join(PARTS)}, not {args.parts!r}")
    if args.queries < 50 or args.concurrency < 1:
        raise HarnessError("--queries must be at least 50 and --concurrency at least 1")
    result = await bench_data(
        load_state(settings),
        settings,
        sizes=sizes,
        queries=args.queries,
        concurrency=args.concurrency,
        parts=parts,
        progress=_say,
    )
    print_summary(result)
    print(f"\n  written to {write(result, Path(args.out))}")
    return 0


def _seconds(text: str) -> float:
    """'120', '120s', '2m' → seconds."""
    text = text.strip().lower()
    try:
        if text.endswith("m"):
            return float(text[:-1]) * 60
        return float(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 120s, 2m)") from None


async def _campaign(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.campaign import CampaignConfig, run_campaign

    config = CampaignConfig(
        duration_s=args.duration,
        seed=args.seed,
        faults=tuple(f for f in args.faults.split(",") if f),
        rate_per_s=args.rate,
        recovery_s=args.recovery,
        read_rate_per_s=args.read_rate,
        out_dir=Path(args.out),
    )
    result = await run_campaign(settings, config, progress=lambda m: print(m, file=sys.stderr))
    print(result.verdict)
    rb = result.readback
    print(
        f"  read-back: {rb.get('commands', 0)} commands in {rb.get('seconds', 0)}s,"
        f" {rb.get('retries', 0)} retries, {rb.get('throttled', 0)} answered 429"
    )
    print(f"\nreport: {result.report_html}\n        {result.report_json}")
    # 0 VALID, 1 INVALID (an anomaly), 3 UNKNOWN (some results could not be read back).
    return result.verdict.exit_code


async def _slow_queries(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.probes.slow_queries import slow_queries

    if args.top < 1:
        raise HarnessError(f"--top must be at least 1, not {args.top}")
    state = load_state(settings)
    record = state.processes.get("postgres")
    source, found = await slow_queries(
        state.endpoints.get("postgres"), Path(record.log) if record is not None else None
    )
    if args.database:
        found = [s for s in found if s["database"] == args.database]
    if args.json:
        print(json.dumps({"source": source, "statements": found}, indent=2, ensure_ascii=False))
        return 0
    print(f"slowest statements by total time ({source}):")
    print(f"{'database':<10} {'calls':>6} {'total ms':>10} {'mean ms':>9} {'max ms':>9}  query")
    for s in found[: args.top]:
        print(
            f"{s['database']:<10} {s['calls']:>6} {s['total_ms']:>10.1f} {s['mean_ms']:>9.1f}"
            f" {s['max_ms']:>9.1f}  {s['query'][:110]}"
        )
    if not found:
        print("  none above the logging threshold")
    return 0


def _mb_s(size: int, seconds: float) -> str:
    return f"{size / 1e6 / seconds:.1f} MB/s" if seconds > 0 else "-"


async def _backup(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.backup import ops

    result = await ops.take_backup(settings, progress=_say)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    info = result.info
    print(
        f"backup {info.id}: {info.data_bytes / 1e6:.1f} MB in {info.duration_s:.1f}s"
        f" ({_mb_s(info.data_bytes, info.duration_s)}), verified, stored"
        f" (sha256 {info.sha256[:12]}…); restores any instant from {info.finished_at}"
    )
    if result.pruned_backups or result.pruned_wal:
        print(
            f"retention (keep {settings.backup_retention}): removed"
            f" {len(result.pruned_backups)} backups ({', '.join(result.pruned_backups) or '-'})"
            f" and {result.pruned_wal} WAL files older than the oldest backup kept"
        )
    return 0


async def _backups(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.backup import ops

    inv = await ops.inventory(settings)
    if args.json:
        print(json.dumps(inv.to_json(), indent=2, default=str))
        return 0
    print(f"{'backup':<20} {'completed (restores from)':<34} {'MB':>8} {'took':>7}  start WAL")
    for b in inv.backups:
        print(
            f"{b.id:<20} {b.finished_at:<34} {b.data_bytes / 1e6:>8.1f}"
            f" {b.duration_s:>6.1f}s  {b.start_wal}"
        )
    if not inv.backups:
        print("  none yet: `harness db backup` takes one")
    if inv.abandoned:
        print(
            f"  on a branch an earlier restore abandoned (no restore uses them; retention keeps"
            f" them for you to remove): {', '.join(inv.abandoned)}"
        )
    a = inv.archiver
    print(
        f"\nWAL archive: {inv.wal_segments} objects ({inv.wal_bytes / 1e6:.1f} MB);"
        f" archived {a['archived_count']}, last {a['last_archived_wal']} at"
        f" {a['last_archived_time']}; failed {a['failed_count']}"
        + (f", last {a['last_failed_wal']} at {a['last_failed_time']}" if a["failed_count"] else "")
    )
    if inv.wal_gaps:
        print(f"  HOLES in the archive (no restore replays past them): {', '.join(inv.wal_gaps)}")
        return 1
    return 0


async def _verify(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.backup import ops
    from harness.backup.catalog import BackupRefused

    try:
        info = await ops.verify_backup(settings, args.backup, progress=_say)
    except BackupRefused as exc:
        print(f"REFUSED: {exc}")
        return 1
    print(f"backup {info.id}: intact (tar SHA-256 and pg_verifybackup agree with its manifest)")
    return 0


async def _restore(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.backup import ops
    from harness.backup.catalog import BackupRefused

    target = ops.parse_target(args.to)
    counts: dict[str, dict[str, int]] = {}
    try:
        if args.drill:
            async with ops.drill(settings, target, bid=args.backup, progress=_say) as result:
                counts = await ops.table_counts(result.url)
        else:
            result = await ops.restore(settings, target, bid=args.backup, progress=_say)
        doc = {**result.to_json(), **({"rows": counts} if args.drill else {})}
    except BackupRefused as exc:
        print(f"REFUSED: {exc}")
        return 1
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return 0
    t = result.timings
    where = (
        "drill (removed)"
        if args.drill
        else f"the stack now runs on {result.data_dir} (the previous data directory, if it"
        " survived, is left where it was: remove it when done)"
    )
    print(
        f"restored backup {result.backup} to {result.target}: last commit replayed"
        f" {result.reached or '-'}; {where}\n"
        f"  download {t.get('download_s', 0):.1f}s, verify {t.get('verify_s', 0):.1f}s,"
        f" WAL replay {t.get('recovery_s', 0):.1f}s, total {t.get('total_s', 0):.1f}s"
    )
    if args.drill:
        for db, tables in counts.items():
            print(f"  {db}: " + ", ".join(f"{n} {c}" for n, c in tables.items()))
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _db_env(settings: HarnessSettings, service: str) -> int:
    """`eval "$(harness db env archive)"`: the archive's settings for its tools, on this stack."""
    tool = ArchiveTool.of(load_state(settings), settings.index_alias)
    for name, value in tool.env.items():
        print(f"export {name}={shlex.quote(value)}")
    del service  # only the archive has tools of its own today
    return 0


async def _attack(settings: HarnessSettings, args: argparse.Namespace) -> int:
    """The attack corpus against the stack's gateway: a table, exit 1 unless all refused."""
    from harness.security import corpus

    state = load_state(settings)
    if "gateway" not in state.endpoints:
        raise HarnessError("the stack has no gateway endpoint to attack")
    known = {c.name for c in corpus.CASES}
    unknown = set(args.case or ()) - known
    if unknown:
        raise HarnessError(f"no such case {sorted(unknown)}; the cases: {', '.join(sorted(known))}")

    def _progress(o: corpus.Outcome) -> None:
        if not args.json:
            _say(f"  {o.case}: {o.verdict} ({o.got})")

    async with GatewayClient(state.endpoints["gateway"], state.credentials) as client:
        outcomes = await corpus.run_corpus(
            client,
            signing_key_pem=corpus.find_signing_key(settings, state),
            settings=settings,
            only=set(args.case) if args.case else None,
            progress=_progress,
        )
    if args.json:
        print(json.dumps([o.to_json() for o in outcomes], indent=2, ensure_ascii=False))
    else:
        print(corpus.table(outcomes))
    return 0 if all(o.verdict in (corpus.REFUSED, corpus.SKIPPED) for o in outcomes) else 1


def _trace(settings: HarnessSettings, args: argparse.Namespace) -> int:
    """`harness trace COMMAND_ID`: the command's spans across the services, as a tree."""
    from harness.probes import traces

    state = load_state(settings)
    found = traces.command_trace(
        traces.read_spans(traces.trace_files(state.state_dir)), args.command_id
    )
    if args.json:
        print(json.dumps(found.to_json(), indent=2, ensure_ascii=False))
    else:
        print(found.render())
    return 0


async def _api_usage(settings: HarnessSettings, args: argparse.Namespace) -> int:
    """`harness report api-usage`: the gateway's usage metrics, over a window."""
    from harness.report import api_usage

    urls = args.metrics_url
    if not urls:
        state = load_state(settings)
        if "gateway" not in state.endpoints:
            raise HarnessError("the stack has no gateway endpoint (or give --metrics-url)")
        urls = [state.endpoints["gateway"].rstrip("/") + "/metrics"]
    window = None if args.since_start else api_usage.parse_window(args.window)

    def _progress(left: float) -> None:
        if not args.json:
            _say(f"  watching the API usage: {left:.0f} s left…")

    found = await api_usage.measure(urls, window, _progress)
    if args.json:
        print(json.dumps(found.to_json(), indent=2, ensure_ascii=False))
    else:
        print(found.render(args.top))
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = HarnessSettings()
    parser = argparse.ArgumentParser(
        prog="harness", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    upp = sub.add_parser("up", help="start a stack (local processes by default) and return")
    upp.add_argument(
        "--target",
        choices=TARGETS,
        default=settings.target,
        help=(
            "local: processes on this machine; docker: containers; kind: a kind cluster;"
            " k8s-local: a Kubernetes cluster built and run on this machine"
        ),
    )
    upp.add_argument(
        "--nats-cluster",
        type=int,
        default=settings.nats_cluster,
        help="local target: NATS servers (1, or 3: a JetStream cluster, routes through"
        " Toxiproxy, every pipeline stream on all three; HARNESS_NATS_CLUSTER)",
    )
    st = sub.add_parser("status", help="health of every component")
    st.add_argument("--json", action="store_true", help="machine-readable, includes the state file")
    lg = sub.add_parser("logs", help="print a component's log")
    lg.add_argument("service")
    lg.add_argument("-n", "--lines", type=int, default=100)
    lg.add_argument("-f", "--follow", action="store_true")
    sub.add_parser("down", help="stop the stack `harness up` started, whatever its target")
    rs = sub.add_parser(
        "restart", help="restart one component (a process; a container on the docker target)"
    )
    rs.add_argument("name")
    cp = sub.add_parser("campaign", help="workload + seeded faults, then a checked verdict")
    cp.add_argument("--duration", type=_seconds, default=120.0, help="e.g. 120s, 10m")
    cp.add_argument("--seed", type=int, default=1)
    cp.add_argument("--faults", default="kill,pause,partition,latency,outage")
    cp.add_argument("--rate", type=float, default=4.0, help="offered submits per second")
    cp.add_argument("--recovery", type=_seconds, default=120.0, help="time allowed to recover")
    cp.add_argument(
        "--read-rate",
        type=float,
        default=50.0,
        help="read-back pace, requests/s (halved on every 429; keep under the per-user limit)",
    )
    cp.add_argument("--out", default="reports/campaign", help="report directory")
    cp.add_argument(
        "--nats-cluster",
        type=int,
        default=settings.nats_cluster,
        help="run on a local stack whose NATS is a cluster of this many nodes (started if no"
        " stack is up); enables the faults nats-node-kill, nats-node-pause, nats-partition,"
        " nats-leader-kill",
    )
    lat = sub.add_parser("latency", help="idle end-to-end latency over N commands")
    lat.add_argument("-n", type=int, default=50)
    lat.add_argument("--json", action="store_true")
    bn = sub.add_parser("bench", help="pipeline vs ceiling, gateway vs bare ASGI (local stack)")
    bn.add_argument("--commands", type=int, default=300, help="commands at saturation")
    bn.add_argument("--concurrency", type=int, default=32, help="clients at saturation")
    bn.add_argument("--rate-seconds", type=float, default=15.0, help="seconds per fixed load")
    bn.add_argument("--read-seconds", type=float, default=8.0, help="seconds per read round")
    bn.add_argument("--out", default="reports/bench", help="report directory")
    bnn = sub.add_parser(
        "bench-nats",
        help="JetStream publish/consume rates and publish latency: R1 vs R3, sync always vs"
        " default, the pipeline's message sizes (servers of its own); JSON",
    )
    bnn.add_argument("--messages", type=int, default=1000, help="messages per cell (1000)")
    bnn.add_argument("--concurrency", type=int, default=32, help="publishes in flight (32)")
    bnn.add_argument("--rounds", type=int, default=3, help="rounds, set-ups alternating (3)")
    bnn.add_argument("--out", default="reports/bench", help="report directory")
    bd = sub.add_parser(
        "bench-data", help="migration vs raw _bulk, search at 100k/1M records, backup MB/s"
    )
    bd.add_argument("--sizes", default="100000,1000000", help="record counts to search at")
    bd.add_argument("--queries", type=int, default=400, help="timed searches per size")
    bd.add_argument("--concurrency", type=int, default=4, help="searches in flight")
    bd.add_argument("--parts", default="migration,search,backup", help="which benchmarks to run")
    bd.add_argument("--out", default="reports/bench-data", help="report directory")
    streams = sub.add_parser(
        "streams", help="the stack's JetStream: check, ls, info, consumers, lag, dlq, replay, purge"
    ).add_subparsers(dest="streams", required=True)
    streamctl.add_parsers(streams)
    db = sub.add_parser("db", help="the stack's databases").add_subparsers(dest="db", required=True)
    env = db.add_parser(
        "env", help="export lines for a service's own tools (e.g. altlas-archive) on this stack"
    )
    env.add_argument("service", nargs="?", default="archive", choices=("archive",))
    slow = db.add_parser("slow-queries", help="the statements that took longest, per database")
    slow.add_argument("--top", type=int, default=15, help="how many to show (15)")
    slow.add_argument("--database", help="only this database (gateway, runner, archive, …)")
    slow.add_argument("--json", action="store_true", help="every statement found, as JSON")
    bk = db.add_parser(
        "backup", help="a verified base backup into the object store, then retention"
    )
    bk.add_argument("--json", action="store_true")
    bks = db.add_parser("backups", help="the stored backups and the WAL archive's state")
    bks.add_argument("--json", action="store_true")
    vf = db.add_parser(
        "verify", help="download a backup and check it as a restore would (exit 1: refused)"
    )
    vf.add_argument("backup", nargs="?", help="its id (the newest by default)")
    rst = db.add_parser(
        "restore",
        help="point-in-time restore into a new data directory, then the stack switches to it",
    )
    rst.add_argument(
        "--to", required=True, help="`latest`, or an RFC 3339 instant (2026-12-01T14:30:05Z)"
    )
    rst.add_argument("--backup", help="restore from this backup (default: the newest that can)")
    rst.add_argument(
        "--drill",
        action="store_true",
        help="restore beside the stack on a port of its own, report, remove it; the stack is"
        " untouched",
    )
    rst.add_argument("--json", action="store_true")
    atk = sub.add_parser(
        "attack",
        help="the attack corpus against the gateway: forged tokens, other users' data, smuggled"
        " headers, floods; exit 1 unless every case is refused as documented",
    )
    atk.add_argument("--case", action="append", help="run only this case (repeatable)")
    atk.add_argument("--json", action="store_true")
    trc = sub.add_parser(
        "trace", help="one command's trace across the four services: its spans as a tree"
    )
    trc.add_argument("command_id")
    trc.add_argument("--json", action="store_true")
    rep = sub.add_parser("report", help="reports read from a running deployment").add_subparsers(
        dest="report", required=True
    )
    use = rep.add_parser(
        "api-usage",
        help="requests, errors and latency percentiles per caller (user, API key) and route,"
        " from the gateway's metrics over a window",
    )
    use.add_argument("--window", default="60s", help="how long to watch: 30s, 5m, 1h (60s)")
    use.add_argument(
        "--since-start",
        action="store_true",
        help="report the counters as they are (since the gateway started), without waiting",
    )
    use.add_argument(
        "--metrics-url",
        action="append",
        help="a gateway's /metrics (repeat for each replica; default: the stack's gateway)",
    )
    use.add_argument("--top", type=int, default=30, help="rows to print (30)")
    use.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # asyncio warns on every TLS connection a NATS server closes (nats-py returns true from
    # eof_received, which TLS ignores): noise, not a fault.
    logging.getLogger("asyncio").addFilter(
        lambda r: "eof_received() has no effect when using ssl" not in r.getMessage()
    )
    try:
        if args.cmd == "up":
            if args.nats_cluster != settings.nats_cluster:
                settings = _with_cluster(settings, args.nats_cluster)
            return asyncio.run(_up(settings, args.target))
        if args.cmd == "status":
            return asyncio.run(_status(settings, args.json))
        if args.cmd == "logs":
            return _logs(settings, args.service, args.lines, args.follow)
        if args.cmd == "restart":
            asyncio.run(_restart(settings, args.name))
            return 0
        if args.cmd == "campaign":
            if args.nats_cluster != settings.nats_cluster:
                settings = _with_cluster(settings, args.nats_cluster)
            return asyncio.run(_campaign(settings, args))
        if args.cmd == "bench":
            return asyncio.run(_bench(settings, args))
        if args.cmd == "bench-nats":
            return asyncio.run(_bench_nats(settings, args))
        if args.cmd == "bench-data":
            return asyncio.run(_bench_data(settings, args))
        if args.cmd == "latency":
            return asyncio.run(_latency(settings, args.n, args.json))
        if args.cmd == "trace":
            return _trace(settings, args)
        if args.cmd == "report":
            return asyncio.run(_api_usage(settings, args))
        if args.cmd == "attack":
            return asyncio.run(_attack(settings, args))
        if args.cmd == "streams":
            return asyncio.run(streamctl.run(settings, args))
        if args.cmd == "db" and args.db == "slow-queries":
            return asyncio.run(_slow_queries(settings, args))
        db_commands = {
            "backup": _backup,
            "backups": _backups,
            "verify": _verify,
            "restore": _restore,
        }
        if args.cmd == "db" and args.db in db_commands:
            return asyncio.run(db_commands[args.db](settings, args))
        if args.cmd == "db":
            return _db_env(settings, args.service)
        return asyncio.run(_down(settings))
    except HarnessError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
