"""PostgreSQL 16 from the `pgserver` wheel's binaries (or the system's), on a free port.

Runs as an unprivileged user when we are root (postgres refuses root). Password auth over TCP;
the generated password is in the stack state file.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import importlib.util
import os
import secrets
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from harness.errors import HarnessError
from harness.infra._process import (
    REPO_ROOT,
    ManagedProcess,
    ProcessRecord,
    free_port,
    hand_over,
    pid_alive,
    poll,
    service_user,
)
from harness.infra.objectstore import S3Location

# The stack's server in the object store: barman-cloud keeps WAL under <prefix>/<server>/wals/,
# the harness its base backups under <prefix>/<server>/base/<id>/.
BACKUP_PREFIX = "postgres"
BACKUP_SERVER = "altlas"


def pg_bindir() -> Path:
    # Locate the wheel without importing it: its import has side effects (platformdirs warnings).
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "postgres").exists():
            return Path(out.stdout.strip())
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True):
        return Path(found).parent
    raise HarnessError(
        "PostgreSQL binaries not found: install the `pgserver` wheel (make setup does) or "
        "PostgreSQL itself, or set HARNESS_POSTGRES_URL to an existing server"
    )


def _others_can_run(path: Path) -> bool:
    """True when an unprivileged user can execute `path`: it (resolved) is o+x and so is every
    folder above it. A venv under /root fails this, which is why the tools have their own."""
    target = path.resolve()
    if not target.exists() or not target.stat().st_mode & 0o001:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in target.parents)


def pgtools_bindir() -> Path | None:
    """The barman-cloud venv `make pgtools` builds on the system's Python (None: not built, or
    not executable by the PostgreSQL user)."""
    bindir = Path(os.environ.get("HARNESS_PGTOOLS_BIN", REPO_ROOT / ".tools" / "pgtools" / "bin"))
    tool = bindir / "barman-cloud-wal-archive"
    if not tool.exists() or not _others_can_run(bindir / "python"):
        return None
    return bindir


@dataclass(frozen=True)
class WalArchiving:
    """Continuous WAL archiving to an object store with barman-cloud.

    `timeout_s` is PostgreSQL's archive_timeout: a segment with any change in it is switched
    and archived at the latest this long after its first change — the bound on what a lost
    data directory loses (the recovery point objective).
    """

    tools: Path
    store: S3Location
    timeout_s: int = 15

    def _tool(self, name: str) -> list[str]:
        return [
            str(self.tools / name),
            "--endpoint-url",
            self.store.endpoint,
            self.store.url(BACKUP_PREFIX),
            BACKUP_SERVER,
        ]

    def archive_command(self) -> str:
        argv = [*self._tool("barman-cloud-wal-archive"), "%p"]
        argv.insert(1, "--gzip")
        return " ".join(a if a == "%p" else shlex.quote(a) for a in argv)

    def restore_script(self, spool: Path) -> str:
        """A restore_command script (`script %f %p`) around barman-cloud-wal-restore.

        PostgreSQL takes any exit status from 1 to 125 for "not in the archive" and ends the
        replay there — promoting early, on a network error, as if that were the end of WAL.
        barman exits 1 only when the file is not in the store; every other failure is made
        an exit above 125 here, which stops the recovery instead. `--no-partial`: never the
        `.partial` segment a promoted server leaves; `--parallel`: the next segments are
        fetched into `spool` while one is replayed.
        """
        argv = [*self._tool("barman-cloud-wal-restore"), '"$1"', '"$2"']
        argv[1:1] = ["--no-partial", "--parallel", "4", "--spool-dir", str(spool)]
        command = " ".join(a if a.startswith('"$') else shlex.quote(a) for a in argv)
        return (
            "#!/bin/sh\n"
            "# harness db restore: PostgreSQL's restore_command (see harness/infra/postgres.py)\n"
            f"{command}\n"
            "rc=$?\n"
            '[ "$rc" -le 1 ] && exit "$rc"\n'
            'echo "barman-cloud-wal-restore failed (exit $rc) on $1: recovery stops" >&2\n'
            "exit 200\n"
        )

    def settings(self) -> list[str]:
        return [
            "-c",
            "archive_mode=on",
            "-c",
            f"archive_command={self.archive_command()}",
            "-c",
            f"archive_timeout={self.timeout_s}",
        ]


class PostgresServer:
    SUPERUSER = "altlas"

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        port: int | None = None,
        password: str | None = None,
        slow_ms: int = 20,
        archiving: WalArchiving | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(18)
        self.bindir = pg_bindir()
        self.user = service_user()
        self.socket_dir = data_dir.parent / "pg-socket"
        self.archiving = archiving
        self.process = ManagedProcess(
            "postgres",
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data_dir / "pgdata"),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.socket_dir}",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=128MB",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                # `harness db slow-queries` reads statements slower than this from the log
                # (the pgserver wheel ships no pg_stat_statements); %d: the database.
                "-c",
                f"log_min_duration_statement={slow_ms}",
                "-c",
                "log_line_prefix=%m [%p] %d ",
                # Each commit's time, readable as pg_xact_commit_timestamp(xmin): the very
                # timestamp point-in-time recovery stops at (the backup tests' ground truth).
                "-c",
                "track_commit_timestamp=on",
                *(archiving.settings() if archiving else []),
            ],
            log_path=log_path,
            env=archiving.store.env() if archiving else None,
            cwd=data_dir,
            user=self.user,
        )

    def url(self, database: str = "postgres", address: str | None = None) -> str:
        """Connection URL; `address` (host:port) replaces ours, e.g. a proxy in front of us."""
        where = address or f"127.0.0.1:{self.port}"
        return f"postgresql://{self.SUPERUSER}:{self.password}@{where}/{database}"

    async def _initdb(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "PG_VERSION").exists():
            return
        hand_over(self.data_dir, self.user)
        pwfile = self.data_dir / ".pwfile"
        pwfile.write_text(self.password)
        hand_over(self.data_dir, self.user)
        proc = await asyncio.to_thread(
            subprocess.run,
            [
                str(self.bindir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                self.SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            check=False,
            user=self.user,
            group=self.user,
            extra_groups=[] if self.user else None,
        )
        pwfile.unlink()
        if proc.returncode != 0:
            raise HarnessError(f"initdb failed ({proc.returncode}):\n{proc.stderr[-2000:]}")

    async def start(self, timeout_s: float = 60.0) -> None:
        await self._initdb()
        hand_over(self.socket_dir, self.user)
        self.process.start()
        await self.wait_ready(timeout_s)

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        async def _accepts() -> bool:
            conn = await asyncpg.connect(self.url(), timeout=2)
            await conn.close()
            return True

        await self.process.wait_ready(_accepts, timeout_s, f"PostgreSQL on port {self.port}")

    async def create_databases(self, *names: str) -> None:
        conn = await asyncpg.connect(self.url(), timeout=5)
        try:
            existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            for name in names:
                if name not in existing:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def stop(self) -> None:
        await self.process.stop()

    async def __aenter__(self) -> PostgresServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def record(self) -> ProcessRecord:
        return self.process.record(url=self.url(), port=self.port)


async def fast_shutdown(pid: int, timeout_s: float) -> None:
    """Stop a PostgreSQL server and wait until it is gone. SIGTERM is its "smart" shutdown,
    which waits for every client to leave (the services' pools never do); SIGINT is its
    "fast" shutdown: clean, and immediate."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGINT)

    async def _dead() -> bool:
        return not pid_alive(pid)

    await poll(_dead, timeout_s, f"PostgreSQL (pid {pid}) to shut down")


def _owner_alive(lock: Path) -> bool | None:
    """None: no lock; True: its pid is a live postgres; False: stale (dead, zombie or reused)."""
    try:
        pid = int(lock.read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        # A zombie (a killed server nobody has reaped yet) has an empty command line.
        return b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def clear_stale_lock(argv: list[str]) -> list[Path]:
    """Remove the lock files a killed server left behind (data dir and socket dir).

    After a SIGKILL they stay; if their pid is still a zombie or has been reused by another
    process, PostgreSQL refuses to start ("lock file already exists"). Returns what was removed.
    """
    locks = []
    if "-D" in argv:
        locks.append(Path(argv[argv.index("-D") + 1]) / "postmaster.pid")
    for arg in argv:
        if arg.startswith("unix_socket_directories="):
            locks.extend(Path(arg.split("=", 1)[1]).glob(".s.PGSQL.*.lock"))
    removed = []
    for lock in locks:
        if _owner_alive(lock) is False:
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed
