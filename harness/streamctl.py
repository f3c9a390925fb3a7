"""`harness streams …`: run a deployment's JetStream (harness.probes.jetstream does the talking).

Every command reads the NATS endpoint of the stack state (`HARNESS_NATS_URL` for any other
deployment), prints a table, or JSON with `--json`, and exits 0 on success, 1 when it finds
what it checks for (drift, an audit anomaly), 2 on a usage or connection error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import schemas
from harness.checkers.topology import REPLAY_OF, diff_topology
from harness.errors import HarnessError
from harness.instants import parse_instant
from harness.probes import jetstream
from harness.settings import HarnessSettings
from harness.stack.state import load_state, nats_access_of

__all__ = ["add_parsers", "run"]

EVENTS = "ALTLAS"
CLUSTERED_TARGETS = ("k8s-local", "kind")


def add_parsers(sub: Any) -> None:
    """The `streams` subcommands, on argparse's subparsers object `sub`."""
    audit = sub.add_parser(
        "audit",
        help="what the events stream stored: each event once, with its Nats-Msg-Id, valid;"
        " dead letters within max_deliver (exit 1 on an anomaly)",
    )
    window = audit.add_mutually_exclusive_group()
    window.add_argument("--since", help="only messages stored from this RFC 3339 instant")
    window.add_argument("--minutes", type=float, help="only the last N minutes")
    audit.add_argument("--json", action="store_true")
    check = sub.add_parser(
        "check",
        help="the deployed streams and durables against the declared topology"
        " (topology.json): exit 1 on drift",
    )
    check.add_argument(
        "--replicas",
        type=int,
        help="replicas the replicated streams must have (default: what the stack state"
        " records, else 1)",
    )
    check.add_argument("--json", action="store_true")
    ls = sub.add_parser("ls", help="every stream: subjects, messages, bytes, replicas, limits")
    ls.add_argument("--json", action="store_true")
    info = sub.add_parser("info", help="one stream: its config, state and cluster")
    info.add_argument("name")
    info.add_argument("--json", action="store_true")
    cons = sub.add_parser("consumers", help="the consumers of a stream and their state")
    cons.add_argument("stream", nargs="?", default=EVENTS)
    cons.add_argument("--json", action="store_true")
    lag = sub.add_parser(
        "lag", help="each durable's backlog: not yet delivered, delivered and not yet acked"
    )
    lag.add_argument("--json", action="store_true")
    dlq = sub.add_parser(
        "dlq", help="dead letters (list), or send them back to their consumer (redrive)"
    )
    dlq.add_argument("action", nargs="?", choices=("list", "redrive"), default="list")
    dlq.add_argument("--since", help="only dead letters stored from this RFC 3339 instant")
    dlq.add_argument("--consumer", help="only this consumer's dead letters")
    dlq.add_argument("--json", action="store_true")
    rp = sub.add_parser(
        "replay",
        help="run stored messages through a service's handler again, via a consumer of their"
        " own (idempotent handlers: no effect is duplicated)",
    )
    start = rp.add_mutually_exclusive_group(required=True)
    start.add_argument("--from-seq", type=int, help="from this stream sequence")
    start.add_argument("--since", help="from messages stored at this RFC 3339 instant")
    rp.add_argument("--subject", required=True, help="only messages on this subject")
    rp.add_argument("--to-consumer", required=True, help="a new consumer name for the replay")
    rp.add_argument(
        "--handler",
        help="the durable whose handler runs them (default: the one declared consumer whose"
        " filter covers --subject)",
    )
    rp.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (300)")
    rp.add_argument("--keep", action="store_true", help="leave the replay consumer in place")
    rp.add_argument("--json", action="store_true")
    pg = sub.add_parser("purge", help="delete a stream's messages (all, or one subject's)")
    pg.add_argument("name")
    pg.add_argument("--subject", help="only messages on this subject")
    pg.add_argument("--keep", type=int, help="keep the newest N")
    pg.add_argument("--yes", action="store_true", help="required: purging cannot be undone")


async def run(settings: HarnessSettings, args: argparse.Namespace) -> int:
    if args.streams == "audit":
        return await _audit(settings, args)
    async with jetstream.connect(nats_access_of(settings)) as admin:
        commands = {
            "check": _check,
            "ls": _ls,
            "info": _info,
            "consumers": _consumers,
            "lag": _lag,
            "dlq": _dlq,
            "replay": _replay,
            "purge": _purge,
        }
        return await commands[args.streams](admin, settings, args)


def _print(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> None:
    cells = [[str(c) for c in head]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _size(n: int) -> str:
    if n < 0:
        return "∞"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def _age(nanos: int) -> str:
    if nanos <= 0:
        return "∞"
    seconds = nanos / 1e9
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


async def _audit(settings: HarnessSettings, args: argparse.Namespace) -> int:
    from harness.probes.streams import broker_report

    since = None
    if args.since:
        since = parse_instant(args.since, "--since")
    elif args.minutes is not None:
        if args.minutes <= 0:
            raise HarnessError(f"--minutes must be positive, not {args.minutes}")
        since = datetime.now(UTC) - timedelta(minutes=args.minutes)
    report = await broker_report(nats_access_of(settings), since)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(report)
    return 0 if report.valid else 1


def _expected_replicas(settings: HarnessSettings, given: int | None) -> int:
    if given is not None:
        if given < 1:
            raise HarnessError(f"--replicas must be at least 1, not {given}")
        return given
    if settings.nats_url:
        return 1  # a deployment the harness did not start: say otherwise with --replicas
    state = load_state(settings)
    # The Kubernetes targets run a three-node NATS cluster (deploy/kubernetes/base/nats.yaml);
    # a local stack, its nodes (harness up --nats-cluster 3), or one server.
    if state.target in CLUSTERED_TARGETS:
        return 3
    return sum(1 for n in state.processes if n.startswith("nats-")) or 1


async def _check(
    admin: jetstream.JetStreamAdmin, settings: HarnessSettings, args: argparse.Namespace
) -> int:
    declared = schemas.topology()
    replicas = _expected_replicas(settings, args.replicas)
    streams: dict[str, dict[str, Any] | None] = {}
    consumers: dict[str, dict[str, dict[str, Any]]] = {}
    for name in declared["streams"]:
        info = await admin.stream_info(name)
        streams[name] = None if info is None else info["config"]
        if info is not None:
            consumers[name] = {c["name"]: c["config"] for c in await admin.consumers(name)}
    drifts = diff_topology(declared, streams, consumers, replicas=replicas)
    checked = len(declared["streams"]) + len(declared["consumers"])
    if args.json:
        print(
            json.dumps(
                {
                    "replicas": replicas,
                    "checked": checked,
                    "drift": [d.to_json() for d in drifts],
                },
                indent=2,
            )
        )
    elif drifts:
        print(f"topology drift ({len(drifts)}), replicas expected {replicas}:")
        for d in drifts:
            print(f"  {d}")
    else:
        print(
            f"topology as declared: {len(declared['streams'])} streams,"
            f" {len(declared['consumers'])} durables, replicas {replicas}"
        )
    return 1 if drifts else 0


def _stream_row(info: dict[str, Any]) -> list[Any]:
    config, state = info["config"], info.get("state", {})
    cluster = info.get("cluster") or {}
    return [
        config["name"],
        ",".join(config.get("subjects") or []),
        state.get("messages", 0),
        _size(int(state.get("bytes", 0))),
        f"{config.get('num_replicas', 1)}"
        + (f" ({cluster['leader']})" if "leader" in cluster else ""),
        _size(int(config.get("max_bytes", -1))),
        _age(int(config.get("max_age", 0))),
        config.get("discard", "old"),
    ]


async def _ls(
    admin: jetstream.JetStreamAdmin, settings: HarnessSettings, args: argparse.Namespace
) -> int:
    infos = [i for n in await admin.stream_names() if (i := await admin.stream_info(n))]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    _print(
        [_stream_row(i) for i in infos],
        ["stream", "subjects", "messages", "bytes", "replicas", "max bytes", "max age", "discard"],
    )
    return 0


async def _info(
    admin: jetstream.JetStreamAdmin, settings: HarnessSettings, args: argparse.Namespace
) -> int:
    info = await admin.require_stream(args.name)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    config, state = info["config"], info.get("state", {})
    cluster = info.get("cluster") or {}
    rows = [
        ("subjects", ", ".join(config.get("subjects") or [])),
        ("storage", config.get("storage")),
        ("retention", config.get("retention")),
        ("replicas", config.get("num_replicas", 1)),
        ("max age", _age(int(config.get("max_age", 0)))),
        ("max bytes", _size(int(config.get("max_bytes", -1)))),
        ("max msgs per subject", config.get("max_msgs_per_subject", -1)),
        ("discard", config.get("discard")),
        ("duplicate window", _age(int(config.get("duplicate_window", 0)))),
        ("messages", state.get("messages", 0)),
        ("bytes", _size(int(state.get("bytes", 0)))),
        ("sequences", f"{state.get('first_seq', 0)}…{state.get('last_seq', 0)}"),
        ("subjects stored", state.get("num_subjects", "?")),
        ("consumers", state.get("consumer_count", 0)),
    ]
    if cluster:
        peers = ", ".join(
            f"{r['name']}{'' if r.get('current') else ' (behind)'}"
            for r in cluster.get("replicas") or []
        )
        rows += [("leader", cluster.get("leader", "none")), ("followers", peers or "none")]
    _print(rows, ["stream " + config["name"], ""])
    return 0


def _consumer_row(info: dict[str, Any]) -> list[Any]:
    config = info["config"]
    filters = config.get("filter_subjects") or [config.get("filter_subject") or ">"]
    meta = config.get("metadata") or {}
    kind = (
        f"replay of {meta[REPLAY_OF]}"
        if REPLAY_OF in meta
        else ("durable" if config.get("durable_name") else "ephemeral")
    )
    return [
        info["name"],
        kind,
        ",".join(filters),
        info.get("num_pending", 0),
        info.get("num_ack_pending", 0),
        info.get("num_redelivered", 0),
        info.get("num_waiting", 0),
        info.get("ack_floor", {}).get("stream_seq", 0),
        config.get("max_deliver", -1),
    ]


async def _consumers(
    admin: jetstream.JetStreamAdmin, settings: HarnessSettings, args: argparse.Namespace
) -> int:
    await admin.require_stream(args.stream)
    infos = await admin.consumers(args.stream)
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    _print(
        [_consumer_row(i) for i in infos],
        [
            "consumer",
            "kind",
            "filter",
            "pending",
            "ack pending",
            "redelivered",
            "waiting",
            "acked to",
            "max deliver",
        ],
    )
    return 0


async def _lag(
    admin: jetstream.JetStreamAdmin, settings: HarnessSettings, args: argparse.Namespace
) -> int:
    rows = []
    for stream in await admin.stream_names():
        info = await admin.stream_info(stream)
        last = int((info or {}).get("state", {}).get("last_seq", 0))
        for c in await admin.consumers(stream):
            if not c["config"].get("durable_name"):
                continue
            rows.append(
                {
                    "stream": stream,
                    "consumer": c["name"],
                    "pending": int(c.get("num_pending", 0)),
                    "ack_pending": int(c.get("num_ack_pending", 0)),
                    "redelivered": int(c.get("num_redelivered", 0)),
                    "acked_to": int(c.get("ack_floor", {}).get("stream_seq", 0)),
                    "stream_last_seq": last,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    _print(
        [
            [
                r["stream"],
                r["consumer"],
                r["pending"],
                r["ack_pending"],
                r["redelivered"],
                f"{r['acked_to']}/{r['stream_last_seq']}",
            ]
            for r in rows
        ],
        ["stream", "consumer", "not delivered", "not acked", "redelivered", "acked to / last"],
    )
    return 0


async def _dlq(
    admin: jetstream.JetStreamAdmin, settings: HarnessSettings, args: argparse.Namespace
) -> int:
    since = parse_instant(args.since, "--since") if args.since else None
    letters = await admin.dead_letters(since, args.consumer)
    if args.action == "list":
        if args.json:
            print(json.dumps([d.to_json() for d in letters], indent=2, ensure_ascii=False))
            return 0
        if not letters:
            print("no dead letters" + (f" of {args.consumer}" if args.consumer else ""))
            return 0
        _print(
            [
                [d.seq, d.stored_at[:19], d.consumer, d.subject, d.deliveries, d.reason[:80]]
                for d in letters
            ],
            ["seq", "stored", "consumer", "subject", "deliveries", "reason"],
        )
        return 0
    declared = schemas.topology()["consumers"]
    redrivable = {c.get("handler_of") for c in declared.values()} - {None}
    sent, skipped = [], []
    for d in letters:
        if d.consumer not in redrivable:
            skipped.append((d, f"no redrive consumer is declared for {d.consumer!r}"))
            continue
        if not d.payload:
            skipped.append((d, "the record holds no payload"))
            continue
        ack = await admin.publish(
            f"altlas.redrive.{d.consumer}", d.payload.encode(), msg_id=f"redrive-{d.seq}"
        )
        await admin.delete_message(jetstream.DLQ_STREAM, d.seq)
        sent.append((d, bool(ack.get("duplicate"))))
    if args.json:
        print(
            json.dumps(
                {
                    "redriven": [{**d.to_json(), "duplicate": dup} for d, dup in sent],
                    "skipped": [{**d.to_json(), "why": why} for d, why in skipped],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for d, dup in sent:
            note = " (already redriven: the server kept one)" if dup else ""
            print(f"redriven dead letter {d.seq} to {d.consumer}{note}")
        for d, why in skipped:
            print(f"skipped dead letter {d.seq}: {why}", file=sys.stderr)
        print(f"{len(sent)} redriven, {len(skipped)} skipped")
    return 1 if skipped else 0


def _replay_handler(subject: str, given: str | None) -> dict[str, Any]:
    declared = schemas.topology()["consumers"]
    main = {n: c for n, c in declared.items() if c.get("stream") == EVENTS}
    if given is not None:
        spec = main.get(given)
        if spec is None:
            raise HarnessError(
                f"--handler {given!r} is not a declared consumer of {EVENTS}"
                f" ({', '.join(sorted(main))})"
            )
        if not any(jetstream.covers(f, subject) for f in spec["filter_subjects"]):
            raise HarnessError(
                f"{given}'s handler reads {', '.join(spec['filter_subjects'])}, not {subject}"
            )
        return {"durable": given, **spec}
    found = [
        (n, c)
        for n, c in main.items()
        if any(jetstream.covers(f, subject) for f in c["filter_subjects"])
    ]
    if not found:
        raise HarnessError(f"no declared consumer reads {subject}: nothing can handle a replay")
    if len(found) > 1:
        raise HarnessError(
            f"{subject} is read by {', '.join(n for n, _ in found)}: say which with --handler"
        )
    name, spec = found[0]
    return {"durable": name, **spec}


async def _replay(
    admin: jetstream.JetStreamAdmin, settings: HarnessSettings, args: argparse.Namespace
) -> int:
    handler = _replay_handler(args.subject, args.handler)
    declared = schemas.topology()["consumers"]
    if args.to_consumer in declared:
        raise HarnessError(f"{args.to_consumer!r} is a declared consumer: pick a new name")
    if args.from_seq is not None and args.from_seq < 1:
        raise HarnessError(f"--from-seq must be at least 1, not {args.from_seq}")
    since = parse_instant(args.since, "--since") if args.since else None
    to_seq = await admin.create_replay(
        EVENTS,
        args.to_consumer,
        of=handler["durable"],
        subject=args.subject,
        from_seq=args.from_seq,
        since=since,
        max_deliver=int(handler["max_deliver"]),
        ack_wait_s=float(handler["ack_wait_s"]),
    )
    print(
        f"replaying {args.subject} up to seq {to_seq} through {handler['durable']}'s handler"
        f" (read as {args.to_consumer}, sent to altlas.redrive.{handler['durable']})…",
        file=sys.stderr,
    )
    last: list[tuple[int, int]] = [(-1, -1)]

    def _progress(p: jetstream.ReplayProgress) -> None:
        if (p.sent, p.handler_pending) != last[0]:
            last[0] = (p.sent, p.handler_pending)
            print(
                f"  read to seq {p.read_to} of {p.to_seq}, sent {p.sent},"
                f" {p.handler_pending} waiting for the handler",
                file=sys.stderr,
            )

    started = datetime.now(UTC)
    try:
        state = await admin.run_replay(
            EVENTS,
            args.to_consumer,
            to_seq,
            handler=handler["durable"],
            timeout_s=args.timeout,
            progress=_progress,
        )
    finally:
        if not args.keep:
            await admin.delete_consumer(EVENTS, args.to_consumer)
    seconds = (datetime.now(UTC) - started).total_seconds()
    letters = [
        d
        for d in await admin.dead_letters(started, handler["durable"])
        if d.via == f"{handler['durable']}-redrive"
    ]
    result = {
        "consumer": args.to_consumer,
        "handler": handler["durable"],
        "subject": args.subject,
        "to_seq": to_seq,
        "delivered": state.sent,
        "seconds": round(seconds, 2),
        "dead_lettered": len(letters),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"replayed {state.sent} messages of {args.subject} through"
            f" {handler['durable']}'s handler in {seconds:.1f} s;"
            f" {len(letters)} dead-lettered"
        )
    return 1 if letters else 0


async def _purge(
    admin: jetstream.JetStreamAdmin, settings: HarnessSettings, args: argparse.Namespace
) -> int:
    info = await admin.require_stream(args.name)
    if not args.yes:
        what = f"messages on {args.subject}" if args.subject else "every message"
        raise HarnessError(
            f"purge deletes {what} of {args.name} ({info.get('state', {}).get('messages', 0)}"
            " stored) and cannot be undone: add --yes"
        )
    if args.keep is not None and args.keep < 0:
        raise HarnessError(f"--keep must be 0 or more, not {args.keep}")
    purged = await admin.purge(args.name, subject=args.subject, keep=args.keep)
    print(f"purged {purged} messages from {args.name}")
    return 0
