"""The Docker engine: a client, dockerd started when none answers, image presence and pulls.

`ensure_engine` is what every docker-side entry point calls first: on a machine where the
daemon is installed but not running (CI, a fresh VM) it starts `dockerd` detached, logging to a
file, and polls its API with a deadline.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.infra._process import ManagedProcess, tail

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

DOCKERD_LOG = Path("/var/log/altlas-dockerd.log")


class EngineUnavailable(HarnessError):
    """No Docker engine answers and none could be started."""


def _quiet(_message: str) -> None:
    pass


def client(timeout_s: int = 120) -> Any:
    """A docker SDK client for the local engine (DOCKER_HOST or the default socket)."""
    import docker

    return docker.from_env(timeout=timeout_s)


def _answers() -> bool:
    try:
        c = client(timeout_s=5)
        try:
            return bool(c.ping())
        finally:
            c.close()
    except Exception:  # not running, socket missing, permission: all mean "not usable yet"
        return False


def ensure_engine(
    *, timeout_s: float = 60.0, log_path: Path = DOCKERD_LOG, progress: Progress = _quiet
) -> None:
    """Return once a Docker engine answers; start `dockerd` first if none does."""
    if _answers():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineUnavailable(
            "no Docker engine answers and dockerd is not installed: install it "
            "(`apt-get install -y docker.io`, which `make docker-test` does) or set DOCKER_HOST"
        )
    progress(f"starting dockerd (log: {log_path})…")
    process = ManagedProcess("dockerd", [dockerd], log_path=log_path)
    process.start()
    deadline = time.monotonic() + timeout_s
    while not _answers():
        process.check_alive()
        if time.monotonic() >= deadline:
            raise EngineUnavailable(
                f"dockerd did not answer within {timeout_s:.0f}s; last lines of {log_path}:\n"
                + tail(log_path)
            )
        time.sleep(0.2)  # polling the API with a deadline, not waiting blindly
    progress(f"  dockerd ready (pid {process.pid})")


def image_present(docker_client: Any, ref: str) -> bool:
    import docker

    try:
        docker_client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def available(docker_client: Any, ref: str, progress: Progress = _quiet) -> bool:
    """The image is present, or could be pulled now."""
    if image_present(docker_client, ref):
        return True
    import docker

    progress(f"pulling {ref}…")
    try:
        docker_client.images.pull(ref)
    except docker.errors.APIError as exc:
        progress(f"  cannot pull {ref}: {exc.explanation or exc}")
        return False
    return True


def image_size_mb(docker_client: Any, ref: str) -> float:
    return round(int(docker_client.images.get(ref).attrs["Size"]) / 1e6, 1)
