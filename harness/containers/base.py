"""Debian bookworm base images built with debootstrap and `docker import`.

Where no registry can be reached, `python:3.11-slim` cannot be pulled; Debian's own mirror
still can. `ensure_base` builds `altlas/base:bookworm` (minbase + python3 and venv, which is
3.11 on bookworm, like the official slim image) and, for OpenSearch, `altlas/base-jre:bookworm`
(the same plus openjdk-17-jre-headless, installed in the chroot). Both are cached: nothing is
built when the image exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.containers.engine import image_present
from harness.errors import HarnessError

Progress = Callable[[str], None]

BASE = "altlas/base:bookworm"
BASE_JRE = "altlas/base-jre:bookworm"
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv")
JRE_PACKAGES = ("openjdk-17-jre-headless",)
# What `docker import` sets: the image has no Dockerfile to say it.
CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
# Left out of the image (not deleted from the tree: a later package install in the chroot
# may still need the directories): package lists and caches, docs, man pages, translations.
PRUNE = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)


class BaseImageFailed(HarnessError):
    """debootstrap, the chroot install or the import failed."""


def _quiet(_message: str) -> None:
    pass


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock: two sessions building the same image wait for each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run(argv: list[str], what: str, **kwargs: Any) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise BaseImageFailed(f"{what} failed ({done.returncode}): `{' '.join(argv)}`\n{output}")


def _import(docker_client: Any, rootfs: Path, ref: str) -> None:
    """`tar` the tree (owners, modes, devices kept) and import it as one image layer."""
    archive = rootfs.with_suffix(".tar")
    excludes = [f"--exclude=./{rel}/*" for rel in PRUNE]
    try:
        argv = ["tar", "-C", str(rootfs), "--numeric-owner", *excludes, "-cf", str(archive), "."]
        _run(argv, "tar")
        repository, _, tag = ref.partition(":")
        docker_client.api.import_image_from_file(
            str(archive), repository=repository, tag=tag or "latest", changes=list(CHANGES)
        )
    finally:
        archive.unlink(missing_ok=True)
    if not image_present(docker_client, ref):
        raise BaseImageFailed(f"docker import did not produce {ref}")


def _chroot_install(rootfs: Path, packages: tuple[str, ...]) -> None:
    shutil.copyfile("/etc/resolv.conf", rootfs / "etc" / "resolv.conf")
    proc = rootfs / "proc"
    # Java's post-install (the CA keystore) runs java, which finds itself through /proc.
    _run(["mount", "-t", "proc", "proc", str(proc)], "mount /proc in the chroot")
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["chroot", str(rootfs), "apt-get", "update", "-qq"], "apt-get update", env=env)
        argv = ["chroot", str(rootfs), "apt-get", "install", "-y", "-qq"]
        _run([*argv, "--no-install-recommends", *packages], "apt-get install", env=env)
        _run(["chroot", str(rootfs), "apt-get", "clean"], "apt-get clean", env=env)
    finally:
        subprocess.run(["umount", "-l", str(proc)], check=False, capture_output=True)


def ensure_base(
    docker_client: Any, work_dir: Path, *, jre: bool = False, progress: Progress = _quiet
) -> str:
    """The Debian base image (with a JRE when `jre`), built now if it does not exist yet."""
    ref = BASE_JRE if jre else BASE
    if image_present(docker_client, ref):
        return ref
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        raise BaseImageFailed(
            f"{ref} does not exist and cannot be built here: building it needs root and "
            "debootstrap (`apt-get install -y debootstrap`, which `make docker-test` does)"
        )
    with locked(work_dir / "base.lock"):
        if image_present(docker_client, ref):
            return ref
        # The tree of the plain base is kept until the JRE image is built from it: the
        # services' base and OpenSearch's are usually wanted in the same run.
        rootfs = work_dir / "rootfs"
        bootstrapped = work_dir / "rootfs.complete"
        subprocess.run(["umount", "-l", str(rootfs / "proc")], check=False, capture_output=True)
        if not bootstrapped.exists():
            shutil.rmtree(rootfs, ignore_errors=True)
            started = time.perf_counter()
            progress(f"debootstrap {SUITE} from {MIRROR} (first run only, about a minute)…")
            argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
            _run([*argv, SUITE, str(rootfs), MIRROR], "debootstrap")
            bootstrapped.write_text(SUITE + "\n")
            progress(f"  debootstrap done in {time.perf_counter() - started:.0f}s")
        if not image_present(docker_client, BASE):
            _import(docker_client, rootfs, BASE)
            progress(f"  {BASE} imported")
        if jre:
            started = time.perf_counter()
            progress(f"installing {', '.join(JRE_PACKAGES)} in the chroot…")
            bootstrapped.unlink()  # the tree is about to change
            _chroot_install(rootfs, JRE_PACKAGES)
            _import(docker_client, rootfs, BASE_JRE)
            shutil.rmtree(rootfs, ignore_errors=True)
            progress(f"  {BASE_JRE} built in {time.perf_counter() - started:.0f}s")
    return ref
