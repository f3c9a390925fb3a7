"""The users of ALT_LAS as Locust users: what real people do with the API, weighted.

- `CommandUser` logs in once, submits commands (Turkish and English, short to long) and follows
  each to a final status, as a client polling the status would; now and then reads a
  command's documents and its archive record.
- `SearchUser` searches the archive with terms, filters and facets and opens a result.

Each finished command adds one sample to the `E2E` / "submit → archived" statistic: the time
between the gateway accepting the command and archiving it, from the gateway's own timestamps
(so polling intervals do not blur it). A command that fails, or is not final within
`--e2e-timeout`, is a failed sample.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import gevent
from locust import FastHttpUser, between, task
from locust.exception import StopUser

from load import commands
from load.slo import E2E_NAME, E2E_TYPE
from load.target import Account, TargetError, resolve

API = "/api/v1"
_account_counter = itertools.count()
_TARGET: list[tuple[Account, ...]] = []


def accounts() -> tuple[Account, ...]:
    if not _TARGET:
        _TARGET.append(resolve().accounts)
    return _TARGET[0]


class E2EFailure(Exception):
    """A command accepted by the gateway that did not end archived in time."""


def _ms_between(start: str, end: str) -> float:
    a = datetime.fromisoformat(start)
    b = datetime.fromisoformat(end)
    return max(0.0, (b - a).total_seconds() * 1000.0)


@dataclass
class Identity:
    account: Account
    token: str = ""


class ApiUser(FastHttpUser):
    """Logs in as one of the load accounts (spread over workers) and keeps its token fresh."""

    abstract = True
    wait_time = between(0.5, 2.0)
    # geventhttpclient connections per user: the open model's dispatcher runs many at once.
    concurrency = 4

    def on_start(self) -> None:
        self.rng = random.Random()
        self.identity = self.log_in(self.next_account())

    def next_account(self) -> Account:
        runner = self.environment.runner
        worker = max(0, getattr(runner, "worker_index", 0)) if runner is not None else 0
        try:
            pool = accounts()
        except TargetError as exc:
            raise StopUser(str(exc)) from None
        return pool[(next(_account_counter) + worker * 7) % len(pool)]

    def log_in(self, account: Account, identity: Identity | None = None) -> Identity:
        identity = identity or Identity(account)
        with self.client.post(
            f"{API}/auth/login",
            json={"username": account.username, "password": account.password},
            name=f"{API}/auth/login",
            catch_response=True,
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"login as {account.username}: HTTP {resp.status_code}")
                raise StopUser(f"cannot log in as {account.username}")
            identity.token = resp.json()["access_token"]
        return identity

    def call(
        self,
        method: str,
        path: str,
        name: str,
        check: Callable[[Any], str | None],
        identity: Identity | None = None,
        **kwargs: Any,
    ) -> Any:
        """One authenticated request, judged by `check` (a failure message, or None if fine).

        Returns the parsed JSON body of a good answer, else None. A 401 (expired token) logs
        in again and retries once.
        """
        who = identity or self.identity
        extra_headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {who.token}", **extra_headers}
            with self.client.request(
                method, path, name=name, headers=headers, catch_response=True, **kwargs
            ) as resp:
                if resp.status_code == 401 and attempt == 1:
                    resp.success()  # an expired token is not a server error
                    self.log_in(who.account, who)
                    continue
                self.last_status = resp.status_code
                problem = check(resp)
                if problem is not None:
                    resp.failure(problem)
                    return None
                resp.success()
                return resp.json() if resp.text else {}
        return None

    def follow(
        self, command_id: str, timeout_s: float, identity: Identity | None = None
    ) -> dict[str, Any] | None:
        """Poll the status until it is final; record the end-to-end sample."""
        deadline = time.monotonic() + timeout_s
        interval = 0.25
        while True:
            body = self.call(
                "GET",
                f"{API}/commands/{command_id}",
                f"{API}/commands/{{id}}",
                _expect(200, "status of an accepted command"),
                identity,
            )
            if body is not None and body.get("final"):
                ok = body["status"] == "archived"
                self.environment.events.request.fire(
                    request_type=E2E_TYPE,
                    name=E2E_NAME,
                    response_time=_ms_between(body["created_at"], body["updated_at"]),
                    response_length=0,
                    exception=None
                    if ok
                    else E2EFailure(f"ended {body['status']}: {body.get('detail')}"),
                    context={},
                )
                return dict(body)
            if time.monotonic() >= deadline:
                self.environment.events.request.fire(
                    request_type=E2E_TYPE,
                    name=E2E_NAME,
                    response_time=timeout_s * 1000.0,
                    response_length=0,
                    exception=E2EFailure(f"not final within {timeout_s:.0f} s"),
                    context={},
                )
                return None
            # The client's polling cadence (a user's UI), not a readiness wait.
            gevent.sleep(interval)
            interval = min(interval * 1.5, 2.0)

    def submit(self, identity: Identity | None = None) -> str | None:
        text, language = commands.command(self.rng)
        key = str(uuid.uuid4())
        for attempt in (1, 2):
            body = self.call(
                "POST",
                f"{API}/commands",
                f"{API}/commands",
                _expect(202, "submit"),
                identity,
                json={"command": text, "language": language},
                headers={"Idempotency-Key": key},
            )
            if body is not None:
                return str(body["id"])
            # A client retries a timeout or 5xx once with the same key (no double submit).
            if attempt == 2 or not (self.last_status == 0 or self.last_status >= 500):
                return None
        return None

    def e2e_timeout(self) -> float:
        opts = self.environment.parsed_options
        return float(getattr(opts, "e2e_timeout", 60.0) or 60.0)


def _expect(status: int, what: str) -> Callable[[Any], str | None]:
    def check(resp: Any) -> str | None:
        if resp.status_code == status:
            return None
        detail = (resp.text or "")[:200]
        return f"{what}: expected HTTP {status}, got {resp.status_code} {detail}".rstrip()

    return check


class CommandUser(ApiUser):
    weight = 3

    @task(5)
    def submit_and_follow(self) -> None:
        command_id = self.submit()
        if command_id is None:
            return
        body = self.follow(command_id, self.e2e_timeout())
        if body is not None and body["status"] == "archived":
            self.recent = ([*getattr(self, "recent", []), body])[-10:]

    @task(1)
    def read_documents(self) -> None:
        recent: list[dict[str, Any]] = getattr(self, "recent", [])
        if not recent:
            return
        body = self.rng.choice(recent)
        for kind in ("alt", "last", "atlas"):
            self.call(
                "GET",
                f"{API}/commands/{body['id']}/{kind}",
                f"{API}/commands/{{id}}/{{doc}}",
                _expect(200, f"{kind} of an archived command"),
            )
        if body.get("atlas_id"):
            self.call(
                "GET",
                f"{API}/archive/{body['atlas_id']}",
                f"{API}/archive/{{id}}",
                _expect(200, "archive record of an archived command"),
            )


def _search_answer(resp: Any) -> str | None:
    if resp.status_code != 200:
        return f"search: expected HTTP 200, got {resp.status_code} {(resp.text or '')[:200]}"
    body = resp.json()
    if not isinstance(body.get("facets"), dict) or not isinstance(body.get("items"), list):
        return "search answer without items and facets"
    return None


def _readable(resp: Any) -> str | None:
    # A record can be deleted between the search and the read: 404 is a valid answer.
    if resp.status_code in (200, 404):
        return None
    return f"read a search hit: expected HTTP 200 or 404, got {resp.status_code}"


class SearchUser(ApiUser):
    weight = 2

    @task(3)
    def search(self) -> None:
        body = self.call(
            "GET",
            f"{API}/archive/search",
            f"{API}/archive/search",
            _search_answer,
            params=commands.search_params(self.rng),
        )
        if body:
            hits = [h["id"] for h in body["items"] if "id" in h]
            if hits:
                self.hits = hits[:20]

    @task(1)
    def open_result(self) -> None:
        hits: list[str] = getattr(self, "hits", [])
        if hits:
            self.call(
                "GET",
                f"{API}/archive/{self.rng.choice(hits)}",
                f"{API}/archive/{{id}}",
                _readable,
            )
