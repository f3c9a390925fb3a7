"""Stateful end-to-end property: random sequences of submit (with and without idempotency
keys), status reads, searches and atlas status changes against the running stack, checked
against a model after every step and again once the pipeline has settled."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from harness.schemas import status_rank
from harness.stack.state import StackState

API = "/api/v1"
RANK = status_rank()  # the schemas' x-altlas-status-order
COMMANDS = [
    "Dosyayı aç ve içeriğini özetle",
    "İstanbul trafik verilerini analiz et sonra raporla",
    "Search for flights to Ankara and then email them",
    "Create a summary of the meeting notes",
    "Eski kayıtları sil",
]
SETTLE_S = 90.0


class PipelineMachine(RuleBasedStateMachine):
    """The model: which commands exist, what key maps to which id, each atlas's status."""

    stack: StackState
    commands = Bundle("commands")

    def __init__(self) -> None:
        super().__init__()
        self.token = "sm" + secrets.token_hex(4)
        self.http = httpx.Client(base_url=self.stack.endpoints["gateway"], timeout=15)
        self.auth = {role: self._login(role) for role in ("user", "admin")}
        self.ids: set[str] = set()
        self.by_key: dict[str, tuple[str, str]] = {}  # key → (command id, body text)
        self.seen_rank: dict[str, int] = {}
        self.atlas_status: dict[str, str] = {}  # command id → status we set (model)

    def _login(self, role: str) -> dict[str, str]:
        cred = self.stack.credentials[role]
        resp = self.http.post(f"{API}/auth/login", json=cred)
        assert resp.status_code == 200, f"login as {role}: {resp.status_code} {resp.text}"
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def _submit(self, text: str, key: str | None) -> str:
        headers = dict(self.auth["user"])
        if key:
            headers["Idempotency-Key"] = key
        resp = self.http.post(f"{API}/commands", json={"command": text}, headers=headers)
        assert resp.status_code == 202, f"submit expected 202, got {resp.status_code}: {resp.text}"
        return str(resp.json()["id"])

    def _status(self, cid: str) -> dict[str, Any]:
        resp = self.http.get(f"{API}/commands/{cid}", headers=self.auth["user"])
        assert resp.status_code == 200, f"status of {cid}: {resp.status_code} {resp.text}"
        body: dict[str, Any] = resp.json()
        return body

    @initialize(target=commands)
    def first(self) -> str:
        cid = self._submit(f"{COMMANDS[0]} {self.token}", None)
        self.ids.add(cid)
        return cid

    @rule(target=commands, text=st.sampled_from(COMMANDS))
    def submit(self, text: str) -> str:
        cid = self._submit(f"{text} {self.token}", None)
        assert cid not in self.ids, "a submission without a key must create a new command"
        self.ids.add(cid)
        return cid

    @rule(target=commands, text=st.sampled_from(COMMANDS))
    def submit_with_key(self, text: str) -> str:
        key = secrets.token_hex(8)
        body = f"{text} {self.token}"
        cid = self._submit(body, key)
        self.by_key[key] = (cid, body)
        self.ids.add(cid)
        return cid

    @precondition(lambda self: bool(self.by_key))
    @rule(data=st.data())
    def retry_with_key(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.by_key)))
        cid, body = self.by_key[key]
        again = self._submit(body, key)
        assert again == cid, f"retry with key {key} returned {again}, expected {cid}"

    @rule(cid=commands)
    def read_status(self, cid: str) -> None:
        status = self._status(cid)["status"]
        rank = RANK[status]
        assert rank >= self.seen_rank.get(cid, 0), f"{cid} went backwards to {status}"
        self.seen_rank[cid] = rank

    @rule()
    def search(self) -> None:
        resp = self.http.get(
            f"{API}/archive/search",
            params={"q": self.token, "size": 100},
            headers=self.auth["user"],
        )
        assert resp.status_code == 200, f"search: {resp.status_code} {resp.text}"
        found = {item["command_id"] for item in resp.json()["items"]}
        assert found <= self.ids, (
            f"search returned commands this run never submitted: {found - self.ids}"
        )

    @rule(cid=commands, new=st.sampled_from(["active", "archived", "deleted"]))
    def change_atlas_status(self, cid: str, new: str) -> None:
        status = self._status(cid)
        if status["atlas_id"] is None:
            return  # not archived yet: nothing to change (the model stays as it is)
        resp = self.http.patch(
            f"{API}/archive/{status['atlas_id']}", json={"status": new}, headers=self.auth["admin"]
        )
        assert resp.status_code == 200, f"PATCH atlas: {resp.status_code} {resp.text}"
        assert resp.json()["status"] == new
        self.atlas_status[cid] = new

    @invariant()
    def ids_are_unique_per_key(self) -> None:
        cids = [cid for cid, _ in self.by_key.values()]
        assert len(cids) == len(set(cids)), "two idempotency keys returned the same command"

    def teardown(self) -> None:
        try:
            deadline = time.monotonic() + SETTLE_S
            pending = set(self.ids)
            while pending and time.monotonic() < deadline:
                pending = {c for c in pending if not self._status(c)["final"]}
                if pending:
                    time.sleep(0.2)  # polling the pipeline under test, bounded by the deadline
            assert not pending, f"not final after {SETTLE_S}s: {sorted(pending)}"
            for cid in self.ids:
                status = self._status(cid)
                assert status["status"] == "archived", f"{cid} ended {status['status']}"
                atlas = self.http.get(
                    f"{API}/archive/{status['atlas_id']}", headers=self.auth["user"]
                ).json()
                expected = self.atlas_status.get(cid, "active")
                assert atlas["status"] == expected, f"{cid}: atlas {atlas['status']} != {expected}"
        finally:
            self.http.close()


@pytest.mark.slow
def test_pipeline_state_machine(stack: StackState) -> None:
    PipelineMachine.stack = stack
    run_state_machine_as_test(
        PipelineMachine, settings=settings(max_examples=4, stateful_step_count=12, deadline=None)
    )
