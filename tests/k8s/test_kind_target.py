"""The kind target, with a fake runner: the commands it would run, in order, what it renders,
and what it leaves behind on failure. (kind itself runs in .github/workflows/kind.yml.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.infra._process import ProcessRecord
from harness.k8s import render
from harness.settings import HarnessSettings
from harness.stack import kind, targets
from harness.stack.state import StackState, load_state

TAG = "kind-test"


class FakeRunner:
    """Records every command; answers `kind get clusters` and `kustomize build`."""

    def __init__(self, clusters: str = "", fail_on: str | None = None) -> None:
        self.clusters = clusters
        self.fail_on = fail_on
        self.calls: list[list[str]] = []
        self.spawned: list[tuple[str, list[str], dict[str, Any]]] = []
        self.stopped: list[str] = []

    def which(self, tool: str) -> str:
        return tool

    async def run(self, argv: Sequence[str], *, timeout_s: float, what: str) -> str:
        argv = list(argv)
        self.calls.append(argv)
        if self.fail_on and self.fail_on in " ".join(argv):
            raise kind.KindError(f"{what} failed (fake)")
        if argv[1:3] == ["get", "clusters"]:
            return self.clusters
        if argv[:2] == ["kustomize", "build"]:
            return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: altlas\n"
        return ""

    def spawn(self, name: str, argv: Sequence[str], log: Path, **extra: object) -> ProcessRecord:
        self.spawned.append((name, list(argv), dict(extra)))
        return ProcessRecord(
            name, 100_000 + len(self.spawned), list(argv), {}, "/", str(log), extra=dict(extra)
        )

    async def stop(self, record: ProcessRecord) -> None:
        self.stopped.append(record.name)


def built(tag: str, progress: Any) -> dict[str, str]:
    return {s: f"altlas/{s}:{tag}" for s in ("gateway", "segmentation", "runner", "archive")}


def stack(tmp_path: Path, runner: FakeRunner, waited: list[str] | None = None) -> kind.KindStack:
    async def wait_http(url: str, timeout_s: float) -> None:
        if waited is not None:
            waited.append(url)

    async def wait_tcp(port: int, timeout_s: float) -> None:
        return None

    return kind.KindStack(
        HarnessSettings(state_dir=tmp_path / ".harness"),
        runner=runner,
        progress=lambda _m: None,
        build_images=built,
        wait_http=wait_http,
        wait_tcp=wait_tcp,
        tag=TAG,
    )


def head(call: list[str]) -> str:
    """A command without its flags' values that vary (paths), for comparing sequences."""
    return " ".join(a for a in call if not a.startswith("/"))


async def test_up_runs_every_step_in_order(tmp_path: Path) -> None:
    runner, waited = FakeRunner(clusters="other\n"), []
    state = await stack(tmp_path, runner, waited).up()
    calls = [head(c) for c in runner.calls]
    assert calls[0] == "kind get clusters"
    assert calls[1] == f"kind create cluster --name altlas --config --wait {kind.CLUSTER_WAIT}"
    assert runner.calls[1][6] == str(kind.KIND_CONFIG)
    assert calls[2] == (
        f"kind load docker-image altlas/gateway:{TAG} altlas/segmentation:{TAG}"
        f" altlas/runner:{TAG} altlas/archive:{TAG} --name altlas"
    )
    assert calls[3] == "kustomize build"
    assert (
        calls[4]
        == "kubectl --context kind-altlas apply --server-side --field-manager=altlas-harness -f"
    )
    rollouts = [c.split()[7] for c in calls[5:]]
    assert rollouts == list(kind.ROLLOUTS)
    assert all(f"--timeout={kind.ROLLOUT_TIMEOUT_S}s" in c for c in calls[5:])
    assert len(calls) == 5 + len(kind.ROLLOUTS)
    # port-forwards, after the rollouts, one per Service; then the gateway's readiness
    assert [s[0] for s in runner.spawned] == [f.component for f in kind.FORWARDS]
    gateway_argv = runner.spawned[0][1]
    assert gateway_argv[1:3] == ["-m", "harness.k8s.portforward"]
    assert gateway_argv[-2:] == [
        "svc/gateway",
        f"{runner.spawned[0][2]['local_ports']['8080']}:8080",
    ]
    assert waited == [f"{state.endpoints['gateway']}/readyz"]
    # the same state file as every target
    saved = load_state(HarnessSettings(state_dir=tmp_path / ".harness"))
    assert saved.target == "kind"
    assert set(saved.endpoints) == {
        "gateway",
        "segmentation",
        "runner",
        "archive",
        "nats",
        "nats_ca",
        "opensearch",
        "postgres",
    }
    # NATS over TLS with the deployment's CA, logged in as the account's operator
    assert saved.endpoints["nats"].startswith("tls://127.0.0.1:")
    assert saved.credentials["nats"]["username"] == "admin"
    assert saved.credentials["user"]["username"] == "demo-user"
    assert saved.credentials["load"] == kind.STACK_CREDENTIALS["load"]
    assert saved.processes["nats"].extra["monitor_url"].startswith("http://127.0.0.1:")
    assert all(r.extra["created_cluster"] for r in saved.processes.values())


async def test_rendered_overlay_deploys_the_images_just_built(tmp_path: Path) -> None:
    """The kustomization `up` writes renders (real kustomize) with the built image refs."""
    runner = FakeRunner(clusters="altlas\n")
    await stack(tmp_path, runner).render(built(TAG, None))
    objects = render.build(tmp_path / ".harness" / "kind")
    images = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in objects
        if o["kind"] == "Deployment"
    }
    assert images == {s: f"altlas/{s}:{TAG}" for s in images} and len(images) == 4
    gateway_env = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "gateway"
    )
    assert any(
        e["name"] == "ALTLAS_SEED_USERS"
        for e in gateway_env["spec"]["template"]["spec"]["containers"][0]["env"]
    )


async def test_existing_cluster_is_reused_and_down_removes_only_the_namespace(
    tmp_path: Path,
) -> None:
    runner = FakeRunner(clusters="altlas\n")
    s = stack(tmp_path, runner)
    state = await s.up()
    assert not any(c[1:3] == ["create", "cluster"] for c in runner.calls)
    runner.calls.clear()
    await s.down(state)
    assert sorted(runner.stopped) == sorted(f.component for f in kind.FORWARDS)
    assert [head(c) for c in runner.calls] == [
        "kubectl --context kind-altlas delete namespace altlas --ignore-not-found"
        " --wait=true --timeout=300s"
    ]
    assert not s.settings.state_file.exists()


async def test_down_deletes_the_cluster_it_created(tmp_path: Path) -> None:
    runner = FakeRunner()
    s = stack(tmp_path, runner)
    state = await s.up()
    runner.calls.clear()
    await s.down(StackState.from_json(state.to_json()))
    assert [head(c) for c in runner.calls] == ["kind delete cluster --name altlas"]


async def test_failed_rollout_shows_the_pods_and_forwards_nothing(tmp_path: Path) -> None:
    runner = FakeRunner(fail_on="statefulset/opensearch")
    said: list[str] = []
    s = stack(tmp_path, runner)
    s.progress = said.append
    with pytest.raises(
        kind.KindError, match=r"(?s)the rollout of statefulset/opensearch.*pods in altlas"
    ):
        await s.up()
    assert "kept for inspection" in said[-1]
    assert (
        head(runner.calls[-1])
        == "kubectl --context kind-altlas --namespace altlas get pods -o wide"
    )
    assert runner.spawned == []
    assert not (tmp_path / ".harness" / "stack.json").exists()


async def test_forwards_are_stopped_when_the_gateway_never_gets_ready(tmp_path: Path) -> None:
    runner = FakeRunner()
    s = stack(tmp_path, runner)

    async def never(url: str, timeout_s: float) -> None:
        raise kind.KindError(f"{url} never answered")

    s.wait_http = never
    with pytest.raises(kind.KindError, match="never answered"):
        await s.up()
    assert sorted(runner.stopped) == sorted(f.component for f in kind.FORWARDS)
    assert not s.settings.state_file.exists()


async def test_refuses_to_start_over_a_running_stack(tmp_path: Path) -> None:
    runner = FakeRunner()
    s = stack(tmp_path, runner)
    s.settings.state_file.parent.mkdir(parents=True)
    s.settings.state_file.write_text("{}")
    with pytest.raises(kind.KindError, match="harness down"):
        await s.up()
    assert runner.calls == []


def test_the_cli_finds_the_kind_target() -> None:
    module = targets.target("kind")
    assert module.up is kind.up and module.down is kind.down


def test_kind_cluster_fits_the_hard_spreads(renders: dict[str, render.Rendered]) -> None:
    """Workloads spread one per node (DoNotSchedule) need as many workers; each is in a zone."""
    config = yaml.safe_load(kind.KIND_CONFIG.read_text())
    assert config["name"] == kind.CLUSTER
    workers = [n for n in config["nodes"] if n["role"] == "worker"]
    assert all("topology.kubernetes.io/zone" in n.get("labels", {}) for n in workers)
    for obj in renders["overlay kind"].of_kind("StatefulSet"):
        spec = obj["spec"]
        hard = [
            t
            for t in spec["template"]["spec"].get("topologySpreadConstraints", [])
            if t["topologyKey"] == "kubernetes.io/hostname"
            and t["whenUnsatisfiable"] == "DoNotSchedule"
        ]
        if hard:
            assert len(workers) >= spec["replicas"], (
                f"{obj['metadata']['name']}: {spec['replicas']} replicas"
            )


def test_port_forward_supervisor_restarts_and_stops(tmp_path: Path) -> None:
    """A forward that exits (its pod went away) is started again; SIGTERM ends the loop."""
    runs = tmp_path / "runs"
    fake = tmp_path / "kubectl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {runs}\nexit 1\n')
    fake.chmod(0o755)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.k8s.portforward",
            "--kubectl",
            str(fake),
            "--context",
            "kind-altlas",
            "--namespace",
            "altlas",
            "svc/gateway",
            "5000:8080",
        ],
        cwd=render.ROOT,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not (runs.exists() and len(runs.read_text().splitlines()) >= 2):
            assert time.monotonic() < deadline, "the forward was not started a second time"
            assert proc.poll() is None, "the supervisor exited"
            time.sleep(0.1)
        assert runs.read_text().splitlines()[0] == (
            "port-forward --context kind-altlas --namespace altlas --address 127.0.0.1"
            " svc/gateway 5000:8080"
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_the_workflow_runs_the_make_targets() -> None:
    """CI calls exactly what a developer runs: the workflow's steps are make targets."""
    workflow = yaml.safe_load((render.ROOT / ".github" / "workflows" / "kind.yml").read_text())
    runs = [s.get("run", "") for s in workflow["jobs"]["kind"]["steps"]]
    targets = [r.strip() for r in runs if r.strip().startswith("make ")]
    assert targets == [
        "make setup",
        "make k8s-check",
        "make kind-up",
        "make kind-test",
        "make kind-chaos",
        "make down",
    ]
    makefile = (render.ROOT / "mk" / "k8s.mk").read_text()
    for target in ("k8s-check", "kind-up", "kind-test", "kind-chaos"):
        assert f"\n{target}:" in makefile


async def test_subprocess_runner_returns_output_and_reports_failures() -> None:
    runner = kind.SubprocessRunner()
    assert (
        await runner.run(["sh", "-c", "echo out; echo err >&2"], timeout_s=10, what="echo")
        == "out\n"
    )
    with pytest.raises(kind.KindError, match=r"(?s)a failing step failed \(.*exit 3\):\nbroken"):
        await runner.run(
            ["sh", "-c", "echo broken >&2; exit 3"], timeout_s=10, what="a failing step"
        )
    with pytest.raises(kind.KindError, match="no result after 0s"):
        await runner.run(["sleep", "5"], timeout_s=0.2, what="a slow step")
    with pytest.raises(kind.KindError, match="kind-that-is-not-installed not found on PATH"):
        runner.which("kind-that-is-not-installed")


def test_kind_seeds_the_users_the_state_file_names() -> None:
    """The gateway on kind seeds components/kind/demo-users.json; the state file hands the
    suites harness.stack.local's demo users and load accounts: the same ones, or logins fail."""
    seeded = json.loads((render.MANIFESTS / "components" / "kind" / "demo-users.json").read_text())
    demo = {
        u["role"]: {"username": u["username"], "password": u["password"]}
        for u in seeded
        if u["username"].startswith("demo-")
    }
    creds = kind.STACK_CREDENTIALS
    assert demo == {role: creds[role] for role in ("admin", "user", "viewer")}
    load = sorted(u["username"] for u in seeded if u["username"].startswith("load-"))
    assert load == sorted(creds["load"]["usernames"].split(","))
    assert {u["password"] for u in seeded if u["username"] in load} == {creds["load"]["password"]}
    assert creds["other"]["username"] in load, "the second user must be one the gateway seeds"
    assert {u["role"] for u in seeded if u["username"] in load} == {"user"}
