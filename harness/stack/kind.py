"""The `kind` target: the kustomize overlay `deploy/kubernetes/overlays/kind` on a kind cluster.

`up` creates the cluster from `deploy/kind/cluster.yaml` (or reuses one of that name), builds the
four service images (`harness.containers.images`) and loads them into the nodes, renders the
overlay with those image tags, applies it, waits for every rollout (data stores first), then
port-forwards each Service to a loopback port and writes the same state file as every target,
so every suite runs unchanged against the cluster. The forwards are supervised
(`harness.k8s.portforward`): they survive the pod kills and drains of the Kubernetes experiments.

`down` stops the forwards and deletes the cluster if `up` created it (else only the namespace).
Every external command goes through a `Runner`, which the unit tests replace with a fake.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx

from harness.errors import HarnessError
from harness.infra._process import (
    ManagedProcess,
    ProcessRecord,
    free_port,
    poll,
    run_command,
    terminate_pid,
    wait_for_port,
)
from harness.k8s import render
from harness.k8s.objects import SERVICES
from harness.k8s.secrets import ensure_secrets, nats_password_file
from harness.settings import HarnessSettings
from harness.stack.local import STACK_CREDENTIALS
from harness.stack.state import StackState

Progress = Callable[[str], None]
BuildImages = Callable[[str, Progress], dict[str, str]]
WaitHttp = Callable[[str, float], Awaitable[None]]
WaitTcp = Callable[[int, float], Awaitable[None]]

CLUSTER = "altlas"
CONTEXT = f"kind-{CLUSTER}"
NAMESPACE = "altlas"
KIND_CONFIG = render.ROOT / "deploy" / "kind" / "cluster.yaml"
OVERLAY = render.MANIFESTS / "overlays" / "kind"
SECRETS = render.MANIFESTS / "base" / "secrets"
# Data stores first: the services' readiness needs them.
ROLLOUTS = (
    "statefulset/postgres",
    "statefulset/nats",
    "statefulset/opensearch",
    "deployment/segmentation",
    "deployment/runner",
    "deployment/archive",
    "deployment/gateway",
)
# Per object; image pulls on a fresh CI runner and OpenSearch's first start take minutes.
ROLLOUT_TIMEOUT_S = 600
CLUSTER_WAIT = "300s"
SERVICE_PORT = 8080


@dataclass(frozen=True)
class Forward:
    """One supervised port-forward: a Service's ports on loopback."""

    component: str
    resource: str
    remote_ports: tuple[int, ...]


FORWARDS = (
    *(Forward(s, f"svc/{s}", (SERVICE_PORT,)) for s in SERVICES),
    Forward("nats", "svc/nats", (4222, 8222)),
    Forward("opensearch", "svc/opensearch", (9200,)),
    Forward("postgres", "svc/postgres", (5432,)),
)


class KindError(HarnessError):
    """A step of the kind target failed; the message names the step and what it printed."""


class Runner(Protocol):
    def which(self, tool: str) -> str: ...

    async def run(self, argv: Sequence[str], *, timeout_s: float, what: str) -> str: ...

    def spawn(
        self, name: str, argv: Sequence[str], log: Path, **extra: object
    ) -> ProcessRecord: ...

    async def stop(self, record: ProcessRecord) -> None: ...


class SubprocessRunner:
    """Runs the real commands."""

    def which(self, tool: str) -> str:
        if tool == "kustomize":
            return render.kustomize_binary()
        found = shutil.which(tool)
        if found is None:
            raise KindError(
                f"{tool} not found on PATH: the kind target needs kind, kubectl and docker"
                " (the kind workflow installs them; see docs/kubernetes.md)"
            )
        return found

    async def run(self, argv: Sequence[str], *, timeout_s: float, what: str) -> str:
        return await run_command(argv, timeout_s=timeout_s, what=what, error=KindError)

    def spawn(self, name: str, argv: Sequence[str], log: Path, **extra: object) -> ProcessRecord:
        process = ManagedProcess(name, argv, log_path=log, cwd=render.ROOT)
        process.start()
        return process.record(**extra)

    async def stop(self, record: ProcessRecord) -> None:
        await terminate_pid(record.pid, record.name)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _build_images(tag: str, progress: Progress) -> dict[str, str]:
    # Imported on use: the image builder needs the docker client, which only this target and
    # the docker target use.
    from harness.containers.images import build_service_images

    return build_service_images(tag=tag, progress=progress)


async def _wait_http(url: str, timeout_s: float) -> None:
    async def _ok() -> bool:
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(url)).status_code == 200

    await poll(_ok, timeout_s, f"{url} to answer 200 through its port-forward", interval_s=0.5)


async def _wait_tcp(port: int, timeout_s: float) -> None:
    await wait_for_port("127.0.0.1", port, timeout_s, f"the port-forward on 127.0.0.1:{port}")


@dataclass
class KindStack:
    settings: HarnessSettings
    runner: Runner = field(default_factory=SubprocessRunner)
    progress: Progress = _stderr
    build_images: BuildImages = _build_images
    wait_http: WaitHttp = _wait_http
    wait_tcp: WaitTcp = _wait_tcp
    tag: str = field(default_factory=lambda: f"kind-{int(time.time())}")

    @property
    def workdir(self) -> Path:
        return self.settings.state_dir.resolve() / "kind"

    target = "kind"
    namespace = NAMESPACE
    overlay = OVERLAY

    def cluster_args(self) -> list[str]:
        """kubectl's flags that select this target's cluster."""
        return ["--context", CONTEXT]

    def kubectl(self, *args: str) -> list[str]:
        return [self.runner.which("kubectl"), *self.cluster_args(), *args]

    async def load_images(self, refs: Sequence[str]) -> None:
        """Make the images the Docker engine built runnable on the cluster's nodes."""
        self.progress("loading the images into the kind nodes…")
        await self.runner.run(
            [self.runner.which("kind"), "load", "docker-image", *refs, "--name", CLUSTER],
            timeout_s=900,
            what="kind load docker-image",
        )

    async def up(self) -> StackState:
        if self.settings.state_file.exists():
            raise KindError(
                f"a stack is already described by {self.settings.state_file}; run `harness down`"
            )
        self.runner.which("kind")
        self.runner.which("docker")
        t0 = time.perf_counter()
        clusters = await self.runner.run(
            [self.runner.which("kind"), "get", "clusters"], timeout_s=60, what="kind get clusters"
        )
        created = CLUSTER not in clusters.split()
        if created:
            self.progress(f"creating the kind cluster {CLUSTER} ({KIND_CONFIG.name})…")
            await self.runner.run(
                [
                    self.runner.which("kind"),
                    "create",
                    "cluster",
                    "--name",
                    CLUSTER,
                    "--config",
                    str(KIND_CONFIG),
                    "--wait",
                    CLUSTER_WAIT,
                ],
                timeout_s=900,
                what="kind create cluster",
            )
        else:
            self.progress(f"reusing the kind cluster {CLUSTER}")
        try:
            return await self._deploy(created, t0)
        except BaseException:
            if created:
                self.progress(
                    f"the kind cluster {CLUSTER} is kept for inspection (kubectl --context"
                    f" {CONTEXT} -n {NAMESPACE} …); `kind delete cluster --name {CLUSTER}`"
                    " removes it"
                )
            raise

    async def _deploy(self, created: bool, t0: float) -> StackState:
        """Images, manifests, rollouts, port-forwards and the state file, on a running cluster."""
        self.progress(f"building the service images (tag {self.tag})…")
        refs = await asyncio.to_thread(self.build_images, self.tag, self.progress)
        missing = sorted(set(SERVICES) - set(refs))
        if missing:
            raise KindError(f"the image build returned no image for {', '.join(missing)}")
        await self.load_images([refs[s] for s in SERVICES])
        manifests = await self.render(refs)
        self.progress(f"applying {manifests.name} to the {self.target} cluster…")
        await self.runner.run(
            self.kubectl(
                "apply", "--server-side", "--field-manager=altlas-harness", "-f", str(manifests)
            ),
            timeout_s=300,
            what="kubectl apply",
        )
        for rollout in ROLLOUTS:
            self.progress(f"waiting for {rollout}…")
            try:
                await self.runner.run(
                    self.kubectl(
                        "--namespace",
                        self.namespace,
                        "rollout",
                        "status",
                        rollout,
                        f"--timeout={ROLLOUT_TIMEOUT_S}s",
                    ),
                    timeout_s=ROLLOUT_TIMEOUT_S + 30,
                    what=f"the rollout of {rollout}",
                )
            except KindError as exc:
                pods = await self.runner.run(
                    self.kubectl("--namespace", self.namespace, "get", "pods", "-o", "wide"),
                    timeout_s=60,
                    what="kubectl get pods",
                )
                raise KindError(f"{exc}\npods in {self.namespace}:\n{pods}") from exc
        records = await self.forward(created)
        state = self.state(records, refs, created)
        state.save(self.settings.state_file)
        self.progress(f"{self.target} stack up in {time.perf_counter() - t0:.0f}s")
        return state

    def cluster_name(self) -> str:
        return CLUSTER

    def extra_images(self) -> list[dict[str, str]]:
        """More kustomize `images` entries (the kind nodes pull the dependencies' images)."""
        return []

    async def render(self, refs: dict[str, str]) -> Path:
        """The overlay with the images just built, rendered to a file (kept for reading)."""
        ensure_secrets(SECRETS)
        images = []
        for service in SERVICES:
            name, _, tag = refs[service].rpartition(":")
            images.append({"name": f"altlas/{service}", "newName": name, "newTag": tag})
        images += self.extra_images()
        render.write_kustomization(self.workdir, resources=[self.overlay], extra={"images": images})
        text = await self.runner.run(
            [self.runner.which("kustomize"), "build", str(self.workdir)],
            timeout_s=120,
            what=f"kustomize build of the {self.overlay.name} overlay",
        )
        out = self.workdir / "manifests.yaml"
        out.write_text(text)
        out.chmod(0o600)  # it holds the generated secrets
        return out

    async def forward(self, created: bool) -> dict[str, ProcessRecord]:
        """Start a supervised port-forward per Service; wait until the gateway answers."""
        logs = self.settings.state_dir.resolve() / "logs"
        records: dict[str, ProcessRecord] = {}
        try:
            for fwd in FORWARDS:
                local = {remote: free_port() for remote in fwd.remote_ports}
                argv = [
                    sys.executable,
                    "-m",
                    "harness.k8s.portforward",
                    "--kubectl",
                    self.runner.which("kubectl"),
                    *self.cluster_args(),
                    "--namespace",
                    self.namespace,
                    fwd.resource,
                    *(f"{port}:{remote}" for remote, port in local.items()),
                ]
                extra: dict[str, object] = {
                    "port_forward": fwd.resource,
                    "local_ports": {str(r): p for r, p in local.items()},
                    "cluster": self.cluster_name(),
                    "created_cluster": created,
                }
                if fwd.component == "nats":
                    extra["monitor_url"] = f"http://127.0.0.1:{local[8222]}"
                records[fwd.component] = self.runner.spawn(
                    fwd.component, argv, logs / f"port-forward-{fwd.component}.log", **extra
                )
            # Every forward is listening, and the gateway is ready (which needs the rest).
            for record in records.values():
                for port in record.extra["local_ports"].values():
                    await self.wait_tcp(int(port), self.settings.up_timeout_s)
            gateway = records["gateway"].extra["local_ports"][str(SERVICE_PORT)]
            await self.wait_http(f"http://127.0.0.1:{gateway}/readyz", self.settings.up_timeout_s)
        except BaseException:
            for record in records.values():
                await self.runner.stop(record)
            raise
        return records

    def state(
        self, records: dict[str, ProcessRecord], refs: dict[str, str], created: bool
    ) -> StackState:
        def port(component: str, remote: int) -> int:
            return int(records[component].extra["local_ports"][str(remote)])

        password = (SECRETS / "postgres-password").read_text().strip()
        endpoints = {s: f"http://127.0.0.1:{port(s, SERVICE_PORT)}" for s in SERVICES}
        endpoints |= {
            # TLS with the deployment's CA; the harness logs in as the account's operator.
            "nats": f"tls://127.0.0.1:{port('nats', 4222)}",
            "nats_ca": str((SECRETS / "nats-ca.crt").resolve()),
            "opensearch": f"http://127.0.0.1:{port('opensearch', 9200)}",
            "postgres": (
                f"postgresql://postgres:{password}@127.0.0.1:{port('postgres', 5432)}/postgres"
            ),
        }
        return StackState(
            target=self.target,
            endpoints=endpoints,
            credentials={
                **STACK_CREDENTIALS,
                "nats": {
                    "username": "admin",
                    "password": (SECRETS / nats_password_file("admin")).read_text().strip(),
                },
            },
            processes=records,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            state_dir=str(self.settings.state_dir.resolve()),
            notes=[
                f"{self.target} cluster {self.cluster_name()}"
                f" ({'created' if created else 'reused'}), kubectl {' '.join(self.cluster_args())},"
                f" namespace {self.namespace}; endpoints are supervised port-forwards",
                "images: " + ", ".join(refs[s] for s in SERVICES),
                f"manifests applied: {self.workdir / 'manifests.yaml'}",
            ],
        )

    async def down(self, state: StackState) -> None:
        for record in state.processes.values():
            self.progress(f"stopping the port-forward of {record.name} (pid {record.pid})…")
            await self.runner.stop(record)
        created = any(r.extra.get("created_cluster") for r in state.processes.values())
        if created:
            self.progress(f"deleting the kind cluster {CLUSTER}…")
            # kind deletes a cluster that is already gone without complaint: down is repeatable.
            await self.runner.run(
                [self.runner.which("kind"), "delete", "cluster", "--name", CLUSTER],
                timeout_s=300,
                what="kind delete cluster",
            )
        else:
            self.progress(f"deleting namespace {NAMESPACE} (the cluster was there before `up`)…")
            await self.runner.run(
                self.kubectl(
                    "delete",
                    "namespace",
                    NAMESPACE,
                    "--ignore-not-found",
                    "--wait=true",
                    "--timeout=300s",
                ),
                timeout_s=330,
                what="kubectl delete namespace",
            )
        self.settings.state_file.unlink(missing_ok=True)
        self.progress("kind stack stopped")


async def up(settings: HarnessSettings, progress: Progress = _stderr) -> StackState:
    """Create (or reuse) the kind cluster, deploy ALT_LAS, forward its ports, write the state."""
    return await KindStack(settings, progress=progress).up()


async def down(settings: HarnessSettings, state: StackState, progress: Progress = _stderr) -> None:
    await KindStack(settings, progress=progress).down(state)
