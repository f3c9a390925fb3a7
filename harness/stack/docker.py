"""The `docker` target: the four service images plus NATS, PostgreSQL and OpenSearch as
containers on one network, started with testcontainers.

Images: the services are built from `deploy/docker/Dockerfile` (cached layers make a rebuild
with nothing changed take seconds); dependencies use the configured images, or equivalents
built from the local stack's binaries where none can be pulled (`harness.containers.infra`).
Containers reach each other by network alias (`nats`, `postgres`, `archive`, …) on a network
with a fixed subnet, so a container disconnected by a fault comes back with its own address.
Every port is published on 127.0.0.1 at a port chosen here, so a restarted container keeps the
endpoint its clients hold. The state file records each container (id, host pid of its main
process, image, aliases) in `processes`, so status, faults and `harness down` find them.
Ryuk is off: like the local stack, this one outlives the process that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from harness.containers import engine
from harness.errors import ComponentFailed, HarnessError, ReadinessTimeout
from harness.infra._process import ProcessRecord, free_port, poll
from harness.settings import HarnessSettings
from harness.stack import local
from harness.stack.state import StackState

Progress = Callable[[str], None]

SERVICES = ("segmentation", "runner", "archive", "gateway")
SERVICE_PORT = 8080
PG_USER = "altlas"
LABEL_STACK = "io.altlas.stack"
LABEL_COMPONENT = "io.altlas.component"
# Subnets tried for the stack's network, from a random start (two stacks may run at once).
SUBNET_POOL = ipaddress.ip_network("10.213.0.0/16")
READY_TIMEOUT_S = {"nats": 60.0, "postgres": 90.0, "opensearch": 180.0}
SERVICE_READY_TIMEOUT_S = 120.0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _jwt_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def nats_config(sync_interval: str) -> str:
    """The server's config: JetStream with an explicit fsync policy (see harness.infra.nats)."""
    return f"""# written by harness.stack.docker
host: 0.0.0.0
port: 4222
http: 0.0.0.0:8222
server_name: altlas-nats
max_payload: 8MB
jetstream {{
  store_dir: "/data/jetstream"
  sync_interval: {sync_interval}
  max_memory_store: 256MB
  max_file_store: 4GB
}}
"""


def credentials() -> dict[str, Any]:
    """What the local target seeds and records: the demo users and Locust's load accounts."""
    return dict(local.STACK_CREDENTIALS)


ROLES = ("admin", "user", "viewer")


def seed_users(creds: dict[str, Any]) -> list[dict[str, str]]:
    # "other" is one of the load accounts, seeded below with them.
    users = [{**u, "role": role} for role, u in creds.items() if role in ROLES and "username" in u]
    load_users = creds.get("load")
    if load_users:
        users += [
            {"username": name, "password": load_users["password"], "role": "user"}
            for name in load_users["usernames"].split(",")
        ]
    return users


def _create_network(docker_client: Any, name: str, labels: dict[str, str]) -> Any:
    """A bridge network with an explicit subnet (needed to reconnect with a fixed address)."""
    import docker

    subnets = list(SUBNET_POOL.subnets(new_prefix=24))
    start = random.randrange(len(subnets))
    for subnet in subnets[start:] + subnets[:start]:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
        try:
            return docker_client.networks.create(name, driver="bridge", ipam=ipam, labels=labels)
        except docker.errors.APIError as exc:
            if "overlap" not in str(exc).lower():
                raise
    raise HarnessError(f"no free /24 left in {SUBNET_POOL} for the stack's network")


class _Stack:
    """What `up` is building, so a failure part-way can remove exactly what was created."""

    def __init__(self, settings: HarnessSettings, progress: Progress) -> None:
        self.settings = settings
        self.progress = progress
        self.id = secrets.token_hex(3)
        self.labels = {LABEL_STACK: self.id}
        self.client = engine.client()
        self.network: Any = None
        self.containers: dict[str, Any] = {}  # testcontainers DockerContainer by component
        self.ports: dict[str, dict[int, int]] = {}

    def name(self, component: str) -> str:
        return f"altlas-{self.id}-{component}"

    def container(
        self,
        component: str,
        image: str,
        env: dict[str, str],
        ports: Sequence[int],
        command: list[str] | None = None,
        files: dict[str, bytes] | None = None,
    ) -> Any:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.network import Network

        network = Network()
        network.name = self.network.name
        tc = DockerContainer(image).with_name(self.name(component))
        tc.with_network(network).with_network_aliases(component)
        for key, value in env.items():
            tc.with_env(key, value)
        published = {port: free_port() for port in ports}
        for port, host_port in published.items():
            # Loopback only. testcontainers types a host port as an int; the engine API also
            # takes (address, port), which is what keeps the stack off the machine's network.
            tc.ports[str(port)] = ("127.0.0.1", host_port)  # type: ignore[assignment]
        if command is not None:
            tc.with_command(command)
        for path, data in (files or {}).items():
            tc.with_copy_into_container(data, path)
        tc.with_kwargs(labels={**self.labels, LABEL_COMPONENT: component}, init=True)
        self.ports[component] = published
        self.containers[component] = tc
        return tc

    def url(self, component: str, port: int, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.ports[component][port]}"

    def record(self, component: str, extra: dict[str, Any]) -> ProcessRecord:
        wrapped = self.containers[component].get_wrapped_container()
        wrapped.reload()
        attrs = wrapped.attrs
        return ProcessRecord(
            name=component,
            pid=int(attrs["State"]["Pid"]),
            argv=[attrs["Config"]["Image"], *(attrs["Config"].get("Cmd") or [])],
            env={},
            cwd="",
            log=str(attrs.get("LogPath", "")),
            extra={
                "container_id": wrapped.id,
                "container": wrapped.name,
                "image": attrs["Config"]["Image"],
                "network": self.network.name,
                "aliases": [component],
                "ports": {str(k): v for k, v in self.ports[component].items()},
                **extra,
            },
        )

    def log_tail(self, component: str, lines: int = 30) -> str:
        wrapped = self.containers[component].get_wrapped_container()
        return str(wrapped.logs(tail=lines).decode(errors="replace"))

    def alive(self, component: str) -> Callable[[], None]:
        """Raise ComponentFailed when the container has exited (with the end of its log)."""
        wrapped = self.containers[component].get_wrapped_container()

        def _check() -> None:
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                code = wrapped.attrs["State"].get("ExitCode")
                raise ComponentFailed(component, code, self.log_tail(component))

        return _check

    def remove_all(self) -> None:
        remove_stack(self.client, self.id, self.progress)


def remove_stack(docker_client: Any, stack_id: str, progress: Progress) -> list[str]:
    """Remove every container and network labelled with this stack id; returns failures."""
    import docker

    failures = []
    selector = {"label": f"{LABEL_STACK}={stack_id}"}
    for container in docker_client.containers.list(all=True, filters=selector):
        progress(f"removing {container.name}…")
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            failures.append(f"{container.name}: {exc}")
    for network in docker_client.networks.list(filters=selector):
        try:
            network.remove()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            failures.append(f"network {network.name}: {exc}")
    return failures


async def _gather_all(aws: Sequence[Awaitable[Any]]) -> None:
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r


async def _nats_ready(monitor_url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as client:
        resp = await client.get(f"{monitor_url}/healthz?js-enabled-only=true")
        return resp.status_code == 200


async def _postgres_ready(url: str) -> bool:
    conn = await asyncpg.connect(url, timeout=2)
    await conn.close()
    return True


async def _opensearch_ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=3) as client:
        resp = await client.get(f"{url}/_cluster/health")
        return resp.status_code == 200 and resp.json().get("status") in ("yellow", "green")


async def _service_ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=3) as client:
        return (await client.get(f"{url}/readyz")).status_code == 200


async def _create_databases(url: str, names: Sequence[str]) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _images(settings: HarnessSettings, progress: Progress) -> dict[str, str]:
    from harness.containers.images import build_service_images
    from harness.containers.infra import infra_images

    images = infra_images(settings, progress)
    images.update(
        build_service_images(tag=settings.docker_tag, progress=progress, settings=settings)
    )
    return images


async def up(settings: HarnessSettings, progress: Progress = _stderr) -> StackState:
    """Build or find the images, start every container, wait until each is ready, write the
    state file; on any failure, remove what was started."""
    if settings.state_file.exists():
        raise HarnessError(
            f"a stack is already described by {settings.state_file}; run `harness down` first"
        )
    from testcontainers.core.config import testcontainers_config

    # Ryuk would remove the containers when this process exits; `harness down` does instead.
    testcontainers_config.ryuk_disabled = True
    t0 = time.perf_counter()
    await asyncio.to_thread(engine.ensure_engine, progress=progress)
    images = await asyncio.to_thread(_images, settings, progress)
    t_images = time.perf_counter() - t0
    stack = _Stack(settings, progress)
    notes = [
        f"containers on docker network altlas-{stack.id}; images: "
        + ", ".join(f"{k}={v}" for k, v in images.items())
    ]
    records: dict[str, ProcessRecord] = {}
    try:
        stack.network = await asyncio.to_thread(
            _create_network, stack.client, f"altlas-{stack.id}", stack.labels
        )
        pg_password = secrets.token_urlsafe(18)
        stack.container(
            "nats",
            images["nats"],
            {},
            [4222, 8222],
            command=["-c", "/etc/nats/altlas.conf"],
            files={"/etc/nats/altlas.conf": nats_config(settings.nats_sync).encode()},
        )
        stack.container(
            "postgres",
            images["postgres"],
            {"POSTGRES_USER": PG_USER, "POSTGRES_PASSWORD": pg_password},
            [5432],
            command=[
                "postgres",
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
            ],
        )
        stack.container(
            "opensearch",
            images["opensearch"],
            {
                # The official image's switches (the local image has them built in).
                "discovery.type": "single-node",
                "DISABLE_SECURITY_PLUGIN": "true",
                "DISABLE_INSTALL_DEMO_CONFIG": "true",
                "OPENSEARCH_JAVA_OPTS": f"-Xms{settings.opensearch_heap} "
                f"-Xmx{settings.opensearch_heap}",
            },
            [9200],
        )
        nats_url = stack.url("nats", 4222, "nats")
        monitor_url = stack.url("nats", 8222)
        pg_at = f"127.0.0.1:{stack.ports['postgres'][5432]}"
        pg_url = f"postgresql://{PG_USER}:{pg_password}@{pg_at}/postgres"
        os_url = stack.url("opensearch", 9200)
        checks: dict[str, Callable[[], Awaitable[bool]]] = {
            "nats": lambda: _nats_ready(monitor_url),
            "postgres": lambda: _postgres_ready(pg_url),
            "opensearch": lambda: _opensearch_ready(os_url),
        }
        extras: dict[str, dict[str, Any]] = {
            "nats": {"url": nats_url, "monitor_url": monitor_url},
            "postgres": {"url": pg_url},
            "opensearch": {"url": os_url},
        }

        async def _start(
            component: str, check: Callable[[], Awaitable[bool]], timeout: float
        ) -> None:
            progress(f"starting {component} ({stack.containers[component].image})…")
            t = time.perf_counter()
            await asyncio.to_thread(stack.containers[component].start)
            try:
                await poll(
                    check,
                    timeout,
                    f"{component} container to be ready",
                    interval_s=0.2,
                    alive=stack.alive(component),
                )
            except ReadinessTimeout as exc:
                exc.detail += f"\nlast lines of its log:\n{stack.log_tail(component)}"
                raise
            records[component] = await asyncio.to_thread(stack.record, component, extras[component])
            progress(f"  {component} ready in {time.perf_counter() - t:.1f}s")

        await _gather_all([_start(name, checks[name], READY_TIMEOUT_S[name]) for name in checks])
        await _create_databases(pg_url, local.DATABASES)

        def in_net(db: str) -> str:
            return f"postgresql://{PG_USER}:{pg_password}@postgres:5432/{db}"

        base = {"ALTLAS_LOG_LEVEL": settings.log_level, "ALTLAS_NATS_URL": "nats://nats:4222"}
        if settings.test_mode:
            base["ALTLAS_TEST_MODE"] = "true"
            notes.append("test mode: test-only endpoints are mounted (HARNESS_TEST_MODE=1)")
        creds = credentials()
        env = {
            "segmentation": dict(base),
            "runner": {**base, "ALTLAS_DATABASE_URL": in_net("runner")},
            "archive": {
                **base,
                "ALTLAS_DATABASE_URL": in_net("archive"),
                "ALTLAS_OPENSEARCH_URL": "http://opensearch:9200",
            },
            "gateway": {
                **base,
                "ALTLAS_DATABASE_URL": in_net("gateway"),
                "ALTLAS_ARCHIVE_URL": f"http://archive:{SERVICE_PORT}",
                "ALTLAS_JWT_PRIVATE_KEY": _jwt_key(),
                "ALTLAS_SEED_USERS": json.dumps(seed_users(creds)),
                "ALTLAS_PORTAL_OPENAPI_URLS": json.dumps(
                    {
                        name: f"http://{name}:{SERVICE_PORT}/openapi.json"
                        for name in ("segmentation", "runner", "archive")
                    }
                ),
            },
        }
        for name in SERVICES:
            stack.container(name, images[name], env[name], [SERVICE_PORT])
            url = stack.url(name, SERVICE_PORT)
            extras[name] = {"url": url}
            checks[name] = (lambda u: lambda: _service_ready(u))(url)
        await _gather_all(
            [_start(name, checks[name], SERVICE_READY_TIMEOUT_S) for name in SERVICES]
        )
    except BaseException:
        progress("start-up failed; removing what was started")
        with contextlib.suppress(Exception):
            await asyncio.to_thread(stack.remove_all)
        raise
    finally:
        stack.client.close()
    endpoints = {name: extras[name]["url"] for name in SERVICES}
    endpoints.update(nats=nats_url, postgres=pg_url, opensearch=os_url)
    state = StackState(
        target="docker",
        endpoints=endpoints,
        credentials=creds,
        processes={name: records[name] for name in (*SERVICES, "nats", "postgres", "opensearch")},
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        state_dir=str(settings.state_dir.resolve()),
        notes=notes,
    )
    state.save(settings.state_file)
    total = time.perf_counter() - t0
    progress(
        f"stack up in {total:.1f}s (images {t_images:.1f}s, containers {total - t_images:.1f}s)"
    )
    return state


def stack_id(state: StackState) -> str | None:
    for record in state.processes.values():
        network = str(record.extra.get("network", ""))
        if network.startswith("altlas-"):
            return network.removeprefix("altlas-")
    return None


async def down(settings: HarnessSettings, state: StackState, progress: Progress = _stderr) -> None:
    """Remove every container and the network of the stack; the state file goes last."""
    ident = stack_id(state)
    if ident is None:
        raise HarnessError("the state file names no docker stack (no container network recorded)")

    def _remove() -> list[str]:
        engine.ensure_engine(progress=progress)  # after a reboot, dockerd may not be running
        docker_client = engine.client()
        try:
            return remove_stack(docker_client, ident, progress)
        finally:
            docker_client.close()

    failures = await asyncio.to_thread(_remove)
    if failures:
        raise HarnessError("some containers could not be removed: " + "; ".join(failures))
    settings.state_file.unlink(missing_ok=True)
    progress("stack stopped")


def print_logs(state: StackState, name: str, lines: int = 100, follow: bool = False) -> None:
    """Print the last `lines` lines a component's container wrote (stdout and stderr), and
    with `follow` keep printing until interrupted: `docker logs [-f]`."""
    record = state.processes.get(name)
    if record is None or "container_id" not in record.extra:
        known = ", ".join(sorted(state.processes))
        raise HarnessError(f"no container named {name!r}; known: {known}")
    docker_client = engine.client()
    try:
        container = docker_client.containers.get(record.extra["container_id"])
        if not follow:
            sys.stdout.write(container.logs(tail=lines).decode(errors="replace"))
            return
        with contextlib.suppress(KeyboardInterrupt):
            for chunk in container.logs(tail=lines, stream=True, follow=True):
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
    finally:
        docker_client.close()
