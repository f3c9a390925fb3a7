"""The service images as the docker target runs them: non-root, a /livez healthcheck that the
engine reports healthy, listening on 0.0.0.0:8080, no compiler, and small."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.containers.images import SERVICES
from harness.polling import poll_until
from harness.stack.state import StackState

# The Debian base is about 125 MB and the locked dependencies about 120 MB.
MAX_SERVICE_IMAGE_MB = 300


def _image(client: Any, stack: StackState, service: str) -> Any:
    return client.images.get(stack.processes[service].extra["image"])


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_non_root_listens_on_8080_and_checks_livez(
    docker_client: Any, docker_stack: StackState, service: str
) -> None:
    config = _image(docker_client, docker_stack, service).attrs["Config"]
    assert config["User"] == "10001:10001"
    assert "/livez" in " ".join(config["Healthcheck"]["Test"])
    assert "8080/tcp" in config["ExposedPorts"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert (env["ALTLAS_HOST"], env["ALTLAS_PORT"], env["ALTLAS_SERVICE"]) == (
        "0.0.0.0",  # noqa: S104 inside the container under test
        "8080",
        service,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_every_process_runs_as_uid_10001(
    container_of: Callable[[str], Any], docker_stack: StackState, service: str
) -> None:
    top = container_of(service).top(ps_args="-o pid,uid,args")
    column = top["Titles"].index("UID")
    uids = {row[column] for row in top["Processes"]}
    assert uids == {"10001"}, f"{service}: processes run as {uids}: {top['Processes']}"


@pytest.mark.parametrize("service", SERVICES)
async def test_engine_reports_the_container_healthy(
    container_of: Callable[[str], Any], docker_stack: StackState, service: str
) -> None:
    container = container_of(service)

    async def _healthy() -> bool:
        container.reload()
        return bool(container.attrs["State"]["Health"]["Status"] == "healthy")

    await poll_until(_healthy, 90, f"docker to report {service}'s healthcheck healthy")


@pytest.mark.parametrize("service", SERVICES)
def test_no_compiler_or_pip_in_the_image(
    container_of: Callable[[str], Any], docker_stack: StackState, service: str
) -> None:
    container = container_of(service)
    _code, out = container.exec_run(["sh", "-c", "command -v gcc cc c++ clang make pip pip3"])
    assert not out.strip(), f"{service} image holds build tools: {out.decode()}"


def test_service_images_are_small(docker_client: Any, docker_stack: StackState) -> None:
    sizes = {s: round(_image(docker_client, docker_stack, s).attrs["Size"] / 1e6) for s in SERVICES}
    big = {s: mb for s, mb in sizes.items() if mb > MAX_SERVICE_IMAGE_MB}
    assert not big, f"images above {MAX_SERVICE_IMAGE_MB} MB: {big} (all: {sizes})"
