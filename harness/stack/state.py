"""The stack state file (`.harness/stack.json`): every endpoint, demo credentials, processes.

Written by `harness up`; read by every suite, the CLI and fault injection. For an external
deployment the same shape is built from HARNESS_* environment variables instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.infra._process import ProcessRecord
from harness.infra.nats import NatsAccess
from harness.settings import HarnessSettings

COMPONENTS = (
    "gateway",
    "segmentation",
    "runner",
    "archive",
    "nats",
    "postgres",
    "opensearch",
    "toxiproxy",
    "objectstore",
    "oidc",
    "vault",
    # Not a process: PostgreSQL's WAL archiving into the object store (pg_stat_archiver).
    "wal-archive",
)


class NoStack(HarnessError):
    """No stack is described: neither a state file nor HARNESS_GATEWAY_URL."""


@dataclass
class StackState:
    target: str
    endpoints: dict[str, str]
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    started_at: str | None = None
    state_dir: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "started_at": self.started_at,
            "state_dir": self.state_dir,
            "endpoints": self.endpoints,
            "credentials": self.credentials,
            "processes": {k: v.to_json() for k, v in self.processes.items()},
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        return cls(
            target=data["target"],
            endpoints=dict(data["endpoints"]),
            credentials=dict(data.get("credentials", {})),
            processes={k: ProcessRecord.from_json(v) for k, v in data.get("processes", {}).items()},
            started_at=data.get("started_at"),
            state_dir=data.get("state_dir"),
            notes=list(data.get("notes", [])),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False))
        os.chmod(tmp, 0o600)  # it holds passwords
        tmp.replace(path)


def _pair(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep:
        raise HarnessError("credentials must look like USER:PASSWORD")
    return {"username": user, "password": password}


def external_state(settings: HarnessSettings) -> StackState | None:
    """The deployment described by HARNESS_* variables, or None when they do not describe one."""
    if not settings.gateway_url:
        return None
    endpoints = {
        name: url
        for name, url in (
            ("gateway", settings.gateway_url),
            ("segmentation", settings.segmentation_url),
            ("runner", settings.runner_url),
            ("archive", settings.archive_url),
            ("nats", settings.nats_url),
            ("postgres", settings.postgres_url),
            ("opensearch", settings.opensearch_url),
        )
        if url
    }
    credentials = {
        role: pair
        for role, pair in (
            ("admin", _pair(settings.admin_credentials)),
            ("user", _pair(settings.user_credentials)),
            ("viewer", _pair(settings.viewer_credentials)),
            ("other", _pair(settings.other_credentials)),
            ("nats", _pair(settings.nats_credentials)),
        )
        if pair is not None
    }
    if settings.nats_ca:
        endpoints["nats_ca"] = settings.nats_ca
    return StackState(target="external", endpoints=endpoints, credentials=credentials)


def nats_access_of(settings: HarnessSettings) -> NatsAccess:
    """HARNESS_NATS_URL (with HARNESS_NATS_CREDENTIALS and HARNESS_NATS_CA), else the stack's."""
    if settings.nats_url:
        login = _pair(settings.nats_credentials) or {}
        return NatsAccess(
            settings.nats_url, login.get("username"), login.get("password"), settings.nats_ca
        )
    return nats_access(load_state(settings))


def nats_access(state: StackState) -> NatsAccess:
    """How the harness reaches the stack's NATS: its URL, the operator's login (credentials
    `nats`) and the CA of its TLS certificate (endpoint `nats_ca`), where the stack has them."""
    url = state.endpoints.get("nats")
    if not url:
        raise HarnessError("the stack names no NATS endpoint (set HARNESS_NATS_URL)")
    login = state.credentials.get("nats") or {}
    return NatsAccess(
        url, login.get("username"), login.get("password"), state.endpoints.get("nats_ca")
    )


def load_state(settings: HarnessSettings) -> StackState:
    """External endpoints if given, else the state file; NoStack if neither exists."""
    external = external_state(settings)
    if external is not None:
        return external
    try:
        data = json.loads(settings.state_file.read_text())
    except FileNotFoundError:
        raise NoStack(
            f"no stack is running: {settings.state_file} does not exist and HARNESS_GATEWAY_URL"
            " is not set; start one with `make up` (or `harness up`)"
        ) from None
    return StackState.from_json(data)
