"""Pure logic of the docker target: the configs it writes, the users it seeds, its stack id."""

from __future__ import annotations

from harness.infra._process import ProcessRecord
from harness.stack import docker as docker_target
from harness.stack.state import StackState


def test_nats_config_listens_everywhere_and_syncs_as_told() -> None:
    text = docker_target.nats_config("always")
    assert "host: 0.0.0.0" in text and "http: 0.0.0.0:8222" in text
    assert "sync_interval: always" in text


def test_the_target_seeds_the_users_it_records() -> None:
    creds = {
        "user": {"username": "u", "password": "p"},
        "load": {"usernames": "l1,l2", "password": "lp"},
    }
    users = docker_target.seed_users(creds)
    assert {"username": "u", "password": "p", "role": "user"} in users
    assert {u["username"] for u in users} == {"u", "l1", "l2"}
    assert all(u["role"] in ("admin", "user", "viewer") for u in users)
    recorded = docker_target.credentials()
    assert {"admin", "user", "viewer", "load"} <= set(recorded)


def test_stack_id_comes_from_the_recorded_network() -> None:
    record = ProcessRecord("nats", 1, [], {}, "", "", extra={"network": "altlas-abc123"})
    state = StackState(target="docker", endpoints={}, processes={"nats": record})
    assert docker_target.stack_id(state) == "abc123"
    assert docker_target.stack_id(StackState(target="docker", endpoints={})) is None
