"""Render the kustomize overlays, and every combination of the base with the components, with
the `kustomize` binary (`make kustomize` installs it into .tools/bin from the Go module proxy).

A combination is built from a throw-away kustomization that names the base and the components;
mutually exclusive components (`kind` and `prod` size the same objects two ways) never meet.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.k8s.secrets import ensure_secrets

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
# Components that configure the same objects for different places: at most one per build.
EXCLUSIVE = (frozenset({"kind", "prod"}),)

Manifest = dict[str, Any]


class RenderError(HarnessError):
    """kustomize is missing, or refused to build a kustomization."""


@dataclass(frozen=True)
class Rendered:
    name: str
    objects: list[Manifest]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [o for o in self.objects if o.get("kind") == kind]


def kustomize_binary() -> str:
    """.tools/bin/kustomize, else one on PATH; RenderError saying how to get it."""
    local = ROOT / ".tools" / "bin" / "kustomize"
    if local.exists():
        return str(local)
    found = shutil.which("kustomize")
    if found:
        return found
    raise RenderError(
        "kustomize not found: run `make kustomize` (a go install into .tools/bin, the version"
        " pinned in mk/k8s.mk; needs Go)"
    )


def build(path: Path) -> list[Manifest]:
    """`kustomize build path`, parsed; the secret inputs are generated first where missing."""
    ensure_secrets(MANIFESTS / "base" / "secrets")
    proc = subprocess.run(
        [kustomize_binary(), "build", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RenderError(f"kustomize build {path} failed: {proc.stderr.strip()}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 4x faster
    return [doc for doc in yaml.load_all(proc.stdout, Loader=loader) if doc]


def overlays() -> list[str]:
    return sorted(p.parent.name for p in (MANIFESTS / "overlays").glob("*/kustomization.yaml"))


def components() -> list[str]:
    return sorted(p.parent.name for p in (MANIFESTS / "components").glob("*/kustomization.yaml"))


def combinations(names: Sequence[str] | None = None) -> Iterator[tuple[str, ...]]:
    """Every subset of the components (the empty one too) with no exclusive pair."""
    names = sorted(components() if names is None else names)
    for size in range(len(names) + 1):
        for combo in itertools.combinations(names, size):
            if not any(len(group & set(combo)) > 1 for group in EXCLUSIVE):
                yield combo


def render_overlay(name: str) -> Rendered:
    return Rendered(f"overlay {name}", build(MANIFESTS / "overlays" / name))


def write_kustomization(
    folder: Path,
    *,
    resources: Sequence[Path],
    components: Sequence[Path] = (),
    extra: dict[str, Any] | None = None,
) -> Path:
    """A kustomization in `folder` naming other kustomizations; kustomize refuses absolute
    paths, so they are written relative to `folder`."""
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(p, folder) for p in resources],
    }
    if components:
        doc["components"] = [os.path.relpath(p, folder) for p in components]
    doc.update(extra or {})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kustomization.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def render_combination(combo: Sequence[str]) -> Rendered:
    """The base with these components, from a temporary kustomization."""
    with tempfile.TemporaryDirectory(prefix="altlas-kustomize-") as tmp:
        folder = Path(tmp)
        write_kustomization(
            folder,
            resources=[MANIFESTS / "base"],
            components=[MANIFESTS / "components" / c for c in combo],
            extra={"namespace": "altlas"},  # as the overlays do, for the components' objects
        )
        objects = build(folder)
    return Rendered("base + " + (" + ".join(combo) if combo else "no component"), objects)


def render_all() -> list[Rendered]:
    """Every overlay, then every component combination (built concurrently)."""
    ensure_secrets(MANIFESTS / "base" / "secrets")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        built = [pool.submit(render_overlay, o) for o in overlays()]
        built += [pool.submit(render_combination, c) for c in combinations()]
        return [f.result() for f in built]
