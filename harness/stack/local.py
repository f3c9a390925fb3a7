"""The `local` target: real NATS, PostgreSQL and OpenSearch plus the four services as processes.

Everything listens on free loopback ports, keeps its data and logs under the state dir, and is
started in its own session so that `harness up` can return while the stack keeps running.
`down` stops processes in reverse order and checks that none is left.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from harness import schemas
from harness.errors import HarnessError
from harness.infra import nats_auth, oidc, tls, vault
from harness.infra._process import (
    ManagedProcess,
    ProcessRecord,
    free_port,
    pid_alive,
    poll,
    terminate_pid,
)
from harness.infra.nats import NatsCluster, NatsSecurity, NatsServer
from harness.infra.objectstore import ObjectStore, versitygw_binary
from harness.infra.postgres import PostgresServer, WalArchiving, clear_stale_lock, pgtools_bindir
from harness.infra.services import ServiceProcess
from harness.infra.toxiproxy import Link, ToxiproxyServer, make_link, toxiproxy_binary
from harness.settings import HarnessSettings
from harness.stack.state import StackState

log = logging.getLogger(__name__)

# Demo users of the local stack only; the gateway never seeds users unless told to.
DEMO_USERS = {
    "admin": {"username": "demo-admin", "password": "demo-admin-pass"},
    "user": {"username": "demo-user", "password": "demo-user-pass"},
    "viewer": {"username": "demo-viewer", "password": "demo-viewer-pass"},
}
# Accounts for load tests (role user): the gateway rate-limits per account, and real traffic
# comes from many accounts, so Locust's simulated users spread over these.
LOAD_USERS = {
    "usernames": ",".join(f"load-user-{i:02d}" for i in range(1, 17)),
    "password": "load-user-pass",
}
# A second ordinary user for the checks that one user cannot reach another's commands
# (scenarios/security): the last load account, which a load test spreads over like the rest.
OTHER_USER = {
    "username": LOAD_USERS["usernames"].rsplit(",", 1)[-1],
    "password": LOAD_USERS["password"],
}
# What the stacks this harness starts record as their credentials (stack.json).
STACK_CREDENTIALS: dict[str, dict[str, str]] = {
    **DEMO_USERS,
    "load": LOAD_USERS,
    "other": OTHER_USER,
}
DATABASES = ("gateway", "runner", "archive")
STOP_ORDER = (
    "gateway",
    "segmentation",
    "runner",
    "archive",
    "oidc",
    "vault",
    "toxiproxy",
    "opensearch",
    "postgres",
    "objectstore",
    "nats",
)

Progress = Callable[[str], None]


class Component(Protocol):
    async def start(self) -> None: ...

    def record(self) -> ProcessRecord: ...


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _jwt_key(path: Path) -> str:
    if path.exists():
        return path.read_text()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pem)
    path.chmod(0o600)
    return pem


async def up(settings: HarnessSettings, progress: Progress = _stderr) -> StackState:
    """Start the whole stack and write the state file; on any failure, stop what was started."""
    root = settings.state_dir.resolve()
    if settings.state_file.exists():
        raise HarnessError(
            f"a stack is already described by {settings.state_file}; run `harness down` first"
        )
    data, logs = root / "data", root / "logs"
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    started: list[tuple[str, ProcessRecord]] = []
    t0 = time.perf_counter()
    notes: list[str] = []
    binary = toxiproxy_binary() if settings.toxiproxy else None
    links: list[Link] = []

    def via(link: str, upstream: str) -> str:
        """The address a client uses for a dependency: a proxy when Toxiproxy is on."""
        if binary is None:
            return upstream
        made = make_link(link, upstream)
        links.append(made)
        return made.listen

    try:
        security, nats_passwords = _nats_security(settings, root / "secrets")
        cluster: NatsCluster | None = None
        if settings.nats_cluster > 1:
            # Each route between two nodes through a proxy of its own: a node can be cut off.
            cluster = NatsCluster(
                data,
                logs,
                settings.nats_cluster,
                sync_interval=settings.nats_sync,
                link=via,
                security=security,
            )
            nodes = cluster.nodes
        else:
            nodes = [
                NatsServer(
                    data / "nats",
                    logs / "nats.log",
                    sync_interval=settings.nats_sync,
                    security=security,
                )
            ]
        store, archiving = None, None
        if settings.backups:
            store, archiving, missing = _backup_parts(settings, data, logs)
            if missing:
                notes.append(missing)
        postgres = PostgresServer(data / "postgres", logs / "postgres.log", archiving=archiving)
        opensearch = None
        if settings.opensearch_url is None:
            from harness.infra.opensearch import OpenSearchServer, resolve_distribution

            home = await asyncio.to_thread(resolve_distribution, settings.cache_dir.resolve())
            opensearch = OpenSearchServer(
                home, data / "opensearch", logs / "opensearch.log", heap=settings.opensearch_heap
            )
        else:
            notes.append(f"using the existing OpenSearch at {settings.opensearch_url}")

        async def _start(name: str, component: Component) -> None:
            progress(f"starting {name}…")
            t = time.perf_counter()
            await component.start()
            started.append((name, component.record()))
            progress(f"  {name} ready in {time.perf_counter() - t:.1f}s")

        if store is not None:
            await _start("objectstore", store)  # before PostgreSQL archives its first segment
        infra = [_start(n.process.name, n) for n in nodes] + [_start("postgres", postgres)]
        if opensearch is not None:
            infra.append(_start("opensearch", opensearch))
        script = oidc.provider_script()
        idp = oidc.OidcProvider(script, data / "oidc", logs / "oidc.log") if script else None
        bao = vault.bao_binary()
        secret_store = (
            vault.SecretStoreServer(bao, data / "vault", logs / "vault.log") if bao else None
        )
        if secret_store is not None:
            infra.append(_start("vault", secret_store))
        else:
            notes.append("OpenBao not found (make setup): the gateway's key is in its environment")
        if idp is not None:
            infra.append(_start("oidc", idp))
        else:
            notes.append(
                "OpenID provider not installed (make setup; needs Node.js): the gateway accepts"
                " only its own tokens"
            )
        await _gather_all(infra)
        await postgres.create_databases(*DATABASES)
        jwt_key = _jwt_key(root / "secrets" / "jwt.pem")
        if secret_store is not None:
            await secret_store.provision(jwt_private_key=jwt_key, jwt_key_id="altlas-1")
            # The gateway reads its key and pepper from the store; its environment has neither.
            # A development stack: a rotation in the store reaches the gateway within 3 s.
            key_env = {**secret_store.gateway_env(), "ALTLAS_VAULT_REFRESH_S": "3"}
        else:
            key_env = {"ALTLAS_JWT_PRIVATE_KEY": jwt_key}
        os_url = opensearch.url if opensearch is not None else settings.opensearch_url
        if os_url is None:  # either the embedded node (opensearch_url unset) or the URL: never
            raise RuntimeError("no OpenSearch to give the archive")

        archive_port = free_port()
        if settings.toxiproxy and binary is None:
            notes.append(
                "Toxiproxy not found (run `make toxiproxy`, or put toxiproxy-server on PATH):"
                " links are direct and network faults are unavailable"
            )

        def nats_for(service: str) -> str:
            """The service's NATS URL: one server, or every node of the cluster (a link
            each), comma-separated."""
            scheme = nodes[0].scheme
            if cluster is None:
                return f"{scheme}://{via(f'{service}->nats', f'127.0.0.1:{nodes[0].port}')}"
            return ",".join(
                f"{scheme}://{via(f'{service}->{n.process.name}', f'127.0.0.1:{n.port}')}"
                for n in nodes
            )

        pg_at = f"127.0.0.1:{postgres.port}"
        archive_at = f"127.0.0.1:{archive_port}"
        os_at = os_url.split("://", 1)[-1].rstrip("/")
        base = {"ALTLAS_LOG_LEVEL": settings.log_level}
        if settings.test_mode:
            # Test-only endpoints (the archive's Pact provider states); never on by default.
            base["ALTLAS_TEST_MODE"] = "true"
            notes.append("test mode: test-only endpoints are mounted (HARNESS_TEST_MODE=1)")
        services = {
            "segmentation": ServiceProcess(
                "segmentation",
                {**base, "ALTLAS_NATS_URL": nats_for("segmentation")},
                logs / "segmentation.log",
            ),
            "runner": ServiceProcess(
                "runner",
                {
                    **base,
                    "ALTLAS_NATS_URL": nats_for("runner"),
                    "ALTLAS_DATABASE_URL": postgres.url("runner", via("runner->postgres", pg_at)),
                },
                logs / "runner.log",
            ),
            "archive": ServiceProcess(
                "archive",
                {
                    **base,
                    "ALTLAS_NATS_URL": nats_for("archive"),
                    "ALTLAS_DATABASE_URL": postgres.url("archive", via("archive->postgres", pg_at)),
                    "ALTLAS_OPENSEARCH_URL": f"http://{via('archive->opensearch', os_at)}",
                    # A development stack: statistics a few seconds old, not a minute.
                    "ALTLAS_STATS_REFRESH_S": "5",
                },
                logs / "archive.log",
                port=archive_port,
            ),
        }
        services["gateway"] = ServiceProcess(
            "gateway",
            {
                **base,
                "ALTLAS_NATS_URL": nats_for("gateway"),
                "ALTLAS_DATABASE_URL": postgres.url("gateway", via("gateway->postgres", pg_at)),
                "ALTLAS_ARCHIVE_URL": f"http://{via('gateway->archive', archive_at)}",
                **key_env,
                **({"ALTLAS_OIDC_ISSUER": idp.issuer} if idp is not None else {}),
                "ALTLAS_SEED_USERS": json.dumps(
                    [{**u, "role": role} for role, u in DEMO_USERS.items()]
                    + [
                        {"username": name, "password": LOAD_USERS["password"], "role": "user"}
                        for name in LOAD_USERS["usernames"].split(",")
                    ]
                ),
            },
            logs / "gateway.log",
        )
        # The portal (/portal) shows the other services' documents too.
        services["gateway"].process.env["ALTLAS_PORTAL_OPENAPI_URLS"] = json.dumps(
            {name: f"{svc.url}/openapi.json" for name, svc in services.items() if name != "gateway"}
        )
        # Every service writes its trace spans beside the others (`harness trace COMMAND_ID`).
        for name, svc in services.items():
            svc.process.env["ALTLAS_TRACE_FILE"] = str(root / "traces" / f"{name}.jsonl")
            if cluster is not None:
                svc.process.env["ALTLAS_NATS_REPLICAS"] = str(len(nodes))
            if security is not None:
                # Its own NATS user, allowed only its subjects; the CA of the server's TLS.
                svc.process.env["ALTLAS_NATS_USER"] = name
                svc.process.env["ALTLAS_NATS_PASSWORD"] = nats_passwords[name]
                svc.process.env["ALTLAS_NATS_TLS_CA"] = str(security.tls.ca)
        toxiproxy = None
        if binary is not None:
            toxiproxy = ToxiproxyServer(binary, data / "toxiproxy", logs / "toxiproxy.log", links)
            await _start("toxiproxy", toxiproxy)
        if cluster is not None:
            # The routes run through Toxiproxy, so the nodes meet only now.
            progress(f"waiting for the {len(nodes)} NATS nodes to form a cluster…")
            await cluster.wait_meshed()
        await _gather_all([_start(name, svc) for name, svc in services.items()])
    except BaseException:
        progress("start-up failed; stopping what was started")
        await _stop_records([r for _, r in started], progress)
        raise
    endpoints = {
        **{name: svc.url for name, svc in services.items()},
        "nats": cluster.url if cluster is not None else nodes[0].url,
        **({n.process.name: n.url for n in nodes} if cluster is not None else {}),
        "postgres": postgres.url(),
        "opensearch": os_url,
    }
    if toxiproxy is not None:
        endpoints["toxiproxy"] = toxiproxy.url
    credentials = dict(STACK_CREDENTIALS)
    if security is not None:
        # The harness is the account's operator; the other users are the services'.
        endpoints["nats_ca"] = str(security.tls.ca)
        credentials["nats"] = {
            "username": nats_auth.ADMIN_USER,
            "password": nats_passwords[nats_auth.ADMIN_USER],
        }
        credentials["nats-system"] = {
            "username": nats_auth.SYSTEM_USER,
            "password": nats_passwords[nats_auth.SYSTEM_USER],
        }
    if secret_store is not None:
        endpoints["vault"] = secret_store.addr
        credentials["vault"] = secret_store.credentials()
    if idp is not None:
        endpoints["oidc"] = idp.issuer
        credentials.update(idp.credentials())
    if store is not None:
        endpoints["objectstore"] = store.url
        credentials["objectstore"] = store.location.to_json()
    state = StackState(
        target="local",
        endpoints=endpoints,
        credentials=credentials,
        processes=dict(started),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        state_dir=str(root),
        notes=notes,
    )
    state.save(settings.state_file)
    progress(f"stack up in {time.perf_counter() - t0:.1f}s")
    return state


def _nats_security(
    settings: HarnessSettings, secrets: Path
) -> tuple[NatsSecurity | None, dict[str, str]]:
    """TLS files from the harness's CA and a password per NATS user (made once per state
    directory, kept 0600 beside the stack's other secrets), or none when nats_secure is off."""
    if not settings.nats_secure:
        return None, {}
    declared = schemas.topology()
    users = nats_auth.service_users(declared) + nats_auth.all_users()
    path = secrets / "nats-users.json"
    passwords: dict[str, str] = {}
    if path.exists():
        passwords = json.loads(path.read_text())
    if set(users) - set(passwords):
        passwords = {**nats_auth.new_passwords(users), **passwords}
        tls.write_private(path, json.dumps(passwords, indent=2).encode())
    files = tls.ensure_server_tls(secrets / "nats-tls", ["127.0.0.1", "localhost"])
    return NatsSecurity(files, nats_auth.accounts_config(declared, passwords)), passwords


def _backup_parts(
    settings: HarnessSettings, data: Path, logs: Path
) -> tuple[ObjectStore | None, WalArchiving | None, str | None]:
    """The object store and the WAL archiving it receives, or a note saying what is missing."""
    binary, tools = versitygw_binary(), pgtools_bindir()
    missing = [
        what
        for what, found in (
            ("versitygw (make versitygw)", binary),
            ("barman-cloud (make pgtools)", tools),
        )
        if found is None
    ]
    if binary is None or tools is None:
        return None, None, f"backups off: {' and '.join(missing)} not found"
    store = ObjectStore(binary, data / "objectstore", logs / "objectstore.log")
    return store, WalArchiving(tools, store.location, settings.archive_timeout_s), None


async def _gather_all(aws: Sequence[Awaitable[Any]]) -> None:
    """Like gather, but waits for every task to finish before raising the first error."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r


def stop_rank(name: str) -> int:
    """Where a component stops in STOP_ORDER (a cluster's NATS nodes stop where NATS does)."""
    order = {n: i for i, n in enumerate(STOP_ORDER)}
    return order.get("nats" if name.startswith("nats-") else name, -1)


async def _stop_records(records: list[ProcessRecord], progress: Progress) -> list[str]:
    survivors = []
    for record in sorted(records, key=lambda r: stop_rank(r.name)):
        if not pid_alive(record.pid):
            continue
        progress(f"stopping {record.name} (pid {record.pid})…")
        try:
            await terminate_pid(record.pid, record.name)
        except HarnessError as exc:
            survivors.append(str(exc))
    return survivors


async def restart(
    settings: HarnessSettings,
    name: str,
    *,
    timeout_s: float = 120.0,
    progress: Progress = _stderr,
) -> StackState:
    """Stop one component (SIGTERM, then SIGKILL after its grace), start it again with the same
    command, data and port, wait until it is healthy, and record its new pid."""
    from harness.stack.health import check_stack
    from harness.stack.state import load_state

    state = load_state(settings)
    record = state.processes.get(name)
    if record is None:
        raise HarnessError(
            f"no process named {name!r}; known: {', '.join(sorted(state.processes))}"
        )
    if pid_alive(record.pid):
        progress(f"stopping {name} (pid {record.pid})…")
        await terminate_pid(record.pid, name)
    if name == "postgres":
        clear_stale_lock(record.argv)
    process = ManagedProcess.from_record(record)
    process.start()
    state.processes[name] = process.record(**record.extra)
    state.save(settings.state_file)
    progress(f"started {name} again (pid {process.pid}); waiting until it is healthy…")

    async def _healthy() -> bool:
        process.check_alive()
        health = {h.name: h for h in await check_stack(state)}
        return health[name].healthy

    await poll(_healthy, timeout_s, f"{name} to be healthy after its restart")
    return state


async def down(settings: HarnessSettings, state: StackState, progress: Progress = _stderr) -> None:
    survivors = await _stop_records(list(state.processes.values()), progress)
    if survivors:
        raise HarnessError("some processes could not be stopped: " + "; ".join(survivors))
    settings.state_file.unlink(missing_ok=True)
    progress("stack stopped")
