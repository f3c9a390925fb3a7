"""NATS accounts for ALT_LAS: one user per service with exactly its subjects, an operator, the
system account; rendered from the declared topology (`topology.json`'s `clients`).

A service user may publish its own events and dead letters, read and provision the pipeline
streams (create, update, info — never delete or purge), create, read and pull its own durables
and ack their messages, and receive replies on its own inbox prefix (`_INBOX_<user>.>`) — the
only subscription it is allowed, so it cannot read another service's replies or any event
subject directly. `admin` (the harness, an operator) may do anything in the account. `sys` is
the system account's user, for monitoring (`$SYS.>`). `OTHER` is an account that shares nothing
with ALT_LAS: its user must see none of it.

Pure: the caller passes the topology document and how passwords are written (the plain value,
or a `$VARIABLE` the server reads from its environment, as on Kubernetes).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACCOUNT = "ALTLAS"
SYSTEM_ACCOUNT = "SYS"
OTHER_ACCOUNT = "OTHER"
ADMIN_USER = "admin"
SYSTEM_USER = "sys"
OTHER_USER = "other"
PIPELINE_STREAMS = ("ALTLAS", "ALTLAS_DLQ", "ALTLAS_REDRIVE")


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def inbox_prefix(user: str) -> str:
    return f"_INBOX_{user}"


def service_users(topology: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in topology.get("clients", {}) if not k.startswith("_"))


def permissions(topology: Mapping[str, Any], user: str) -> Permissions:
    """What `user` (a service declared under `clients`) may publish and subscribe to."""
    clients = topology.get("clients", {})
    if user not in clients or user.startswith("_"):
        raise ValueError(f"no NATS client {user!r} is declared in topology.json's clients")
    client = clients[user]
    consumers = topology["consumers"]
    durables: list[tuple[str, str]] = []  # (stream, durable)
    owners: list[str] = []
    for name in client.get("consumes", []):
        if name not in consumers:
            raise ValueError(f"client {user} consumes {name!r}, which is not declared")
        owners.append(name)
        durables.append((consumers[name]["stream"], name))
        for other, spec in consumers.items():
            if spec.get("handler_of") == name:  # its redrive consumer
                durables.append((spec["stream"], other))
    publish: list[str] = [*client.get("publishes", [])]
    publish += [f"altlas.dlq.{owner}" for owner in owners]
    publish.append("$JS.API.INFO")
    for stream in PIPELINE_STREAMS:
        publish += [f"$JS.API.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]
    for stream, durable in durables:
        filters = consumers[durable]["filter_subjects"]
        # One filter: the create subject names it and the server holds the config to it, so
        # the service cannot widen what its durable reads. Several: the plain form.
        create = f"$JS.API.CONSUMER.CREATE.{stream}.{durable}"
        publish += [
            f"{create}.{filters[0]}" if len(filters) == 1 else create,
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    publish += client.get("extra_publish", [])
    return Permissions(
        publish=tuple(dict.fromkeys(publish)), subscribe=(f"{inbox_prefix(user)}.>",)
    )


def new_passwords(users: list[str]) -> dict[str, str]:
    # Hex: safe on a command line (never a leading "-"), in a URL and in the config unquoted.
    return {u: secrets.token_hex(24) for u in users}


def env_name(user: str) -> str:
    """The environment variable a server reads `user`'s password from (Kubernetes)."""
    return f"NATS_{user.upper().replace('-', '_')}_PASSWORD"


def _quoted(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def accounts_config(
    topology: Mapping[str, Any],
    passwords: Mapping[str, str] | None = None,
    *,
    other_account: bool = True,
) -> str:
    """The server's `accounts` and `system_account` blocks. With `passwords` (user → value)
    they are written in; without, each is `$NATS_<USER>_PASSWORD` from the environment."""
    users = [*service_users(topology), ADMIN_USER, SYSTEM_USER]
    if other_account:
        users.append(OTHER_USER)

    def password(user: str) -> str:
        if passwords is None:
            return "$" + env_name(user)
        if user not in passwords:
            raise ValueError(f"no password for NATS user {user!r}")
        return json.dumps(passwords[user])

    lines = [
        "# written by harness/infra/nats_auth.py from reference_services/schemas/topology.json",
        "accounts {",
        f"  {ACCOUNT} {{",
        "    jetstream: enabled",
        "    users: [",
    ]
    for user in service_users(topology):
        p = permissions(topology, user)
        lines += [
            f"      {{ user: {user}, password: {password(user)}, permissions: {{",
            f"          publish: {{ allow: {_quoted(p.publish)} }}",
            f"          subscribe: {{ allow: {_quoted(p.subscribe)} }} }} }}",
        ]
    lines += [
        f"      {{ user: {ADMIN_USER}, password: {password(ADMIN_USER)} }}",
        "    ]",
        "  }",
        f"  {SYSTEM_ACCOUNT} {{ users: [ {{ user: {SYSTEM_USER},"
        f" password: {password(SYSTEM_USER)} }} ] }}",
    ]
    if other_account:
        lines.append(
            f"  {OTHER_ACCOUNT} {{ jetstream: enabled, users: [ {{ user: {OTHER_USER},"
            f" password: {password(OTHER_USER)} }} ] }}"
        )
    lines += ["}", f"system_account: {SYSTEM_ACCOUNT}", ""]
    return "\n".join(lines)


def all_users(*, other_account: bool = True) -> list[str]:
    """The users besides the services' (whose names come from the topology)."""
    return [ADMIN_USER, SYSTEM_USER, *([OTHER_USER] if other_account else [])]


def main() -> None:
    """Print the Kubernetes accounts config (passwords from the server's environment)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    doc = json.loads((root / "reference_services/schemas/topology.json").read_text())
    print(accounts_config(doc, None, other_account=False), end="")


if __name__ == "__main__":
    main()
