"""Base backups, verification and point-in-time restore of the local stack's PostgreSQL.

A base backup is `pg_basebackup` (plain format, WAL streamed in, a manifest with a SHA-256 per
file), checked with `pg_verifybackup` before it is stored, tarred and uploaded; WAL reaches the
store continuously through PostgreSQL's archive_command (barman-cloud-wal-archive). A restore
downloads a backup, checks the tar's SHA-256 and runs `pg_verifybackup` again — a backup that
fails either is refused, never started — then lets PostgreSQL replay archived WAL
(barman-cloud-wal-restore) up to the target instant and promote. `switch` puts the restored
directory under the stack's PostgreSQL (same port, same settings); a *drill* restores beside
it on a port of its own, without archiving, to be inspected and thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import shlex
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from harness.backup.catalog import (
    BASE,
    WALS,
    BackupInfo,
    BackupRefused,
    Catalog,
    Timelines,
    backup_id,
    choose,
    to_prune,
    wal_gaps,
)
from harness.errors import HarnessError
from harness.infra._process import (
    ManagedProcess,
    ProcessRecord,
    free_port,
    hand_over,
    pid_alive,
    run_command,
)
from harness.infra.objectstore import S3Location
from harness.infra.postgres import (
    WalArchiving,
    clear_stale_lock,
    fast_shutdown,
    pg_bindir,
    pgtools_bindir,
)
from harness.instants import parse_instant
from harness.settings import HarnessSettings
from harness.stack.state import StackState, load_state

Progress = Callable[[str], None]
SEGMENT_NAME = re.compile(r"^[0-9A-F]{24}$")
LABEL_WAL = re.compile(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$", re.M)


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Server:
    """The stack's PostgreSQL as the backup commands need it."""

    state: StackState
    record: ProcessRecord
    url: str
    location: S3Location

    @property
    def state_dir(self) -> Path:
        return Path(self.state.state_dir or ".harness")

    @property
    def data_dir(self) -> Path:
        return Path(self.record.argv[self.record.argv.index("-D") + 1])

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 5432)

    def connection(self) -> tuple[list[str], dict[str, str]]:
        """pg_basebackup's connection options and the environment carrying the password."""
        parts = urlsplit(self.url)
        options = ["-h", parts.hostname or "127.0.0.1", "-p", str(self.port)]
        options += ["-U", parts.username or "postgres", "--no-password"]
        return options, {"PGPASSWORD": parts.password or ""}


def server(settings: HarnessSettings) -> Server:
    """The running stack's PostgreSQL and object store, or a clear error saying why not."""
    state = load_state(settings)
    if state.target != "local":
        raise HarnessError(
            f"backups are managed on the local stack only, not on the {state.target!r} target"
            " (a deployment's own backup tooling applies there)"
        )
    store = state.credentials.get("objectstore")
    record = state.processes.get("postgres")
    if store is None or record is None or "postgres" not in state.endpoints:
        why = next((n for n in state.notes if n.startswith("backups off")), "backups off")
        raise HarnessError(f"this stack runs without backups ({why})")
    return Server(state, record, state.endpoints["postgres"], S3Location.from_json(store))


async def _fetch(url: str, sql: str, timeout_s: float = 10) -> Any:
    conn = await asyncpg.connect(url, timeout=timeout_s)
    try:
        return await conn.fetchrow(sql)
    finally:
        await conn.close()


async def flush_archive(url: str, stall_s: float = 60, progress: Progress = _quiet) -> str:
    """Switch to a new WAL segment and wait until the one just closed is in the store: every
    commit made before this call is then restorable. Returns that segment's name.

    Archiving may lag far behind a bulk load (each segment is one barman-cloud run), so this
    waits as long as segments keep reaching the store, and fails only when none has for
    `stall_s` seconds.
    """
    # A commit record first: a restore to an instant after the last real commit needs one
    # stamped later than that instant to know it got there (else "recovery ended before
    # configured recovery target was reached"). An xid of its own is enough to write one.
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await _flush(conn, stall_s, progress)
    finally:
        await conn.close()


async def _flush(conn: asyncpg.Connection, stall_s: float, progress: Progress) -> str:
    await conn.fetchval("SELECT pg_current_xact_id()")
    wal = str(await conn.fetchval("SELECT pg_walfile_name(pg_switch_wal())"))
    seen, moved_at, said = None, time.monotonic(), 0.0
    while True:
        last = await conn.fetchrow(
            "SELECT last_archived_wal AS wal, (SELECT count(*) FROM pg_ls_archive_statusdir()"
            " WHERE name LIKE '%.ready') AS waiting FROM pg_stat_archiver"
        )
        if last is None:  # pg_stat_archiver always has its one row
            raise HarnessError("pg_stat_archiver returned nothing")
        if last["wal"] is not None and str(last["wal"])[:24] >= wal:
            return wal
        if last["wal"] != seen:
            seen, moved_at = last["wal"], time.monotonic()
        if time.monotonic() - moved_at > stall_s:
            raise HarnessError(
                f"WAL archiving made no progress for {stall_s:.0f}s ({last['waiting']} segments"
                f" waiting, the last archived {seen}) before {wal} reached the object store"
            )
        if time.monotonic() - said >= 10 and int(last["waiting"]) > 1:
            progress(f"  the archive is {last['waiting']} segments behind; waiting for {wal}…")
            said = time.monotonic()
        await asyncio.sleep(0.3)  # the archiver's pace, polled; not a readiness stand-in


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def basebackup(srv: Server, data: Path, label: str, timeout_s: float) -> None:
    """pg_basebackup of the stack's server into `data`: plain, WAL streamed in, a SHA-256
    per file in its manifest (what `harness db backup` stores, and the benchmark's baseline)."""
    options, env = srv.connection()
    await run_command(
        [
            str(pg_bindir() / "pg_basebackup"),
            *options,
            "-D",
            str(data),
            "--format=plain",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--manifest-checksums=SHA256",
            f"--label={label}",
        ],
        timeout_s=timeout_s,
        what="pg_basebackup",
        env=env,
    )


def size_of(path: Path) -> int:
    """Bytes in the files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


async def _verify_dir(data: Path, error: type[HarnessError] = BackupRefused) -> None:
    """pg_verifybackup: every file against the manifest's SHA-256, and the WAL it needs."""
    await run_command(
        [str(pg_bindir() / "pg_verifybackup"), "--quiet", str(data)],
        timeout_s=600,
        what=f"pg_verifybackup of {data}",
        error=error,
    )


@dataclass(frozen=True)
class BackupResult:
    info: BackupInfo
    pruned_backups: list[str]
    pruned_wal: int

    def to_json(self) -> dict[str, Any]:
        return {
            "backup": self.info.to_json(),
            "pruned_backups": self.pruned_backups,
            "pruned_wal": self.pruned_wal,
        }


async def take_backup(settings: HarnessSettings, progress: Progress = _quiet) -> BackupResult:
    """A verified base backup in the object store; then retention."""
    srv = server(settings)
    catalog = Catalog(srv.location)
    existing = await catalog.backups()
    now = datetime.now(UTC)
    bid = backup_id(now, [b.id for b in existing])
    work = srv.state_dir / "backups" / "work" / bid
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        data = work / "data"
        started = time.perf_counter()
        progress(f"pg_basebackup into {data}…")
        await basebackup(srv, data, f"harness {bid}", settings.backup_timeout_s)
        finished = datetime.now(UTC)
        progress("pg_verifybackup…")
        await _verify_dir(data, HarnessError)
        manifest = json.loads((data / "backup_manifest").read_text())
        wal_range = manifest["WAL-Ranges"][0]
        label = LABEL_WAL.search((data / "backup_label").read_text())
        if label is None:
            raise HarnessError(f"no START WAL LOCATION in {data / 'backup_label'}")
        tar = work / "base.tar"
        progress("tar and upload…")
        await run_command(
            ["tar", "-cf", str(tar), "-C", str(data), "."], timeout_s=600, what="tar of the backup"
        )
        info = BackupInfo(
            id=bid,
            started_at=now.isoformat(),
            finished_at=finished.isoformat(),
            timeline=int(wal_range["Timeline"]),
            start_lsn=str(wal_range["Start-LSN"]),
            end_lsn=str(wal_range["End-LSN"]),
            start_wal=label.group(1),
            data_bytes=size_of(data),
            tar_bytes=tar.stat().st_size,
            sha256=await asyncio.to_thread(_sha256, tar),
            pg_version=(data / "PG_VERSION").read_text().strip(),
            duration_s=0.0,
        )
        await catalog.upload(f"{BASE}/{bid}/base.tar", str(tar))
        info = BackupInfo(**{**asdict(info), "duration_s": round(time.perf_counter() - started, 2)})
        try:
            await catalog.put(f"{BASE}/{bid}/backup.json", json.dumps(info.to_json()).encode())
        except HarnessError:
            with contextlib.suppress(HarnessError):  # no catalog entry: no orphan tar either
                await catalog.delete([f"{BASE}/{bid}/base.tar"])
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    backups, wal_keys = await catalog.backups(), await catalog.wal_keys()
    timelines = await catalog.timelines(wal_keys)
    doomed = to_prune(backups, wal_keys, settings.backup_retention, timelines)
    await catalog.delete(doomed)
    pruned = sorted({k.split("/")[-2] for k in doomed if k.startswith(BASE)})
    return BackupResult(info, pruned, sum(1 for k in doomed if not k.startswith(BASE)))


async def delete_backup(settings: HarnessSettings, bid: str) -> None:
    catalog = Catalog(server(settings).location)
    keys = await catalog.keys(f"{BASE}/{bid}")
    if not keys:
        raise HarnessError(f"no backup {bid!r} in the object store")
    await catalog.delete(keys)


@dataclass
class Inventory:
    backups: list[BackupInfo]
    wal_segments: int
    wal_bytes: int
    wal_gaps: list[str]
    archiver: dict[str, Any]
    abandoned: list[str] = field(default_factory=list)  # backups off the current history

    def to_json(self) -> dict[str, Any]:
        return {
            "backups": [b.to_json() for b in self.backups],
            "wal_segments": self.wal_segments,
            "wal_bytes": self.wal_bytes,
            "wal_gaps": self.wal_gaps,
            "abandoned": self.abandoned,
            "archiver": self.archiver,
        }


async def inventory(settings: HarnessSettings) -> Inventory:
    """The stored backups, the archived WAL, and PostgreSQL's archiver statistics."""
    srv = server(settings)
    catalog = Catalog(srv.location)
    backups = await catalog.backups()
    wal = await catalog.objects(WALS)
    timelines = await catalog.timelines(list(wal))
    usable = [b for b in backups if timelines.holds(b)]
    row = await _fetch(
        srv.url,
        "SELECT archived_count, last_archived_wal, last_archived_time, failed_count,"
        " last_failed_wal, last_failed_time FROM pg_stat_archiver",
    )
    archiver = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(row).items()}
    gaps = wal_gaps(list(wal), [b.start_wal for b in usable])
    abandoned = [b.id for b in backups if b not in usable]
    return Inventory(backups, len(wal), sum(wal.values()), gaps, archiver, abandoned)


async def _download_verified(
    catalog: Catalog, info: BackupInfo, into: Path, progress: Progress
) -> dict[str, float]:
    """Download, check the tar's SHA-256, unpack into `into`, pg_verifybackup it; timings."""
    timings: dict[str, float] = {}
    into.mkdir(parents=True)
    tar = into.parent / f"{info.id}.tar"
    t = time.perf_counter()
    progress(f"downloading backup {info.id} ({info.tar_bytes / 1e6:.1f} MB)…")
    await catalog.download(f"{BASE}/{info.id}/base.tar", str(tar))
    timings["download_s"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        digest = await asyncio.to_thread(_sha256, tar)
        if digest != info.sha256:
            raise BackupRefused(
                f"backup {info.id} refused: its tar's SHA-256 is {digest}, the catalog says"
                f" {info.sha256} (the stored copy is damaged)"
            )
        await run_command(
            ["tar", "-xf", str(tar), "-C", str(into)], timeout_s=600, what="unpacking the backup"
        )
    finally:
        tar.unlink(missing_ok=True)
    progress("pg_verifybackup…")
    try:
        await _verify_dir(into)
    except BackupRefused as exc:
        raise BackupRefused(f"backup {info.id} refused by pg_verifybackup: {exc}") from None
    timings["verify_s"] = time.perf_counter() - t
    return timings


async def verify_backup(
    settings: HarnessSettings, bid: str | None = None, progress: Progress = _quiet
) -> BackupInfo:
    """Download a backup (the newest by default) and check it as a restore would."""
    srv = server(settings)
    catalog = Catalog(srv.location)
    info = _pick(await catalog.backups(), bid, None, None)
    work = srv.state_dir / "backups" / "verify" / info.id
    shutil.rmtree(work, ignore_errors=True)
    try:
        await _download_verified(catalog, info, work / "data", progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return info


def _pick(
    backups: list[BackupInfo],
    bid: str | None,
    target: datetime | None,
    timelines: Timelines | None,
) -> BackupInfo:
    """The backup named, or the one `choose` finds; `timelines` None: any (verification)."""
    if bid is None:
        return choose(backups, target, timelines)
    found = next((b for b in backups if b.id == bid), None)
    if found is None:
        known = ", ".join(b.id for b in backups) or "none"
        raise HarnessError(f"no backup {bid!r} in the object store; stored: {known}")
    if timelines is not None and not timelines.holds(found):
        raise HarnessError(
            f"backup {bid} (timeline {found.timeline}) is on a branch an earlier restore"
            f" abandoned: it cannot serve a restore that follows timeline {timelines.latest}"
        )
    if target is not None and found.finished > target:
        raise HarnessError(
            f"backup {bid} was completed at {found.finished_at}, after {target.isoformat()}:"
            " it cannot restore an earlier instant"
        )
    return found


def parse_target(text: str) -> datetime | None:
    """`latest` → None; otherwise an RFC 3339 instant with its offset, not in the future."""
    if text == "latest":
        return None
    when = parse_instant(text, "--to (`latest` or an instant)")
    if when > datetime.now(UTC):
        raise HarnessError(f"--to {text} is in the future")
    return when


# Set for a restore and reset once it is promoted; a backup of a restored server that still
# carried them would stop its own restore at the old target.
RECOVERY_SETTINGS = (
    "restore_command",
    "recovery_target_timeline",
    "recovery_target_action",
    "recovery_target_time",
    "recovery_target_inclusive",
    "hot_standby",
)


def _is_recovery_setting(line: str) -> bool:
    name = line.split("=", 1)[0].strip()
    return name in RECOVERY_SETTINGS or line.strip() == "# harness db restore"


def _recovery_settings(script: Path, target: datetime | None) -> str:
    restore = f"{shlex.quote(str(script))} %f %p".replace("'", "''")
    lines = [
        "# harness db restore",
        f"restore_command = '{restore}'",
        "recovery_target_timeline = 'latest'",
        "recovery_target_action = 'promote'",
        # No sessions until promoted: clients see "starting up" and retry, as after a restart,
        # instead of working on a read-only standby in the middle of the replay.
        "hot_standby = off",
    ]
    if target is not None:
        stamp = target.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        lines += [f"recovery_target_time = '{stamp}'", "recovery_target_inclusive = on"]
    return "\n".join(lines) + "\n"


def _with(argv: list[str], option: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(option) + 1] = value
    return out


@dataclass
class RestoreResult:
    backup: str
    target: str  # "latest" or the instant
    data_dir: str
    url: str
    reached: str | None  # the last commit replayed (pg_last_xact_replay_timestamp)
    timings: dict[str, float] = field(default_factory=dict)
    switched: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def _wait_promoted(process: ManagedProcess, url: str, timeout_s: float) -> str | None:
    async def _promoted() -> bool:
        row = await _fetch(url, "SELECT pg_is_in_recovery() AS r", timeout_s=3)
        return row["r"] is False

    await process.wait_ready(_promoted, timeout_s, "PostgreSQL to replay WAL and promote")
    row = await _fetch(url, "SELECT pg_last_xact_replay_timestamp() AS t")
    return row["t"].isoformat() if row["t"] is not None else None


async def _reset_recovery_settings(url: str, progress: Progress) -> None:
    """Once promoted, the restore's settings go (a backup of this server must not carry
    them into its own restore). A failure here leaves a working server: said, not raised."""
    try:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            for name in RECOVERY_SETTINGS:
                await conn.execute(f"ALTER SYSTEM RESET {name}")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        progress(
            f"warning: could not reset the recovery settings ({exc}); run ALTER SYSTEM RESET"
            f" for {', '.join(RECOVERY_SETTINGS)} before the next backup"
        )


async def _is_promoted(url: str) -> bool:
    try:
        row = await _fetch(url, "SELECT pg_is_in_recovery() AS r", timeout_s=3)
    except (OSError, asyncpg.PostgresError):
        return False
    return row["r"] is False


def _carry_wal(old: Path, new: Path) -> int:
    """The stopped server's WAL segments the restored directory lacks, copied into its
    pg_wal: PostgreSQL replays them once the archive runs out, so a restore to "latest" of
    a live server loses nothing of the segment that was never archived."""
    source, dest = old / "pg_wal", new / "pg_wal"
    if not source.is_dir():
        return 0
    copied = 0
    for segment in sorted(source.iterdir()):
        if SEGMENT_NAME.match(segment.name) and not (dest / segment.name).exists():
            shutil.copy2(segment, dest / segment.name)
            copied += 1
    return copied


async def _stop_server(record: ProcessRecord) -> None:
    if pid_alive(record.pid):
        await fast_shutdown(record.pid, 60)


async def _prepare(
    srv: Server,
    target: datetime | None,
    bid: str | None,
    pgdata: Path,
    progress: Progress,
) -> tuple[BackupInfo, dict[str, float]]:
    tools = pgtools_bindir()
    if tools is None:
        raise HarnessError(
            "barman-cloud is not installed for PostgreSQL's user: run `make pgtools`"
        )
    catalog = Catalog(srv.location)
    info = _pick(await catalog.backups(), bid, target, await catalog.timelines())
    if pid_alive(srv.record.pid):
        progress("closing the current WAL segment and waiting for it to be archived…")
        try:
            await flush_archive(srv.url, progress=progress)
        except (HarnessError, OSError, asyncpg.PostgresError) as exc:
            raise HarnessError(
                f"PostgreSQL is running but its WAL does not reach the object store ({exc}):"
                " a restore now would silently go back in time. Mend archiving first"
                " (`harness status`), or stop PostgreSQL to restore what the store has"
            ) from None
    timings = await _download_verified(catalog, info, pgdata, progress)
    # Beside the data directory, not in it (a backup of the restored server must not copy it).
    script = pgdata.parent / f"{pgdata.name}.restore-wal.sh"
    spool = pgdata.parent / f"{pgdata.name}.wal-spool"
    script.write_text(WalArchiving(tools, srv.location).restore_script(spool))
    script.chmod(0o755)
    hand_over(spool, srv.record.user)
    conf = pgdata / "postgresql.auto.conf"
    kept = [line for line in conf.read_text().splitlines() if not _is_recovery_setting(line)]
    conf.write_text("\n".join([*kept, _recovery_settings(script, target)]))
    (pgdata / "recovery.signal").touch()
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    hand_over(pgdata, srv.record.user)
    pgdata.chmod(0o700)
    return info, timings


async def restore(
    settings: HarnessSettings,
    target: datetime | None,
    *,
    bid: str | None = None,
    progress: Progress = _quiet,
) -> RestoreResult:
    """Restore into a new data directory and put the stack's PostgreSQL on it."""
    srv = server(settings)
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    pgdata = srv.data_dir.parent / f"pgdata-restored-{stamp}"

    def _discard() -> None:
        for path in _restore_paths(pgdata):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    try:
        info, timings = await _prepare(srv, target, bid, pgdata, progress)
        progress(f"stopping PostgreSQL (pid {srv.record.pid}) and starting it on {pgdata}…")
        await _stop_server(srv.record)
    except BaseException:
        _discard()  # refused, failed, or the old server would not stop: nothing has changed
        raise
    if (carried := _carry_wal(srv.data_dir, pgdata)) > 0:
        hand_over(pgdata, srv.record.user)
        pgdata.chmod(0o700)  # hand_over opens parents to others; PostgreSQL refuses that
        progress(f"  {carried} WAL segments of the stopped server carried over for the replay")
    clear_stale_lock(srv.record.argv)
    process = ManagedProcess.from_record(srv.record)
    process.argv = _with(srv.record.argv, "-D", str(pgdata))
    t = time.perf_counter()
    process.start()
    restored = {
        "from": info.id,
        "to": "latest" if target is None else target.isoformat(),
        "previous_data_dir": str(srv.data_dir),
    }
    state = srv.state
    state.processes["postgres"] = process.record(**{**srv.record.extra, "restored": restored})
    state.save(settings.state_file)
    try:
        reached = await _wait_promoted(process, srv.url, settings.restore_timeout_s)
    except (HarnessError, OSError, asyncpg.PostgresError) as exc:
        if await _is_promoted(srv.url):
            # Promoted after all (a late timeout): a new timeline exists; never go back.
            raise HarnessError(
                f"PostgreSQL on {pgdata} promoted, but the restore's last step failed: {exc}"
            ) from None
        hint = (
            " — a restore to an instant needs a commit stamped after it in the archive"
            if target is not None
            else ""
        )
        await _fall_back(settings, srv, process, progress)
        raise HarnessError(
            f"the restore from backup {info.id} did not complete{hint}: {exc}"
            f" (its directory is kept for inspection: {pgdata})"
        ) from None
    await _reset_recovery_settings(srv.url, progress)
    timings["recovery_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - started
    return RestoreResult(
        info.id,
        restored["to"],
        str(pgdata),
        srv.url,
        reached,
        {k: round(v, 2) for k, v in timings.items()},
        switched=True,
    )


def _restore_paths(pgdata: Path) -> list[Path]:
    """A restore's directory and what it keeps beside it (restore script, WAL spool)."""
    return [
        pgdata,
        pgdata.parent / f"{pgdata.name}.restore-wal.sh",
        pgdata.parent / f"{pgdata.name}.wal-spool",
    ]


async def _fall_back(
    settings: HarnessSettings, srv: Server, failed: ManagedProcess, progress: Progress
) -> None:
    """A restore that did not promote: stop it, and put the stack back on its old directory
    when that still exists (it is never touched by a restore), and wait until it serves."""
    with contextlib.suppress(HarnessError):
        await failed.stop()
    state = srv.state
    if not (srv.data_dir / "PG_VERSION").exists():
        progress(f"the previous data directory {srv.data_dir} is gone: PostgreSQL stays down")
        return
    progress(f"starting PostgreSQL on its previous data directory {srv.data_dir} again…")
    clear_stale_lock(srv.record.argv)
    process = ManagedProcess.from_record(srv.record)
    process.start()
    state.processes["postgres"] = process.record(**srv.record.extra)
    state.save(settings.state_file)

    async def _serves() -> bool:
        await _fetch(srv.url, "SELECT 1 AS one", timeout_s=3)
        return True

    try:
        await process.wait_ready(_serves, 120, "PostgreSQL on its previous data directory")
    except HarnessError as exc:
        progress(f"PostgreSQL did not come back on {srv.data_dir}: {exc}")


@contextlib.asynccontextmanager
async def drill(
    settings: HarnessSettings,
    target: datetime | None,
    *,
    bid: str | None = None,
    progress: Progress = _quiet,
) -> AsyncIterator[RestoreResult]:
    """Restore beside the stack (own port, no archiving), yield it running, then remove it."""
    srv = server(settings)
    started = time.perf_counter()
    root = srv.data_dir.parent / f"drill-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    pgdata = root / "pgdata"
    process: ManagedProcess | None = None
    try:
        info, timings = await _prepare(srv, target, bid, pgdata, progress)
        port = free_port()
        sockets = root / "socket"
        hand_over(sockets, srv.record.user)
        argv = _with(_with(srv.record.argv, "-D", str(pgdata)), "-p", str(port))
        argv = [
            f"unix_socket_directories={sockets}" if a.startswith("unix_socket_directories=") else a
            for a in argv
        ]
        # Never into the stack's archive: a promoted drill starts a timeline of its own.
        argv += ["-c", "archive_mode=off"]
        log = Path(srv.record.log).with_name(f"postgres-{root.name}.log")
        process = ManagedProcess(
            "postgres-drill", argv, log_path=log, env=srv.record.env, cwd=root, user=srv.record.user
        )
        url = srv.url.replace(f":{srv.port}/", f":{port}/")
        t = time.perf_counter()
        progress(f"replaying WAL on a drill server (port {port})…")
        process.start()
        reached = await _wait_promoted(process, url, settings.restore_timeout_s)
        timings["recovery_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - started
        yield RestoreResult(
            info.id,
            "latest" if target is None else target.isoformat(),
            str(pgdata),
            url,
            reached,
            {k: round(v, 2) for k, v in timings.items()},
        )
    finally:
        if process is not None:
            with contextlib.suppress(HarnessError):
                await process.stop()
        shutil.rmtree(root, ignore_errors=True)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def table_counts(url: str) -> dict[str, dict[str, int]]:
    """Rows per table in every database of a server (what a drill shows it restored)."""
    server_url = urlsplit(url)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        names = [
            r["datname"]
            for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'"
                " ORDER BY datname"
            )
        ]
    finally:
        await conn.close()
    counts: dict[str, dict[str, int]] = {}
    for name in names:
        db = await asyncpg.connect(server_url._replace(path=f"/{name}").geturl(), timeout=10)
        try:
            tables = await db.fetch(
                "SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY schemaname, relname"
            )
            counts[name] = {}
            for t in tables:
                table = f"{_ident(t['schemaname'])}.{_ident(t['relname'])}"
                sql = f"SELECT count(*) FROM {table}"  # noqa: S608 - catalog names, quoted
                counts[name][f"{t['schemaname']}.{t['relname']}"] = int(await db.fetchval(sql))
        finally:
            await db.close()
    return counts
