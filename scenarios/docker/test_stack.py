"""The docker target's stack: one network, loopback-only ports, services that find their
dependencies by alias, and the CLI (status, logs) working on it as on the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.settings import HarnessSettings
from harness.stack.state import StackState, load_state

HARNESS = str(Path(sys.executable).parent / "harness")


def _cli(settings: HarnessSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARNESS_STATE_DIR": str(settings.state_dir)}
    return subprocess.run(
        [HARNESS, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_every_container_is_on_the_stack_network(
    container_of: Callable[[str], Any], docker_stack: StackState
) -> None:
    networks = {r.extra["network"] for r in docker_stack.processes.values()}
    assert len(networks) == 1, networks
    (network,) = networks
    assert set(docker_stack.processes) == {
        "gateway",
        "segmentation",
        "runner",
        "archive",
        "nats",
        "postgres",
        "opensearch",
    }
    for name in docker_stack.processes:
        attached = container_of(name).attrs["NetworkSettings"]
        aliases = attached["Networks"][network]["Aliases"] or []
        assert name in aliases, f"{name} is not reachable as {name!r} on {network}: {aliases}"


def test_ports_are_published_on_loopback_only(
    container_of: Callable[[str], Any], docker_stack: StackState
) -> None:
    for name in docker_stack.processes:
        ports = container_of(name).attrs["NetworkSettings"]["Ports"]
        bound = [b for bindings in ports.values() if bindings for b in bindings]
        assert bound, f"{name} publishes no port"
        assert {b["HostIp"] for b in bound} == {"127.0.0.1"}, f"{name}: {bound}"


def test_services_use_dependencies_by_alias(
    container_of: Callable[[str], Any], docker_stack: StackState
) -> None:
    env = dict(item.split("=", 1) for item in container_of("archive").attrs["Config"]["Env"])
    assert env["ALTLAS_NATS_URL"] == "nats://nats:4222"
    assert env["ALTLAS_OPENSEARCH_URL"] == "http://opensearch:9200"
    assert "@postgres:5432/archive" in env["ALTLAS_DATABASE_URL"]


def test_status_reports_every_container_healthy(
    docker_stack: StackState, harness_settings: HarnessSettings
) -> None:
    done = _cli(harness_settings, "status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["target"] == "docker" and doc["healthy"]
    assert all(c["pid"] for c in doc["components"].values()), doc["components"]


def test_logs_come_from_the_container(
    docker_stack: StackState, harness_settings: HarnessSettings
) -> None:
    done = _cli(harness_settings, "logs", "gateway", "-n", "20")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines and {line["service"] for line in lines} == {"gateway"}, done.stdout[-2000:]


def test_restart_stops_and_starts_the_container(
    docker_stack: StackState, harness_settings: HarnessSettings
) -> None:
    before = load_state(harness_settings).processes["runner"].pid
    done = _cli(harness_settings, "restart", "runner")
    assert done.returncode == 0, done.stdout + done.stderr
    after = load_state(harness_settings).processes["runner"].pid
    assert after != before, "a restarted container has a new main process"
    status = json.loads(_cli(harness_settings, "status", "--json").stdout)
    assert status["healthy"], status["components"]
