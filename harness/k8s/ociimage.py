"""Single-layer OCI image archives made without a registry or a Docker engine.

The local cluster's own images (the pod sandbox "pause", CoreDNS, metrics-server) are one
static binary each; `write_archive` lays out an OCI image (`oci-layout`, `index.json`, blobs)
that `ctr images import` accepts, reproducibly (fixed mtimes and owners in the layer).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import HarnessError

PAUSE_C = r"""
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
static void die(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction a = {0};
  a.sa_handler = die; sigaction(SIGINT, &a, 0); sigaction(SIGTERM, &a, 0);
  a.sa_handler = reap; a.sa_flags = SA_NOCLDSTOP; sigaction(SIGCHLD, &a, 0);
  for (;;) pause();
}
"""
PASSWD = b"root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
GROUP = b"root:x:0:\nnobody:x:65534:\n"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    """An uncompressed tar of `path in image → (content, mode)`, directories implied."""
    raw = io.BytesIO()
    dirs = sorted({str(Path(p).parent) for p in files} - {"."})
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path in sorted(files):
            data, mode = files[path]
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def write_archive(
    out: Path,
    ref: str,
    files: Mapping[str, tuple[bytes, int]],
    *,
    entrypoint: Sequence[str],
    user: str | None = None,
) -> Path:
    """Write the OCI archive of image `ref` (name:tag) holding `files`."""
    raw = _layer({"etc/passwd": (PASSWD, 0o644), "etc/group": (GROUP, 0o644), **files})
    layer = gzip.compress(raw, mtime=0)
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": list(entrypoint), "Env": ["PATH=/bin:/usr/bin:/sbin"]},
        "rootfs": {"type": "layers", "diff_ids": [_digest(raw)]},
    }
    if user:
        config["config"] = {**config["config"], "User": user}  # type: ignore[dict-item]
    config_blob = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(config_blob),
            "size": len(config_blob),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _digest(layer),
                "size": len(layer),
            }
        ],
    }
    manifest_blob = json.dumps(manifest, sort_keys=True).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                "digest": _digest(manifest_blob),
                "size": len(manifest_blob),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                },
            }
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:

        def put(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        put("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for blob in (layer, config_blob, manifest_blob):
            put("blobs/sha256/" + _digest(blob)[7:], blob)
        put("index.json", json.dumps(index).encode())
    return out


def binary_image(out: Path, ref: str, binary: Path, *, args: Sequence[str] = ()) -> Path:
    """An image whose only program is `binary` (static) at `/<name>`, as upstream images lay
    out CoreDNS and metrics-server, run as its entrypoint."""
    name = binary.name
    return write_archive(
        out,
        ref,
        {name: (binary.read_bytes(), 0o755)},
        entrypoint=[f"/{name}", *args],
    )


def pause_image(out: Path, ref: str) -> Path:
    """The pod sandbox image: a static C program that sleeps and reaps (like k8s's pause)."""
    with tempfile.TemporaryDirectory(prefix="altlas-pause-") as tmp:
        source, binary = Path(tmp) / "pause.c", Path(tmp) / "pause"
        source.write_text(PAUSE_C)
        try:
            subprocess.run(
                ["gcc", "-Os", "-static", "-s", "-o", str(binary), str(source)],
                check=True,
                capture_output=True,
                text=True,
            )
        except FileNotFoundError:
            raise HarnessError("gcc is needed to build the pod sandbox (pause) image") from None
        except subprocess.CalledProcessError as exc:
            raise HarnessError(f"building the pause image failed:\n{exc.stderr}") from None
        return write_archive(
            out, ref, {"pause": (binary.read_bytes(), 0o755)}, entrypoint=["/pause"]
        )
