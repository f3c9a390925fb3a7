"""The `k8s-local` target: ALT_LAS on a real Kubernetes cluster built and run on this machine.

Where kind cannot run (no node image can be pulled), `harness.k8s.localcluster` runs a cluster
of three worker nodes, one per zone as kind's, from binaries built from the Go module proxy
(`make k8s-tools`). This target starts it (or reuses a running one), builds the four service
images and the dependency images as the docker and kind targets do, imports them into every
node's containerd, gives each node static volumes, and then deploys exactly as the kind target
does: the `local` overlay (the kind overlay on the same base, sized for one 2-core machine),
rollouts awaited, supervised port-forwards, the same state file. `down` stops the forwards and
the whole cluster, and says if anything was left.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.k8s import render
from harness.k8s.localcluster import CLUSTER, ClusterError, LocalCluster, Node
from harness.settings import HarnessSettings
from harness.stack.kind import KindError, KindStack, Progress, _stderr
from harness.stack.state import StackState

OVERLAY = render.MANIFESTS / "overlays" / "local"
# Static volumes for the StatefulSets' claims (no provisioner runs here), on each node: one NATS
# (one per node, a hard spread), the one OpenSearch and the one PostgreSQL wherever they land,
# and a spare. A claim stays bound to its volume, so a recreated pod needs no new one.
VOLUMES_PER_NODE = 4
VOLUME_SIZE = "25Gi"
STORAGE_CLASS = "altlas-local"
# The base's dependency images (kustomize `images` names) → the docker target's local builds.
DEPENDENCY_IMAGES = {
    "nats": "nats",
    "postgres": "postgres",
    "opensearch": "opensearchproject/opensearch",
}


def _storage(root: Path, nodes: Sequence[Node]) -> str:
    """A default StorageClass without a provisioner and, on each node, hostPath volumes under
    `root` that only that node's pods may use (as a disk of that machine would be)."""
    docs = [
        f"""apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {STORAGE_CLASS}
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
"""
    ]
    for node in nodes:
        for n in range(VOLUMES_PER_NODE):
            docs.append(_volume(root / node.letter / f"pv-{n}", f"{node.letter}-{n}", node.name))
    return "---\n".join(docs)


def _volume(path: Path, suffix: str, node: str) -> str:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o1777)  # pods run as their image's user; hostPath knows no fsGroup
    return f"""apiVersion: v1
kind: PersistentVolume
metadata:
  name: altlas-local-pv-{suffix}
  labels: {{app.kubernetes.io/part-of: altlas-local}}
spec:
  capacity: {{storage: {VOLUME_SIZE}}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: {STORAGE_CLASS}
  hostPath: {{path: {path}, type: Directory}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {{key: kubernetes.io/hostname, operator: In, values: [{node}]}}
"""


@dataclass
class LocalK8sStack(KindStack):
    target = "k8s-local"
    overlay = OVERLAY
    cluster: LocalCluster = field(init=False)
    dependency_refs: dict[str, str] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: f"k8s-local-{int(time.time())}")

    def __post_init__(self) -> None:
        self.cluster = LocalCluster.of_state_dir(self.settings.state_dir, self.progress)

    @property
    def workdir(self) -> Path:
        return self.cluster.root / "deploy"

    def cluster_args(self) -> list[str]:
        return ["--kubeconfig", str(self.cluster.kubeconfig), "--context", CLUSTER]

    def cluster_name(self) -> str:
        return CLUSTER

    def kubectl(self, *args: str) -> list[str]:
        return self.cluster.kubectl("--context", CLUSTER, *args)

    async def up(self) -> StackState:
        if self.settings.state_file.exists():
            raise KindError(
                f"a stack is already described by {self.settings.state_file}; run `harness down`"
            )
        t0 = time.perf_counter()
        created = not self.cluster.running()
        try:
            await self.cluster.up()
            await self._prepare_node()
            return await self._deploy(created, t0)
        except BaseException:
            self.progress(
                f"the local cluster is kept for inspection (kubectl {' '.join(self.cluster_args())}"
                f" -n {self.namespace} …; logs in {self.cluster.logs}); `harness down` or"
                " `make k8s-local-down` removes it"
            )
            raise

    async def _prepare_node(self) -> None:
        manifest = self.cluster.root / "storage.yaml"
        manifest.write_text(_storage(self.cluster.root / "volumes", self.cluster.nodes))
        await self.cluster.apply(manifest)

    async def load_images(self, refs: Sequence[str]) -> None:
        from harness.containers.infra import infra_images

        self.progress("building (or reusing) the dependency images…")
        self.dependency_refs = await asyncio.to_thread(infra_images, self.settings, self.progress)
        every = [*refs, *self.dependency_refs.values()]
        self.progress(f"importing {len(every)} images into the node's containerd…")
        started = time.perf_counter()
        await asyncio.to_thread(self.cluster.import_docker_images, every)
        self.progress(f"  imported in {time.perf_counter() - started:.0f}s")

    def extra_images(self) -> list[dict[str, str]]:
        images = []
        for dependency, ref in self.dependency_refs.items():
            name, _, tag = ref.rpartition(":")
            images.append({"name": DEPENDENCY_IMAGES[dependency], "newName": name, "newTag": tag})
        return images

    async def down(self, state: StackState) -> None:
        for record in state.processes.values():
            self.progress(f"stopping the port-forward of {record.name} (pid {record.pid})…")
            await self.runner.stop(record)
        await stop_cluster(self.cluster, self.progress)
        self.settings.state_file.unlink(missing_ok=True)
        self.progress("k8s-local stack stopped")


async def stop_cluster(cluster: LocalCluster, progress: Progress) -> None:
    progress(f"stopping the local Kubernetes cluster under {cluster.root}…")
    left = await cluster.down()
    if left:
        raise ClusterError(
            "the local cluster left behind: "
            + "; ".join(left)
            + f" (logs: {cluster.logs}); `harness down` again retries the clean-up"
        )


async def up(settings: HarnessSettings, progress: Progress = _stderr) -> StackState:
    """Start (or reuse) the local cluster, deploy ALT_LAS, forward its ports, write the state."""
    return await LocalK8sStack(settings, progress=progress).up()


async def down(settings: HarnessSettings, state: StackState, progress: Progress = _stderr) -> None:
    await LocalK8sStack(settings, progress=progress).down(state)
