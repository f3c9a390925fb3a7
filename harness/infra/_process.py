"""A managed child process: log file, deadline-polled readiness, graceful stop.

Processes are started in their own session so that `harness up` can return while they keep
running; the state file records enough (pid, argv, env, log) to stop or restart them later from
any other process.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ComponentFailed, HarnessError, ReadinessTimeout

REPO_ROOT = Path(__file__).resolve().parents[2]


def tool_binary(name: str) -> str | None:
    """A tool the Makefile builds into .tools/bin (first), or one on PATH; None: neither."""
    local = REPO_ROOT / ".tools" / "bin" / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a free TCP port on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    """Last `lines` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


async def wait_for_port(host: str, port: int, timeout_s: float, what: str) -> None:
    """Poll until a TCP connect to host:port succeeds, or raise ReadinessTimeout."""

    async def _open() -> bool:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    await poll(_open, timeout_s, what)


async def run_command(
    argv: Sequence[str],
    *,
    timeout_s: float,
    what: str,
    error: Callable[[str], Exception] = HarnessError,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a command to completion and return its stdout; raise `error(message)` naming
    `what`, the command and the end of its stderr when it fails or outlives `timeout_s`.
    `env` is added to this process's environment."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env} if env else None,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise error(f"{what}: no result after {timeout_s:.0f}s ({' '.join(argv)})") from None
    if proc.returncode != 0:
        raise error(
            f"{what} failed ({' '.join(argv)}, exit {proc.returncode}):\n"
            f"{err.decode(errors='replace')[-3000:]}"
        )
    return out.decode(errors="replace")


async def poll(
    check: Callable[[], Awaitable[bool]],
    timeout_s: float,
    what: str,
    *,
    interval_s: float = 0.1,
    alive: Callable[[], None] | None = None,
) -> None:
    """Call `check` until it returns True; `alive` raises if the watched process died."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while True:
        if alive is not None:
            alive()
        try:
            if await check():
                return
        except Exception as exc:  # readiness probes fail in many ways while a server starts
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise ReadinessTimeout(what, timeout_s, last_error)
        await asyncio.sleep(interval_s)


@dataclass
class ProcessRecord:
    """What the state file keeps about one process: enough to signal or restart it."""

    name: str
    pid: int
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log: str
    user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "argv": self.argv,
            "env": self.env,
            "cwd": self.cwd,
            "log": self.log,
            "user": self.user,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            argv=list(data["argv"]),
            env=dict(data.get("env", {})),
            cwd=str(data["cwd"]),
            log=str(data["log"]),
            user=data.get("user"),
            extra=dict(data.get("extra", {})),
        )


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


async def terminate_pid(pid: int, name: str, grace_s: float = 15.0) -> None:
    """SIGTERM the process group of `pid`, wait up to `grace_s`, then SIGKILL it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        if sig == signal.SIGKILL:
            grace_s = 5.0
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            await asyncio.sleep(0.05)
    if not _gone(pid):
        raise ComponentFailed(name, None, f"pid {pid} survived SIGKILL")


# Children started by this process, kept so that the Popen objects are not garbage collected
# while the (detached) process runs, and so that stopping one reaps it.
_CHILDREN: dict[int, Any] = {}


@atexit.register
def _leave_children_running() -> None:
    # Stack processes are detached on purpose (`harness up` returns while they run); tell
    # Popen not to warn at exit that they are "still running".
    for popen in _CHILDREN.values():
        popen._child_created = False


def _gone(pid: int) -> bool:
    """Exited (and reaped, when it is our child: a JVM looks dead before its threads are)."""
    popen = _CHILDREN.get(pid)
    if popen is not None:
        if popen.poll() is None:
            return False
        _CHILDREN.pop(pid, None)
        return True
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return not pid_alive(pid)


def _demote(user: str) -> Callable[[], None]:
    import pwd

    entry = pwd.getpwnam(user)

    def _apply() -> None:
        os.setgid(entry.pw_gid)
        os.setgroups([])
        os.setuid(entry.pw_uid)

    return _apply


class ManagedProcess:
    """One child process with its log in a file, started detached in its own session."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env or {})
        self.cwd = cwd or Path.cwd()
        self.user = user
        self._pid: int | None = None
        self._popen: Any = None

    @property
    def pid(self) -> int:
        if self._pid is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self._pid

    def start(self) -> None:
        import subprocess

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with open(self.log_path, "ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
                preexec_fn=_demote(self.user) if self.user else None,
            )
        self._pid = self._popen.pid
        _CHILDREN[self._pid] = self._popen

    def check_alive(self) -> None:
        """Raise ComponentFailed (with the log's tail) when the process has exited."""
        if self._popen is not None:
            code = self._popen.poll()
            if code is not None:
                raise ComponentFailed(self.name, code, tail(self.log_path))
        elif self._pid is not None and not pid_alive(self._pid):
            raise ComponentFailed(self.name, None, tail(self.log_path))

    async def wait_ready(
        self, check: Callable[[], Awaitable[bool]], timeout_s: float, what: str
    ) -> None:
        try:
            await poll(check, timeout_s, what, alive=self.check_alive)
        except ReadinessTimeout as exc:
            exc.detail = f"{exc.detail}\nlast lines of {self.log_path}:\n{tail(self.log_path)}"
            raise

    async def stop(self, grace_s: float = 15.0) -> None:
        if self._pid is None:
            return
        await terminate_pid(self._pid, self.name, grace_s)
        _CHILDREN.pop(self._pid, None)
        if self._popen is not None:
            # A multi-threaded child (the JVM) shows as a zombie before its last thread exits;
            # reap it for real so no <defunct> process or ResourceWarning is left behind.
            popen = self._popen
            with contextlib.suppress(Exception):
                await asyncio.to_thread(popen.wait, 10)

    @classmethod
    def from_record(cls, record: ProcessRecord) -> ManagedProcess:
        """A process that runs exactly what `record` ran (same argv, env, log, user)."""
        return cls(
            record.name,
            record.argv,
            log_path=Path(record.log),
            env=record.env,
            cwd=Path(record.cwd),
            user=record.user,
        )

    def record(self, **extra: Any) -> ProcessRecord:
        return ProcessRecord(
            name=self.name,
            pid=self.pid,
            argv=self.argv,
            env=self.env,
            cwd=str(self.cwd),
            log=str(self.log_path),
            user=self.user,
            extra=dict(extra),
        )


SERVICE_USER = "altlas"


def service_user() -> str | None:
    """The unprivileged user that PostgreSQL and OpenSearch run as when we are root.

    Both refuse to run as root. Returns None when we are not root (run as ourselves).
    """
    if os.geteuid() != 0:
        return None
    import pwd
    import subprocess

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def hand_over(path: Path, user: str | None) -> None:
    """Make `path` (created if missing) owned by `user`, and its parents traversable."""
    path.mkdir(parents=True, exist_ok=True)
    if user is None:
        return
    import pwd

    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.chown(
                    os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False
                )
    parent = path.parent
    while parent != parent.parent:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)
        parent = parent.parent
