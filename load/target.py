"""Which deployment to load and with which accounts.

The local stack's state file (`.harness/stack.json`, written by `harness up`) gives the gateway
URL and the load accounts; any other deployment is named by URL (Locust's `--host`, or
HARNESS_GATEWAY_URL) with accounts in LOAD_ACCOUNTS (`user:pass,user:pass`) or
HARNESS_USER_CREDENTIALS (`user:pass`). Reads JSON only: no harness import, no asyncio.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class TargetError(RuntimeError):
    """No deployment or no account to load it with."""


@dataclass(frozen=True)
class Account:
    username: str
    password: str


@dataclass(frozen=True)
class Target:
    host: str | None
    accounts: tuple[Account, ...]


def _pairs(text: str, source: str) -> tuple[Account, ...]:
    accounts = []
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user:
            raise TargetError(f"{source}: expected user:password[,user:password…], got {item!r}")
        accounts.append(Account(user, password))
    return tuple(accounts)


def state_file() -> Path:
    default = Path(__file__).resolve().parents[1] / ".harness"
    return Path(os.environ.get("HARNESS_STATE_DIR") or default) / "stack.json"


def resolve(env: dict[str, str] | None = None, path: Path | None = None) -> Target:
    env = dict(os.environ) if env is None else env
    if env.get("LOAD_ACCOUNTS"):
        accounts = _pairs(env["LOAD_ACCOUNTS"], "LOAD_ACCOUNTS")
        return Target(env.get("HARNESS_GATEWAY_URL"), accounts)
    if env.get("HARNESS_GATEWAY_URL"):
        creds = env.get("HARNESS_USER_CREDENTIALS")
        if not creds:
            raise TargetError(
                "HARNESS_GATEWAY_URL is set but no account is: set LOAD_ACCOUNTS "
                "(user:pass,user:pass) or HARNESS_USER_CREDENTIALS (user:pass)"
            )
        return Target(env["HARNESS_GATEWAY_URL"], _pairs(creds, "HARNESS_USER_CREDENTIALS"))
    path = path or state_file()
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(
            f"no deployment described: {path} does not exist (run `make up`), or set "
            "HARNESS_GATEWAY_URL and LOAD_ACCOUNTS"
        ) from None
    creds = state.get("credentials", {})
    load = creds.get("load")
    if load:
        accounts = tuple(Account(u, load["password"]) for u in load["usernames"].split(","))
    elif "user" in creds:
        accounts = (Account(creds["user"]["username"], creds["user"]["password"]),)
    else:
        raise TargetError(f"{path} names no account with the user role")
    return Target(state["endpoints"]["gateway"], accounts)
