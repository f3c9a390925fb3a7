"""NATS security against a real nats-server configured as the local stack configures it (TLS
from the harness's CA, the accounts rendered from topology.json): each service can do its job
with its own user and nothing else — a publish or subscription outside its allow-list is refused,
seen by the client (a permissions violation) and in the server's log; a client without the CA, a
plain-text client and a wrong password are refused; a user of another account sees nothing of
ALT_LAS; the system account answers monitoring requests that a service user may not make."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from harness.infra import nats_auth, tls
from harness.infra.nats import NatsSecurity, NatsServer, nats_binary
from harness.polling import poll_until
from harness.schemas import topology as declared_topology
from reference_services.common import topology
from reference_services.common.events import make_event
from reference_services.common.messaging import Messaging
from reference_services.common.settings import ServiceSettings

CID = "7a1e2a3c-1111-4222-8333-444455556667"
TOPOLOGY = declared_topology()
SERVICES = nats_auth.service_users(TOPOLOGY)


@dataclass
class Secured:
    server: NatsServer
    passwords: dict[str, str]
    ca: Path
    log: Path

    def settings(self, user: str, **kw: Any) -> ServiceSettings:
        return ServiceSettings(
            nats_url=self.server.url,
            service_name=user,
            nats_user=user,
            nats_password=self.passwords[user],
            nats_tls_ca=str(self.ca),
            stream_metrics_s=0,
            shutdown_grace_s=0.5,
            **kw,
        )

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def violations(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if "Violation" in line]


@pytest.fixture(scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Secured]:
    root = tmp_path_factory.mktemp("nats-secure")
    users = SERVICES + nats_auth.all_users()
    passwords = nats_auth.new_passwords(users)
    files = tls.ensure_server_tls(root / "tls", ["127.0.0.1", "localhost"])
    security = NatsSecurity(files, nats_auth.accounts_config(TOPOLOGY, passwords))
    log = root / "nats.log"
    async with NatsServer(root / "store", log, security=security) as server:
        yield Secured(server, passwords, files.ca, log)


async def _client(secured: Secured, user: str, errors: list[str] | None = None) -> Client:
    async def _error(exc: Exception) -> None:
        if errors is not None:
            errors.append(str(exc))

    return await nats.connect(
        secured.server.url,
        user=user,
        password=secured.passwords[user],
        tls=secured.context(),
        inbox_prefix=nats_auth.inbox_prefix(user),
        error_cb=_error,
        max_reconnect_attempts=0,
        connect_timeout=3,
    )


async def _until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    async def _check() -> bool:
        return check()

    await poll_until(_check, timeout, what)


def _refused(error: str, subject: str) -> bool:
    """The client's error names a permissions violation on `subject` (nats-py lowers it)."""
    return "permissions violation" in error.lower() and subject.lower() in error.lower()


def _status(n: int, stage: str) -> dict[str, Any]:
    return make_event(
        "status.changed",
        source=stage,
        subject=CID,
        correlation_id=f"sec-{n}",
        data={"command_id": CID, "stage": stage, "status": "running", "at": "2026-01-01T00:00:00Z"},
        event_id=f"sec-{stage}-{n}",
    )


async def test_each_service_does_its_job_with_its_own_user(secured: Secured) -> None:
    """Every service provisions the streams, creates its own durables, publishes its own
    status events and consumes its durable — the projection reads all three — and the server
    logs no violation while they do."""
    before = len(secured.violations())
    services = {user: Messaging(secured.settings(user)) for user in SERVICES}
    seen: list[str] = []

    async def projection(envelope: dict[str, Any]) -> None:
        seen.append(str(envelope["id"]))

    async def ignore(_envelope: dict[str, Any]) -> None:
        return None

    try:
        for messaging in services.values():
            await messaging.connect()
        services["gateway"].consume(topology.GATEWAY_PROJECTION, projection)
        for user, spec in (("segmentation", topology.SEGMENTATION), ("runner", topology.RUNNER),
                           ("archive", topology.ARCHIVE)):  # fmt: skip
            services[user].consume(spec, ignore)
        for n, stage in enumerate(("segmentation", "runner", "archive")):
            await services[stage].publish(topology.status_subject(stage), _status(n, stage))
        await _until(lambda: len(seen) == 3, timeout=15, what="the projection to read three events")
        assert sorted(seen) == ["sec-archive-2", "sec-runner-1", "sec-segmentation-0"]
        for messaging in services.values():
            assert await messaging.ready(), f"{messaging.settings.service_name} is not ready"
    finally:
        for messaging in services.values():
            await messaging.close()
    assert secured.violations()[before:] == [], "a service did its job outside its permissions"


# (publish or subscribe, user, what it tries, the subject): each outside the user's allow-list.
REFUSED = [
    ("publish", "segmentation", "publish another stage's event", "altlas.command.submitted"),
    ("publish", "segmentation", "publish another stage's status", "altlas.status.archive"),
    ("publish", "runner", "publish the archive's event", "altlas.atlas.created"),
    ("publish", "archive", "dead-letter as another consumer", "altlas.dlq.runner"),
    ("publish", "gateway", "publish a LAST", "altlas.last.created"),
    ("publish", "runner", "pull another's durable", "$JS.API.CONSUMER.MSG.NEXT.ALTLAS.archive"),
    ("publish", "archive", "delete the events stream", "$JS.API.STREAM.DELETE.ALTLAS"),
    ("publish", "gateway", "purge the events stream", "$JS.API.STREAM.PURGE.ALTLAS"),
    ("publish", "segmentation", "drop another durable", "$JS.API.CONSUMER.DELETE.ALTLAS.runner"),
    ("publish", "runner", "create a durable of its choosing", "$JS.API.CONSUMER.CREATE.ALTLAS.spy"),
    ("publish", "archive", "ack for another", "$JS.ACK.ALTLAS.gateway-projection.1.1.1.1.1"),
    ("publish", "segmentation", "count in the rate limiter", "altlas.ratelimit.login.x.1"),
    ("publish", "runner", "widen its durable", "$JS.API.CONSUMER.CREATE.ALTLAS.runner.altlas.>"),
    ("publish", "runner", "drop its durable's filter", "$JS.API.CONSUMER.CREATE.ALTLAS.runner"),
    ("publish", "gateway", "drop the runner's durable", "$JS.API.CONSUMER.DELETE.ALTLAS.runner"),
    ("subscribe", "segmentation", "read every event directly", "altlas.>"),
    ("subscribe", "runner", "read another service's replies", "_INBOX_archive.>"),
    ("subscribe", "gateway", "read the default inbox", "_INBOX.>"),
    ("subscribe", "archive", "read the system events", "$SYS.>"),
]  # fmt: skip


@pytest.mark.parametrize(("verb", "user", "what", "subject"), REFUSED)
async def test_what_is_outside_the_allow_list_is_refused(
    secured: Secured, verb: str, user: str, what: str, subject: str
) -> None:
    """Seen by the client as a permissions violation naming the subject, and in the
    server's log as a publish or subscription violation of that user."""
    errors: list[str] = []
    nc = await _client(secured, user, errors)
    try:
        if verb == "publish":
            await nc.publish(subject, b"{}")
        else:
            await nc.subscribe(subject)
        await nc.flush()
        await _until(lambda: bool(errors), timeout=5, what=f"{user}'s refusal to {what}")
    finally:
        await nc.close()
    assert any(
        "permissions violation" in e.lower() and subject.lower() in e.lower() for e in errors
    ), f"{user} tried to {what} ({subject}); expected a permissions violation, got {errors}"
    kind = "Publish Violation" if verb == "publish" else "Subscription Violation"
    await _until(
        lambda: any(
            kind in v and f'"{subject}"' in v and f"user:{user}" in v for v in secured.violations()
        ),
        timeout=5,
        what=f"the server to log {user}'s {kind.lower()} on {subject}",
    )


async def test_a_client_without_the_ca_is_refused(secured: Secured) -> None:
    """The system's trust store does not know the harness's CA: the handshake fails."""
    with pytest.raises(Exception) as caught:
        await nats.connect(
            secured.server.url,
            user="gateway",
            password=secured.passwords["gateway"],
            tls=ssl.create_default_context(),
            max_reconnect_attempts=0,
            allow_reconnect=False,
            connect_timeout=3,
        )
    assert "CERTIFICATE_VERIFY_FAILED" in repr(caught.value) or isinstance(
        caught.value, ssl.SSLError | nats.errors.NoServersError
    ), f"expected a certificate verification failure, got {caught.value!r}"


async def test_a_plain_text_client_is_refused(secured: Secured) -> None:
    """A client that logs in without upgrading to TLS (the protocol by hand) is answered
    with the server's refusal, its password never read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", secured.server.port)
    try:
        info = await asyncio.wait_for(reader.readline(), timeout=3)
        assert b'"tls_required":true' in info, f"the server does not demand TLS: {info!r}"
        login = {"user": "gateway", "pass": secured.passwords["gateway"], "verbose": False}
        writer.write(f"CONNECT {json.dumps(login)}\r\nPING\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), timeout=10)
    finally:
        writer.close()
    # The server waits for a TLS handshake, gets the plain CONNECT and hangs up (it logs
    # this only at debug level).
    assert b"PONG" not in answer, f"a plain-text client was served: {answer!r}"
    assert answer == b"" or b"-ERR" in answer, f"expected the connection closed: {answer!r}"


@pytest.mark.parametrize("user", ["gateway", "nobody"])
async def test_a_wrong_password_or_unknown_user_is_refused(secured: Secured, user: str) -> None:
    with pytest.raises(Exception) as caught:
        await nats.connect(
            secured.server.url,
            user=user,
            password="not-the-password",  # noqa: S106 the wrong one, on purpose
            tls=secured.context(),
            max_reconnect_attempts=0,
            allow_reconnect=False,
            connect_timeout=3,
        )
    assert "authorization" in repr(caught.value).lower() or isinstance(
        caught.value, nats.errors.NoServersError
    ), f"expected an authorization violation, got {caught.value!r}"
    await _until(
        lambda: f'authentication error - User "{user}"' in secured.log.read_text(),
        what=f"the server to log {user}'s failed login",
    )


async def test_another_account_sees_nothing(secured: Secured) -> None:
    """A user of another account subscribed to every subject receives nothing ALT_LAS
    publishes, and its JetStream has none of the ALT_LAS streams."""
    gateway = Messaging(secured.settings("gateway"))
    other = await _client(secured, nats_auth.OTHER_USER)
    received: list[str] = []

    async def _got(msg: Any) -> None:
        received.append(msg.subject)

    try:
        await gateway.connect()
        await other.subscribe(">", cb=_got)
        await other.flush()
        event = make_event(
            "command.submitted", source="gateway", subject=CID, correlation_id="sec-o",
            data={"command_id": CID, "command": "dosyaları listele", "mode": "normal",
                  "submitted_by": "u1", "submitted_at": "2026-01-01T00:00:00Z"},
            event_id="sec-other-1",
        )  # fmt: skip
        await gateway.publish(topology.SUBJECT_COMMAND_SUBMITTED, event)
        # The publish was stored (acknowledged) in ALTLAS; a round trip through the other
        # account's connection proves its subscription was in place before and after.
        await other.flush()
        leaked = [s for s in received if s.startswith("altlas.") or "ALTLAS" in s]
        names = json.loads((await other.request("$JS.API.STREAM.NAMES", b"{}", timeout=3)).data)
        info = json.loads((await other.request("$JS.API.STREAM.INFO.ALTLAS", b"", timeout=3)).data)
    finally:
        await gateway.close()
        await other.close()
    assert leaked == [], f"another account received ALT_LAS traffic: {leaked}"
    assert not (names.get("streams") or []), f"another account sees streams: {names}"
    assert info.get("error", {}).get("code") == 404, f"another account reads ALTLAS: {info}"


async def test_the_system_account_answers_what_a_service_may_not_ask(secured: Secured) -> None:
    system = await _client(secured, nats_auth.SYSTEM_USER)
    try:
        reply = await system.request("$SYS.REQ.SERVER.PING.JSZ", b"{}", timeout=3)
    finally:
        await system.close()
    assert json.loads(reply.data).get("data", {}).get("server_id"), reply.data
    errors: list[str] = []
    runner = await _client(secured, "runner", errors)
    try:
        with pytest.raises(Exception):  # noqa: B017 no reply: the request is refused
            await runner.request("$SYS.REQ.SERVER.PING.JSZ", b"{}", timeout=1)
    finally:
        await runner.close()
    assert any("permissions violation" in e.lower() for e in errors), errors


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` the rest."""
    want, got = pattern.split("."), subject.split(".")
    for n, part in enumerate(want):
        if part == ">":
            return len(got) > n
        if n >= len(got) or (part != "*" and part != got[n]):
            return False
    return len(want) == len(got)


def test_each_user_is_allowed_only_its_declared_subjects() -> None:
    """The rendered allow-lists, wildcards read as the server reads them, let no service
    create, delete, pull from or ack for another's durable, or publish another's events (a
    drift here widens what a compromised service could do)."""
    consumers = TOPOLOGY["consumers"]
    for user in SERVICES:
        allowed = nats_auth.permissions(TOPOLOGY, user)
        own = set(TOPOLOGY["clients"][user]["consumes"])
        own |= {n for n, c in consumers.items() if c.get("handler_of") in own}
        for durable, spec in consumers.items():
            if durable in own:
                continue
            stream = spec["stream"]
            for subject in (
                f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
                f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.{spec['filter_subjects'][0]}",
                f"$JS.API.CONSUMER.DELETE.{stream}.{durable}",
                f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
                f"$JS.ACK.{stream}.{durable}.1.1.1.1.1",
            ):
                hits = [p for p in allowed.publish if _matches(p, subject)]
                assert not hits, f"{user} may {subject} (allowed by {hits})"
        for other in SERVICES:
            if other != user:
                for subject in TOPOLOGY["clients"][other]["publishes"]:
                    hits = [p for p in allowed.publish if _matches(p, subject)]
                    assert not hits, f"{user} may publish {other}'s {subject} ({hits})"
        assert allowed.subscribe == (f"_INBOX_{user}.>",)


def test_kubernetes_carries_the_same_accounts() -> None:
    """The Kubernetes NATS config is this rendering with passwords from the environment."""
    path = Path(__file__).resolve().parents[2] / "deploy/kubernetes/base/files/nats-accounts.conf"
    expected = nats_auth.accounts_config(TOPOLOGY, None, other_account=False)
    assert path.read_text() == expected, (
        f"{path} differs from the topology's accounts: regenerate it with"
        " `python -m harness.infra.nats_auth > deploy/kubernetes/base/files/nats-accounts.conf`"
    )


def test_the_kubernetes_nats_config_is_valid_and_needs_every_password(tmp_path: Path) -> None:
    """nats-server checks the base's nats.conf with its accounts (`-t`), the mounted paths
    moved to files here; with one user's password missing from the environment it refuses."""
    files = tls.ensure_server_tls(tmp_path / "tls", ["nats"])
    base = Path(__file__).resolve().parents[2] / "deploy/kubernetes/base/files"
    conf = (base / "nats.conf").read_text()
    for mounted, here in (
        ("/etc/nats-tls/tls.crt", files.cert),
        ("/etc/nats-tls/tls.key", files.key),
        ("/etc/nats-tls/ca.crt", files.ca),
        ("/data/jetstream", tmp_path / "js"),
        ("/var/run/nats/nats.pid", tmp_path / "nats.pid"),
    ):
        assert mounted in conf, f"{mounted} is no longer in the base's nats.conf"
        conf = conf.replace(mounted, str(here))
    (tmp_path / "nats.conf").write_text(conf)
    (tmp_path / "nats-accounts.conf").write_text((base / "nats-accounts.conf").read_text())
    env = {
        "PATH": os.environ.get("PATH", ""),
        "POD_NAME": "nats-0",
        "JETSTREAM_MAX_FILE_STORE": "1GB",
        "CLUSTER_ADVERTISE": "nats-0.nats-headless:6222",
    }
    env |= {nats_auth.env_name(u): "pw" for u in [*SERVICES, "admin", "sys"]}
    check = [nats_binary(), "-t", "-c", str(tmp_path / "nats.conf")]
    done = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    del env[nats_auth.env_name("runner")]
    done = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0, "a config with a user's password missing must not load"
    assert "NATS_RUNNER_PASSWORD" in done.stdout + done.stderr, done.stdout + done.stderr
