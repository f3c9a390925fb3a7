"""The local dependency images keep the parts of the official images' interfaces that the
Kubernetes base relies on (found when the base first ran on a real cluster, k8s-local):

- postgres runs `/docker-entrypoint-initdb.d` scripts on first start (the base creates one role
  and database per service there; without it every service failed to log in);
- opensearch takes settings from environment variables named after them (the base names the
  cluster and its seed hosts that way; without it three pods were three one-node clusters
  behind one Service, and searches missed the records the other two held).
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.containers.infra import infra_images
from harness.polling import poll_until
from harness.settings import HarnessSettings
from harness.stack.state import StackState


@pytest.fixture(scope="module")
def images(docker_stack: StackState, harness_settings: HarnessSettings) -> dict[str, str]:
    return infra_images(harness_settings)


@pytest.fixture
def run(docker_client: Any) -> Iterator[Any]:
    started: list[Any] = []

    def _run(image: str, **kwargs: Any) -> Any:
        container = docker_client.containers.run(image, detach=True, **kwargs)
        started.append(container)
        return container

    yield _run
    for container in started:
        container.remove(force=True)


async def test_postgres_runs_the_initdb_scripts(images: dict[str, str], run: Any) -> None:
    role = "svc" + secrets.token_hex(3)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "10-role.sh"
        script.write_text(
            'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres'
            f" -c \"CREATE ROLE {role} LOGIN PASSWORD 'x'\"\n"
        )
        Path(tmp).chmod(0o755)
        script.chmod(0o644)
        container = run(
            images["postgres"],
            environment={"POSTGRES_PASSWORD": "p", "PGDATA": "/tmp/pgdata"},  # noqa: S108 in the container
            volumes={tmp: {"bind": "/docker-entrypoint-initdb.d", "mode": "ro"}},
        )

        async def _roles() -> str:
            code, out = container.exec_run(
                ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-tAc",
                 f"SELECT rolname FROM pg_roles WHERE rolname = '{role}'"]  # noqa: S608 test constants
            )  # fmt: skip
            return out.decode().strip() if code == 0 else ""

        found = await poll_until(_roles, 60, f"role {role} made by the initdb script")
    assert found == role, f"expected the script's role, got {found!r}: {container.logs()[-800:]}"


async def test_opensearch_takes_settings_from_the_environment(
    images: dict[str, str], run: Any
) -> None:
    name = "env-" + secrets.token_hex(3)
    container = run(
        images["opensearch"],
        environment={
            "cluster.name": name,
            "node.name": "from-env",
            "discovery.type": "single-node",
            "OPENSEARCH_JAVA_OPTS": "-Xms256m -Xmx256m",
        },
        ports={"9200/tcp": ("127.0.0.1", None)},
    )

    async def _root() -> dict[str, Any]:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["9200/tcp"][0]["HostPort"]
        async with httpx.AsyncClient(timeout=3) as client:
            body: dict[str, Any] = (await client.get(f"http://127.0.0.1:{port}/")).json()
        return body

    body = await poll_until(_root, 180, "the local OpenSearch image to answer", interval=1.0)
    assert (body["cluster_name"], body["name"]) == (name, "from-env"), body
