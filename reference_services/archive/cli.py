"""`altlas-archive`: the archive service and its index tools.

    altlas-archive [serve]                 run the service (what `python -m` does without args)
    altlas-archive index status [--json]   the index family: aliases, indices, design drift
    altlas-archive lifecycle run [...]     one lifecycle pass: rollover if due, retention
    altlas-archive migrate run [...]       PostgreSQL → a new index version, then swap (migrate.py)
    altlas-archive migrate verify [...]    PostgreSQL vs the index: every document (verify.py)
    altlas-archive migrate rollback        the aliases back on the indices before the last swap
    altlas-archive migrate cleanup         delete old versions no alias or rollback needs

Settings come from the service's environment (ALTLAS_DATABASE_URL, ALTLAS_OPENSEARCH_URL,
ALTLAS_INDEX_PREFIX, ...), so a tool run beside a replica sees what the replica sees.
Exit codes: 0 done, 1 failed or differences found (the reason on stderr), 2 bad usage or
settings, 3 migrated but some rows were rejected (the reject file lists them, with reasons).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reference_services.archive.search import lifecycle, migrate, verify
from reference_services.archive.search.index import SearchIndex
from reference_services.archive.settings import ArchiveSettings
from reference_services.common.db import Database
from reference_services.common.errors import ServiceError, TransientError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTS = 0, 1, 2, 3
# A tool is run by a person or a Job: an unreachable database is an answer after 10 s, not 60.
CONNECT_TIMEOUT_S = 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="altlas-archive", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the archive service")
    index = sub.add_parser("index", help="the OpenSearch index family").add_subparsers(
        dest="action", required=True
    )
    status = index.add_parser("status", help="aliases, indices, documents, design drift")
    status.add_argument("--json", action="store_true", help="print JSON")
    life = sub.add_parser("lifecycle", help="index lifecycle").add_subparsers(
        dest="action", required=True
    )
    run = life.add_parser("run", help="one pass: roll over if a threshold is reached, retention")
    run.add_argument("--max-docs", type=int, help="roll over at this many documents")
    run.add_argument("--max-size", help="roll over at this primary store size (e.g. 5gb)")
    run.add_argument("--max-age", help="roll over when the write index is this old (e.g. 30d)")
    run.add_argument("--retention", help="delete indices whose newest record is older (e.g. 365d)")
    run.add_argument("--json", action="store_true", help="print JSON")
    mig = sub.add_parser("migrate", help="zero-downtime migration to a new index version")
    mig_sub = mig.add_subparsers(dest="action", required=True)
    go = mig_sub.add_parser("run", help="backfill, catch up, swap, verify (resumes a killed run)")
    go.add_argument("--batch-size", type=int, default=500, help="documents per _bulk (500)")
    go.add_argument("--concurrency", type=int, default=2, help="_bulk requests in flight (2)")
    go.add_argument("--max-rate", type=float, help="documents per second at most")
    go.add_argument(
        "--retries", type=int, default=8, help="tries of a _bulk OpenSearch refuses for now (8)"
    )
    go.add_argument("--dry-run", action="store_true", help="plan and check rows, write nothing")
    go.add_argument("--force", action="store_true", help="a new version even if up to date")
    go.add_argument(
        "--reject-file",
        type=Path,
        default=Path("reports/migrate/rejects.jsonl"),
        help="where refused rows go, with the reason (JSON lines)",
    )
    go.add_argument("--no-progress", action="store_true", help="no progress (bar or lines)")
    go.add_argument("--no-verify", action="store_true", help="skip the verification at the end")
    go.add_argument("--json", action="store_true", help="print the outcome as JSON")
    check = mig_sub.add_parser("verify", help="compare PostgreSQL with the index; report")
    check.add_argument("--index", help="one index instead of the read alias")
    check.add_argument("--sample", type=int, default=200, help="rows compared field by field")
    check.add_argument("--settle", type=float, default=10.0, help="seconds to re-read changes")
    check.add_argument("--report-dir", type=Path, default=Path("reports/migrate"))
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    back = mig_sub.add_parser("rollback", help="aliases back to the indices before the last swap")
    back.add_argument("--json", action="store_true", help="print JSON")
    clean = mig_sub.add_parser("cleanup", help="delete old versions no alias or rollback needs")
    clean.add_argument("--keep", type=int, default=1, help="rollbacks to keep possible (1)")
    clean.add_argument("--json", action="store_true", help="print JSON")
    return parser


async def _with_index(
    settings: ArchiveSettings, work: Callable[[SearchIndex, Database], Awaitable[int]]
) -> int:
    index = SearchIndex(
        settings.opensearch_url,
        settings.index_prefix,
        settings.opensearch_timeout_s,
        replicas=settings.index_replicas,
    )
    db = Database(settings)
    try:
        await db.connect(timeout_s=CONNECT_TIMEOUT_S)
        return await work(index, db)
    finally:
        await db.close()
        await index.close()


async def _status(settings: ArchiveSettings, as_json: bool) -> int:
    async def work(index: SearchIndex, db: Database) -> int:
        await index.prepare()
        indices = await index.counts()
        rows = await db.pool.fetch(
            "SELECT index_name, count(*) AS n,"
            " count(*) FILTER (WHERE indexed_version < version"
            "   AND rejected_version IS DISTINCT FROM version) AS behind,"
            " count(*) FILTER (WHERE rejected_version = version) AS refused"
            " FROM atlas GROUP BY index_name"
        )
        placements = {str(r["index_name"]): int(r["n"]) for r in rows}
        behind = sum(int(r["behind"]) for r in rows)
        refused = sum(int(r["refused"]) for r in rows)
        drift = sorted(n for n, i in indices.items() if i["design"] != index.design.digest)
        report: dict[str, Any] = {
            "read_alias": index.names.read,
            "write_alias": index.names.write,
            "design": index.design.digest,
            "indices": indices,
            "rows": sum(placements.values()),
            "rows_behind": behind,
            "rows_refused": refused,
            "placements": placements,
            "behind_design": drift,
        }
        if as_json:
            print(json.dumps(report, indent=2))
            return EXIT_OK
        print(f"read alias {index.names.read}, write alias {index.names.write}")
        for name, info in indices.items():
            mark = "  (write)" if info["write"] else ""
            stale = "" if info["design"] == index.design.digest else "  design differs"
            print(f"  {name}: {info['docs']} docs, {info['bytes']} bytes{mark}{stale}")
        print(
            f"PostgreSQL: {report['rows']} records, {behind} waiting to be indexed,"
            f" {refused} refused by OpenSearch (a mapping error; see the archive's log)"
        )
        if drift:
            print(
                f"{len(drift)} index(es) built from an older design than "
                "reference_services/schemas/search/ (a new version takes it: migrate)"
            )
        return EXIT_OK

    return await _with_index(settings, work)


async def _lifecycle(settings: ArchiveSettings, args: argparse.Namespace) -> int:
    def first(given: Any, configured: Any) -> Any:
        return configured if given is None else given

    policy = lifecycle.Policy.defaults().override(
        max_docs=first(args.max_docs, settings.rollover_max_docs),
        max_size=first(args.max_size, settings.rollover_max_size),
        max_age=first(args.max_age, settings.rollover_max_age),
        retention=first(args.retention, settings.retention),
    )

    async def work(index: SearchIndex, db: Database) -> int:
        done = await lifecycle.run_once(index, db, policy)
        if args.json:
            print(json.dumps(done.to_json(), indent=2))
        else:
            rolled = done.rolled_over
            print(f"rolled over {rolled[0]} → {rolled[1]}" if rolled else "no rollover due")
            for name in done.deleted:
                print(f"deleted {name} (past retention {policy.retention})")
        return EXIT_OK

    return await _with_index(settings, work)


async def _verify(
    index: SearchIndex, db: Database, args: argparse.Namespace, *, scope: str | None = None
) -> int:
    report = await verify.verify(
        db, index, scope=scope or getattr(args, "index", None),
        sample=getattr(args, "sample", 200), settle_s=getattr(args, "settle", 10.0),
    )  # fmt: skip
    written = verify.write(report, getattr(args, "report_dir", Path("reports/migrate")))
    if getattr(args, "json", False) and args.action == "verify":
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    print(
        f"verify {report.scope}: {report.rows} rows, {report.documents} documents;"
        f" {len(report.missing)} missing, {len(report.extra)} extra,"
        f" {len(report.mismatched)} differ, {len(report.duplicated)} held twice,"
        f" {len(report.counts['differences'])} count differences,"
        f" {len(report.sample['differences'])} of {report.sample['size']} sampled differ;"
        f" {len(report.rejected)} known rejects; report {written['html']}",
        file=sys.stderr if getattr(args, "json", False) else sys.stdout,
    )
    if report.differences:
        return EXIT_FAILED
    return EXIT_REJECTS if report.rejected else EXIT_OK


async def _migrate(settings: ArchiveSettings, args: argparse.Namespace) -> int:
    if args.action == "run":  # options are checked before anything is connected
        migrate.Options(
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            max_rate=args.max_rate,
            retries=args.retries,
        ).checked()
    if args.action == "cleanup" and args.keep < 0:
        raise migrate.BadOption(f"--keep must be 0 or more, not {args.keep}")

    async def work(index: SearchIndex, db: Database) -> int:
        if args.action == "verify":
            return await _verify(index, db, args)
        out = sys.stderr if args.json else sys.stdout
        if args.action == "rollback":
            result = await migrate.Migration(db, index, migrate.Options(), out).rollback()
            if args.json:
                print(json.dumps(result, indent=2))
            return EXIT_OK
        if args.action == "cleanup":
            deleted = await migrate.Migration(db, index, migrate.Options(), out).cleanup(args.keep)
            if args.json:
                print(json.dumps({"deleted": deleted}, indent=2))
            elif not deleted:
                print("nothing to delete")
            return EXIT_OK
        options = migrate.Options(
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            max_rate=args.max_rate,
            retries=args.retries,
            dry_run=args.dry_run,
            force=args.force,
            reject_file=args.reject_file,
            progress="off" if args.no_progress else "bar" if out.isatty() else "lines",
        )
        outcome = await migrate.Migration(db, index, options, out).run()
        if args.json:
            print(json.dumps(outcome.to_json(), indent=2, default=str))
        if outcome.state in ("up-to-date", "planned") or args.no_verify:
            return EXIT_REJECTS if outcome.rejected else EXIT_OK
        checked = await _verify(index, db, args)
        if checked == EXIT_FAILED:
            return EXIT_FAILED
        return EXIT_REJECTS if outcome.rejected or checked == EXIT_REJECTS else EXIT_OK

    return await _with_index(settings, work)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in (None, "serve"):
        from reference_services.archive.__main__ import serve_forever

        serve_forever()
        return EXIT_OK
    try:
        settings = ArchiveSettings()
    except ValidationError as exc:
        print(f"altlas-archive: settings: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "index":
            return asyncio.run(_status(settings, args.json))
        if args.command == "migrate":
            return asyncio.run(_migrate(settings, args))
        return asyncio.run(_lifecycle(settings, args))
    except ValueError as exc:  # DesignError, BadOption: bad input
        print(f"altlas-archive: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (TransientError, ServiceError, OSError) as exc:
        print(f"altlas-archive: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
