"""A real Kubernetes cluster on this machine, from the binaries `make k8s-tools` built.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as processes on loopback.
Three worker nodes, one per zone as in the kind cluster (deploy/kind/cluster.yaml), so that a
drained node has somewhere to send its pods and the hard one-per-machine spread of NATS means
something: each node is a kubelet with a containerd of its own (Debian's, its own socket, root
and state under `.harness/`; a kubelet removes containers it did not start, so two cannot share
one), its own cgroup root, pod range and CNI bridge (bridge + host-local + portmap + firewall).
The nodes share the machine's network namespace and address, so one kube-proxy (iptables)
serves them all, and one kube-router, run as the NetworkPolicy controller only, polices them
all (it polices the pods whose host IP is its node's: every pod here). CoreDNS and
metrics-server run as pods from images made here (`harness.k8s.ociimage`): nothing is pulled.

What this machine forces, and why (see docs/kubernetes.md):
- containerd's `restrict_oom_score_adj = true`: root here lacks CAP_SYS_RESOURCE, so runc may
  not lower oom_score_adj (every pod sandbox asks for -998) and no pod would start without it.
- `cgroupDriver: cgroupfs` (no systemd; cgroup v1); Kubernetes 1.34 (1.35 refuses cgroup v1).
- The CNI `firewall` plugin: Docker sets the FORWARD policy to DROP.
- Blackhole routes for the pod and service ranges: no pod or service address leaves the machine.
- The apiserver advertises the node's address so that pods (CoreDNS) reach it through the
  `kubernetes` Service; an INPUT rule drops the cluster's ports from anywhere but loopback and
  the pod range.
- kubelet rewrites global sysctls (vm.overcommit_memory, kernel.panic, …): `up` saves them and
  `down` restores them, with everything else it changed (`leftovers()` checks).
- Every node reports the whole machine as its capacity (2 cores, 24 GiB each): the scheduler
  sees three times the machine. The requests of the local overlay are small enough not to care.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.errors import HarnessError
from harness.infra._process import (
    ManagedProcess,
    ProcessRecord,
    pid_alive,
    poll,
    run_command,
    terminate_pid,
)
from harness.k8s import ociimage, pki
from harness.k8s.render import ROOT
from harness.polling import poll_until

Progress = Callable[[str], None]

K8S_VERSION = "v1.34.4"
BIN = ROOT / ".tools" / "k8s" / "bin"
ADDONS_BIN = ROOT / ".tools" / "k8s-addons" / "bin"
ADDONS = ROOT / "deploy" / "k8s-local" / "addons"
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "kube-router",
)
HOST_TOOLS = {  # command → Debian package
    "containerd": "containerd",
    "runc": "runc",
    "ctr": "containerd",
    "iptables": "iptables",
    "ipset": "ipset",
    "conntrack": "conntrack",
    "gcc": "gcc",
}
CNI_PLUGINS = Path("/usr/lib/cni")
CLUSTER = "altlas-local"
# One worker per zone, as in the kind cluster; node i is altlas-node-<letter>.
ZONES = ("zone-a", "zone-b", "zone-c")
POD_CIDR = "10.244.0.0/16"  # the controller-manager gives each node a /24 of it
SVC_CIDR = "10.96.0.0/16"
DNS_IP = "10.96.0.10"
API_PORT = 6443
INPUT_CHAIN = "ALTLAS-K8S-INPUT"
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw")
PAUSE_IMAGE = "altlas.local/pause:1"
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
)
# Stopped in this order: the nodes first (so nothing restarts pods), the control plane last;
# a name is a process or the prefix of one per node (kubelet-a, containerd-a, …).
STOP_ORDER = (
    "kube-router",
    "kube-proxy",
    "kubelet",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "containerd",
    "etcd",
)
NODE_PROCESSES = ("kube-router", "kube-proxy", "kubelet")
# Paths every kubelet uses whatever its --root-dir (constants in the kubelet): its device-plugin
# registry socket, and the symlinks to container logs. Three kubelets share them (see
# `_start_kubelets`); `down` removes what the cluster made there.
DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")
CONTAINER_LOGS = Path("/var/log/containers")
HOST_PATHS = (DEVICE_PLUGINS.parent, DEVICE_PLUGINS, CONTAINER_LOGS)


# Under the cluster's root: what a cluster's run leaves (all removed by a clean `down`).
STATE_DIRS = ("etcd", "containerd-root", "run", "kubelet", "cni", "volumes", "deploy", "images")


class ClusterError(HarnessError):
    """A step of the local cluster failed; the message says which and what it printed."""


def _stop_rank(process: str) -> int:
    for rank, name in enumerate(STOP_ORDER):
        if process == name or process.startswith(f"{name}-"):
            return rank
    return len(STOP_ORDER)


@dataclass(frozen=True)
class Node:
    """One worker node: its kubelet's and containerd's files under the cluster's `root`, and
    the ports and names that keep it apart from the other nodes on the same machine."""

    root: Path
    index: int

    @property
    def letter(self) -> str:
        return "abcdefghij"[self.index]

    @property
    def name(self) -> str:
        return f"altlas-node-{self.letter}"

    @property
    def zone(self) -> str:
        return ZONES[self.index]

    @property
    def kubelet_port(self) -> int:  # 10250, 10260, 10270: clear of the components' ports
        return 10250 + 10 * self.index

    @property
    def healthz_port(self) -> int:  # 10248, 10258, 10268
        return 10248 + 10 * self.index

    @property
    def bridge(self) -> str:
        return f"altlas-br-{self.letter}"

    @property
    def cgroup(self) -> str:
        """The kubelet's cgroup root: its pods go under <cgroup>/kubepods in every hierarchy."""
        return f"/{self.name}"

    @property
    def socket(self) -> Path:
        return self.root / "run" / f"containerd-{self.letter}" / "containerd.sock"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet" / self.letter

    @property
    def cni_dir(self) -> Path:
        return self.root / "cni" / self.letter

    def ctr(self, *args: str) -> list[str]:
        return ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args]


def node_ip() -> str:
    """The address of the interface with the default route (the node's InternalIP)."""
    out = subprocess.run(
        ["ip", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=False
    ).stdout.split()
    if "src" in out:
        return out[out.index("src") + 1]
    addrs = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout.split()
    for i, word in enumerate(addrs):
        if word == "inet":
            return addrs[i + 1].split("/")[0]
    raise ClusterError("no IPv4 address outside loopback: the node needs one for its pods")


def missing_tools() -> list[str]:
    """What `make k8s-tools` / `make k8s-deps` would provide and is not here."""
    missing = [f"{b} (make k8s-tools)" for b in BINARIES if not (BIN / b).exists()]
    missing += [f"{t} (apt-get install {p})" for t, p in HOST_TOOLS.items() if not shutil.which(t)]
    if not (CNI_PLUGINS / "bridge").exists():
        missing.append("CNI plugins (apt-get install containernetworking-plugins)")
    return missing


def _run(argv: Sequence[object], *, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise ClusterError(f"{' '.join(map(str, argv))} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


@dataclass
class LocalCluster:
    """The cluster's files live under `root`; its processes are recorded in `root/cluster.json`."""

    root: Path
    progress: Progress = field(default=lambda m: print(m, file=sys.stderr, flush=True))
    node_ip: str = field(default_factory=node_ip)

    # -- paths ------------------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(Node(self.root, i) for i in range(len(ZONES)))

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"no node {name!r} in the local cluster")

    @property
    def guarded_ports(self) -> tuple[int, ...]:
        """The ports the cluster opens on the node's address; only loopback and pods may reach
        them: the apiserver's and the kubelets'."""
        return (API_PORT, *(n.kubelet_port for n in self.nodes))

    @property
    def kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def record_file(self) -> Path:
        return self.root / "cluster.json"

    def kubectl(self, *args: str) -> list[str]:
        return [str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]

    # -- records ----------------------------------------------------------------------------

    def records(self) -> dict[str, ProcessRecord]:
        if not self.record_file.exists():
            return {}
        data = json.loads(self.record_file.read_text())
        return {k: ProcessRecord.from_json(v) for k, v in data.get("processes", {}).items()}

    @classmethod
    def of_state_dir(cls, state_dir: Path, progress: Progress | None = None) -> LocalCluster:
        """The cluster a stack with this state dir runs (one place decides where it lives)."""
        root = state_dir.resolve() / "k8s-local"
        return cls(root) if progress is None else cls(root, progress)

    def _save(self, records: dict[str, ProcessRecord]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = {
            "version": K8S_VERSION,
            "nodes": [n.name for n in self.nodes],
            "node_ip": self.node_ip,
            "kubeconfig": str(self.kubeconfig),
            "processes": {k: v.to_json() for k, v in records.items()},
        }
        self.record_file.write_text(json.dumps(data, indent=2))

    def running(self) -> bool:
        """Every process of a cluster `up` started is alive."""
        records = self.records()
        return bool(records) and all(pid_alive(r.pid) for r in records.values())

    # -- up ---------------------------------------------------------------------------------

    async def up(self) -> None:
        if missing := missing_tools():
            raise ClusterError(
                "the local Kubernetes cluster needs: "
                + "; ".join(missing)
                + " (`make k8s-local-up` installs and builds them)"
            )
        if self.running():
            self.progress(f"reusing the local cluster under {self.root}")
            return
        if self.records():
            self.progress("a previous local cluster is partly running: cleaning it up first")
            await self.down()
        t0 = time.perf_counter()
        self._check_ports_free()
        self._wipe_state()
        self._certificates()
        records: dict[str, ProcessRecord] = {}
        try:
            await self._control_plane(records)
            self.progress(f"  control plane ready in {time.perf_counter() - t0:.0f}s")
            await self._nodes(records)
            self.progress(f"  {len(self.nodes)} nodes Ready in {time.perf_counter() - t0:.0f}s")
            await self._network_policies(records)
            await self._addons()
        except BaseException:
            self._save(records)
            raise
        self._save(records)
        self.progress(f"local Kubernetes {K8S_VERSION} up in {time.perf_counter() - t0:.0f}s")

    def _check_ports_free(self) -> None:
        import socket

        node_ports = [p for n in self.nodes for p in (n.kubelet_port, n.healthz_port)]
        for port in (API_PORT, *node_ports, 10249, 10256, 10257, 10259):
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("0.0.0.0", port))  # noqa: S104 a probe: is the port free anywhere?
                except OSError:
                    raise ClusterError(
                        f"port {port} is in use: another Kubernetes (or a stale one of ours)"
                        " runs here; `harness down` or stop it first"
                    ) from None

    def _certificates(self) -> None:
        d = self.pki_dir
        ca = pki.CertificateAuthority(d, "ca", "altlas-kubernetes-ca")
        proxy_ca = pki.CertificateAuthority(d, "front-proxy-ca", "altlas-front-proxy-ca")
        pki.service_account_keys(d)
        ip = self.node_ip
        api_sans = (
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
            "IP:127.0.0.1",
            "IP:10.96.0.1",
            f"IP:{ip}",
        )
        ca.issue(pki.Identity("apiserver", "kube-apiserver", sans=api_sans, server=True))
        ca.issue(
            pki.Identity(
                "apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"
            )
        )
        for node in self.nodes:
            ca.issue(
                pki.Identity(
                    f"kubelet-serving-{node.letter}",
                    f"system:node:{node.name}",
                    "system:nodes",
                    sans=(f"DNS:{node.name}", "DNS:localhost", "IP:127.0.0.1", f"IP:{ip}"),
                    server=True,
                )
            )
        proxy_ca.issue(pki.Identity("front-proxy-client", "front-proxy-client"))
        server = f"https://127.0.0.1:{API_PORT}"
        users = {
            "admin": ("kubernetes-admin", "system:masters"),
            "controller-manager": ("system:kube-controller-manager", None),
            "scheduler": ("system:kube-scheduler", None),
            "kube-proxy": ("system:kube-proxy", None),
            "kube-router": ("system:kube-router", None),
            **{
                f"kubelet-{n.letter}": (f"system:node:{n.name}", "system:nodes") for n in self.nodes
            },
        }
        for name, (cn, org) in users.items():
            crt, key = ca.issue(pki.Identity(name, cn, org))
            path = self.kubeconfig if name == "admin" else self.root / f"{name}.kubeconfig"
            pki.write_kubeconfig(path, server, ca.cert_path, crt, key, cluster=CLUSTER, user=cn)

    def _start(
        self, records: dict[str, ProcessRecord], name: str, argv: Sequence[object]
    ) -> ManagedProcess:
        process = ManagedProcess(
            name, [str(a) for a in argv], log_path=self.logs / f"{name}.log", cwd=self.root
        )
        process.start()
        records[name] = process.record()
        self._save(records)
        return process

    async def _http_ok(self, url: str, **kw: Any) -> bool:
        async with httpx.AsyncClient(timeout=3, **kw) as client:
            return (await client.get(url)).status_code == 200

    async def _control_plane(self, records: dict[str, ProcessRecord]) -> None:
        p, b = self.pki_dir, BIN
        etcd_dir = self.root / "etcd"
        etcd_dir.mkdir(parents=True, exist_ok=True)
        etcd_dir.chmod(0o700)
        self.progress("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler…")
        etcd = self._start(records, "etcd", [
            b / "etcd", "--name", "altlas", "--data-dir", etcd_dir,
            "--listen-client-urls", "http://127.0.0.1:2379",
            "--advertise-client-urls", "http://127.0.0.1:2379",
            "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "altlas=http://127.0.0.1:2380",
            "--listen-metrics-urls", "http://127.0.0.1:2381",
            "--quota-backend-bytes", str(2 * 1024**3),
        ])  # fmt: skip
        await etcd.wait_ready(lambda: self._http_ok("http://127.0.0.1:2379/health"), 60, "etcd")
        api = self._start(records, "kube-apiserver", [
            b / "kube-apiserver", "--etcd-servers", "http://127.0.0.1:2379",
            # Pods reach it at the node's address; ALTLAS-K8S-INPUT drops the rest.
            "--bind-address", "0.0.0.0", "--advertise-address", self.node_ip,  # noqa: S104
            "--secure-port", str(API_PORT),
            "--tls-cert-file", p / "apiserver.crt", "--tls-private-key-file", p / "apiserver.key",
            "--client-ca-file", p / "ca.crt",
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", p / "sa.pub",
            "--service-account-signing-key-file", p / "sa.key",
            "--service-cluster-ip-range", SVC_CIDR,
            "--authorization-mode", "Node,RBAC", "--allow-privileged=true",
            "--enable-admission-plugins", "NodeRestriction",
            "--kubelet-client-certificate", p / "apiserver-kubelet-client.crt",
            "--kubelet-client-key", p / "apiserver-kubelet-client.key",
            "--kubelet-certificate-authority", p / "ca.crt",
            "--kubelet-preferred-address-types", "InternalIP,Hostname",
            # The aggregation layer, for metrics.k8s.io (metrics-server, the HPA's source).
            "--requestheader-client-ca-file", p / "front-proxy-ca.crt",
            "--requestheader-allowed-names", "front-proxy-client",
            "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
            "--requestheader-group-headers", "X-Remote-Group",
            "--requestheader-username-headers", "X-Remote-User",
            "--proxy-client-cert-file", p / "front-proxy-client.crt",
            "--proxy-client-key-file", p / "front-proxy-client.key",
            "--enable-aggregator-routing=true",
            "--profiling=false",
        ])  # fmt: skip
        await api.wait_ready(self._api_ready, 120, "kube-apiserver /readyz")
        self._guard_ports()
        for name, binary in (("controller-manager", "kube-controller-manager"),
                             ("scheduler", "kube-scheduler")):  # fmt: skip
            kc = self.root / f"{name}.kubeconfig"
            argv: list[Any] = [
                b / binary, "--kubeconfig", kc, "--authentication-kubeconfig", kc,
                "--authorization-kubeconfig", kc, "--bind-address", "127.0.0.1",
                "--leader-elect=false",
            ]  # fmt: skip
            if name == "controller-manager":
                argv += [
                    "--use-service-account-credentials=true",
                    "--cluster-signing-cert-file", p / "ca.crt",
                    "--cluster-signing-key-file", p / "ca.key", "--root-ca-file", p / "ca.crt",
                    "--service-account-private-key-file", p / "sa.key",
                    "--allocate-node-cidrs=true", "--cluster-cidr", POD_CIDR,
                    "--node-cidr-mask-size", "24", "--service-cluster-ip-range", SVC_CIDR,
                    "--controllers", "*,bootstrapsigner,tokencleaner",
                    # Fast enough for short experiments: an HPA reacts within seconds.
                    "--horizontal-pod-autoscaler-sync-period", "10s",
                    "--horizontal-pod-autoscaler-downscale-stabilization", "30s",
                ]  # fmt: skip
            self._start(records, binary, argv)
        await self._wait_kubectl(["get", "serviceaccount", "default"], 90, "the default SA")

    async def _api_ready(self) -> bool:
        p = self.pki_dir
        return await self._http_ok(
            f"https://127.0.0.1:{API_PORT}/readyz",
            verify=str(p / "ca.crt"),
            cert=(str(p / "admin.crt"), str(p / "admin.key")),
        )

    def _guard_ports(self) -> None:
        """Drop the cluster's ports from anywhere but loopback and the pods."""
        _run(["iptables", "-w", "-N", INPUT_CHAIN], check=False)
        _run(["iptables", "-w", "-F", INPUT_CHAIN])
        ports = ",".join(map(str, self.guarded_ports))
        for rule in (
            ["-i", "lo", "-j", "RETURN"],
            ["-s", POD_CIDR, "-j", "RETURN"],
            ["-p", "tcp", "-m", "multiport", "--dports", ports, "-j", "DROP"],
        ):
            _run(["iptables", "-w", "-A", INPUT_CHAIN, *rule])
        jump = ["INPUT", "-j", INPUT_CHAIN]
        if subprocess.run(["iptables", "-w", "-C", *jump], capture_output=True).returncode != 0:
            _run(["iptables", "-w", "-I", "INPUT", "1", "-j", INPUT_CHAIN])

    async def _wait_kubectl(self, args: Sequence[str], timeout_s: float, what: str) -> None:
        async def _ok() -> bool:
            proc = await asyncio.create_subprocess_exec(
                *self.kubectl(*args),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            return await proc.wait() == 0

        await poll(_ok, timeout_s, what, interval_s=0.5)

    def _host_network(self) -> None:
        saved = self.root / "sysctl.saved"
        if not saved.exists():
            values = []
            for key in SYSCTLS:
                value = _run(["sysctl", "-n", key], check=False).strip()
                if value:
                    values.append(f"{key}={value}")
            saved.write_text("\n".join(values) + "\n")
        _run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        _run(["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"], check=False)
        for cidr in (POD_CIDR, SVC_CIDR):
            _run(["ip", "route", "replace", "blackhole", cidr])

    def _cni_config(self, node: Node, subnet: str) -> None:
        """The node's pod network: its own bridge and the /24 the controller-manager gave it.
        containerd watches the directory and takes the file up as it appears."""
        conf = node.cni_dir / "net.d"
        (conf / "10-altlas.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0",
            "name": "altlas-pods",
            "plugins": [
                {
                    "type": "bridge", "bridge": node.bridge, "isGateway": True, "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(node.cni_dir / "ipam"),
                        "ranges": [[{"subnet": subnet}]],
                        # No default route: pods reach pods (on any node: the machine routes
                        # between the bridges), Services and the node itself (metrics-server
                        # scrapes the kubelets at the node's address), no more.
                        "routes": [
                            {"dst": POD_CIDR},
                            {"dst": SVC_CIDR},
                            {"dst": f"{self.node_ip}/32"},
                        ],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "firewall", "backend": "iptables"},
            ],
        }, indent=2))  # fmt: skip

    def _containerd_config(self, node: Node) -> Path:
        state = node.socket.parent
        state.mkdir(parents=True, exist_ok=True)
        (node.cni_dir / "net.d").mkdir(parents=True, exist_ok=True)
        config = state / "config.toml"
        config.write_text(f"""version = 2
root = "{self.root / "containerd-root" / node.letter}"
state = "{state / "state"}"
[grpc]
  address = "{node.socket}"
[ttrpc]
  address = "{node.socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj (sandboxes ask -998).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{shutil.which("runc") or "/usr/sbin/runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_PLUGINS}"
    conf_dir = "{node.cni_dir / "net.d"}"
""")
        return config

    @staticmethod
    def _cgroup_hierarchies() -> list[Path]:
        """The cgroup v1 hierarchies (cgroup v2's `unified` is not the kubelet's here)."""
        root = Path("/sys/fs/cgroup")
        return [p for p in sorted(root.iterdir()) if p.is_dir() and p.name != "unified"]

    def _make_cgroup_root(self, node: Node) -> None:
        """kubelet's --cgroup-root must exist in every hierarchy; cpuset's needs its CPUs and
        memory nodes before a task can join it."""
        for hierarchy in self._cgroup_hierarchies():
            path = hierarchy / node.cgroup.lstrip("/")
            path.mkdir(exist_ok=True)
            if hierarchy.name == "cpuset":
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    if not (path / knob).read_text().strip():
                        (path / knob).write_text((hierarchy / knob).read_text())

    async def _start_containerd(self, records: dict[str, ProcessRecord], node: Node) -> None:
        containerd = self._start(
            records, f"containerd-{node.letter}",
            ["containerd", "--config", self._containerd_config(node)],
        )  # fmt: skip

        async def _answers() -> bool:
            proc = await asyncio.create_subprocess_exec(
                *node.ctr("version"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            return await proc.wait() == 0

        await containerd.wait_ready(_answers, 60, f"containerd of {node.name}")

    def _start_kubelet(self, records: dict[str, ProcessRecord], node: Node) -> None:
        p = self.pki_dir
        kubelet_dir = node.kubelet_dir
        (kubelet_dir / "pod-logs").mkdir(parents=True, exist_ok=True)
        self._make_cgroup_root(node)
        kubelet_config = kubelet_dir / "config.yaml"
        kubelet_config.write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {self.node_ip}
port: {node.kubelet_port}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {p / "ca.crt"}}}
authorization: {{mode: Webhook}}
cgroupDriver: cgroupfs
cgroupRoot: {node.cgroup}
containerRuntimeEndpoint: unix://{node.socket}
clusterDomain: cluster.local
clusterDNS: [{DNS_IP}]
tlsCertFile: {p / f"kubelet-serving-{node.letter}.crt"}
tlsPrivateKeyFile: {p / f"kubelet-serving-{node.letter}.key"}
failSwapOn: false
podLogsDir: {kubelet_dir / "pod-logs"}
healthzBindAddress: 127.0.0.1
healthzPort: {node.healthz_port}
serializeImagePulls: false
maxPods: 60
evictionHard: {{memory.available: "200Mi", nodefs.available: "3%", imagefs.available: "3%"}}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
""")
        self._start(records, f"kubelet-{node.letter}", [
            BIN / "kubelet", "--config", kubelet_config,
            "--kubeconfig", self.root / f"kubelet-{node.letter}.kubeconfig",
            "--root-dir", kubelet_dir / "root", "--hostname-override", node.name,
            "--node-ip", self.node_ip,
            # Allowed to a kubelet by NodeRestriction: the zone the kind cluster's workers have.
            "--node-labels", f"topology.kubernetes.io/zone={node.zone}",
        ])  # fmt: skip

    async def _start_kubelets(self, records: dict[str, ProcessRecord]) -> None:
        """One after the other: each kubelet empties the device-plugin directory and listens
        on its socket when it starts (a fixed path), and exits if another one's socket appears
        in between ("address already in use"). So the next starts once this one's socket is
        there. No device plugin runs here: that only the last kubelet's socket stays reachable
        changes nothing."""
        made = [str(p) for p in HOST_PATHS if not p.exists()]
        (self.root / "host-paths.json").write_text(json.dumps(made))
        socket = DEVICE_PLUGINS / "kubelet.sock"
        for node in self.nodes:
            before = _inode(socket)
            self._start_kubelet(records, node)

            async def _listening(before: int | None = before) -> bool:
                now = _inode(socket)
                return now is not None and now != before

            await poll_until(_listening, 60, f"the kubelet of {node.name} to start")

    async def _pod_subnet(self, node: Node) -> str:
        async def _allocated() -> str:
            return (
                await self.kubectl_run(
                    "get", "node", node.name, "-o", "jsonpath={.spec.podCIDR}", timeout_s=20
                )
            ).strip()

        await self._wait_kubectl(["get", "node", node.name], 120, f"node {node.name} to register")
        return await poll_until(_allocated, 60, f"a pod range for {node.name}")

    async def _nodes(self, records: dict[str, ProcessRecord]) -> None:
        names = ", ".join(n.name for n in self.nodes)
        self.progress(f"starting the nodes ({names}): containerd, kubelet; kube-proxy…")
        self._host_network()
        pause = ociimage.pause_image(self.root / "images" / "pause.tar", PAUSE_IMAGE)
        for node in self.nodes:
            await self._start_containerd(records, node)
        self.import_archive(pause)
        await self._start_kubelets(records)
        proxy_config = self.root / "kube-proxy.yaml"
        proxy_config.write_text(f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {self.root / "kube-proxy.kubeconfig"}}}
mode: iptables
clusterCIDR: {POD_CIDR}
hostnameOverride: {self.nodes[0].name}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {{maxPerCore: 0}}
""")
        self._start(records, "kube-proxy", [BIN / "kube-proxy", "--config", proxy_config])
        for node in self.nodes:
            self._cni_config(node, await self._pod_subnet(node))
        for node in self.nodes:
            await self.kubectl_run(
                "wait", "--for=condition=Ready", f"node/{node.name}", "--timeout=180s",
                timeout_s=200,
            )  # fmt: skip

    async def _network_policies(self, records: dict[str, ProcessRecord]) -> None:
        self.progress("starting kube-router (NetworkPolicy enforcement)…")
        await self.apply(ADDONS / "kube-router-rbac.yaml")
        self._start(records, "kube-router", [
            BIN / "kube-router", "--kubeconfig", self.root / "kube-router.kubeconfig",
            "--hostname-override", self.nodes[0].name, "--run-firewall=true", "--run-router=false",
            "--run-service-proxy=false", "--enable-ipv6=false",
            "--health-port", "0", "--metrics-port", "0",
        ])  # fmt: skip

    async def _addons(self) -> None:
        """CoreDNS (the base's NetworkPolicies allow DNS to k8s-app=kube-dns only, so it must
        be a pod) and metrics-server (for HorizontalPodAutoscalers), from images made here."""
        images = self.root / "images"
        for name in ("coredns", "metrics-server"):
            binary = ADDONS_BIN / name
            if not binary.exists():
                raise ClusterError(f"{binary} is missing: run `make k8s-addons`")
            ref = manifest_image(ADDONS / f"{name}.yaml", name)
            self.import_archive(ociimage.binary_image(images / f"{name}.tar", ref, binary))
            await self.apply(ADDONS / f"{name}.yaml")
        self.progress("waiting for CoreDNS and metrics-server…")
        for name in ("coredns", "metrics-server"):
            await self.kubectl_run(
                "-n", "kube-system", "rollout", "status", f"deployment/{name}",
                "--timeout=180s", timeout_s=200,
            )  # fmt: skip

    # -- helpers used by the target ------------------------------------------------------------

    def import_archive(self, archive: Path, *, unpack: bool = False) -> None:
        """An image archive into every node's containerd, the nodes side by side."""
        flags = [] if unpack else ["--no-unpack"]
        imports = [
            (node, subprocess.Popen(
                node.ctr("images", "import", *flags, str(archive)),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            ))
            for node in self.nodes
        ]  # fmt: skip
        failed = []
        for node, proc in imports:
            _, err = proc.communicate(timeout=900)
            if proc.returncode != 0:
                failed.append(f"{node.name}: {err.decode(errors='replace').strip()}")
        if failed:
            raise ClusterError(f"importing {archive.name} into containerd failed: {failed}")

    def import_docker_images(self, refs: Sequence[str]) -> None:
        """`docker save` once, then into every node: images built by the Docker engine."""
        archive = self.root / "images" / "docker-images.tar"
        archive.parent.mkdir(parents=True, exist_ok=True)
        with archive.open("wb") as out:
            save = subprocess.run(
                ["docker", "save", *refs], stdout=out, stderr=subprocess.PIPE, check=False
            )
        try:
            if save.returncode != 0:
                raise ClusterError(
                    f"docker save {' '.join(refs)} failed: {save.stderr.decode(errors='replace')}"
                )
            self.import_archive(archive, unpack=True)
        finally:
            archive.unlink(missing_ok=True)

    async def apply(self, path: Path) -> str:
        return await self.kubectl_run(
            "apply", "--server-side", "--force-conflicts", "--field-manager=altlas-harness",
            "-f", str(path), timeout_s=180,
        )  # fmt: skip

    async def kubectl_run(self, *args: str, timeout_s: float = 120) -> str:
        return await run_command(
            self.kubectl(*args), timeout_s=timeout_s, what=f"kubectl {args[0]}", error=ClusterError
        )

    # -- down -------------------------------------------------------------------------------

    async def down(self) -> list[str]:
        """Stop every process, remove everything `up` put on the machine; return leftovers."""
        records = self.records()
        order = sorted(records, key=_stop_rank)
        node_side = [n for n in order if _stop_rank(n) < len(NODE_PROCESSES)]
        for name in node_side:
            await terminate_pid(records[name].pid, name, 10)
        for node in self.nodes:
            if node.socket.exists():
                self._kill_containers(node)
        for name in order:
            if name not in node_side:
                await terminate_pid(records[name].pid, name, 15)
        self._kill_shims()
        self._unmount()
        self._network_cleanup()
        saved = self.root / "sysctl.saved"
        if saved.exists():
            _run(["sysctl", "-q", "-p", str(saved)], check=False)
            saved.unlink()
        left = self.leftovers(records)
        if not left:
            # Kept otherwise: the next `harness down` finds the cluster again and retries.
            self.record_file.unlink(missing_ok=True)
            self._wipe_state()
        return left

    def _wipe_state(self) -> None:
        """Keep the PKI and the logs for reading; the rest is state of a cluster that is gone
        (a new one must not start on an old one's etcd, images or volumes)."""
        for sub in STATE_DIRS:
            shutil.rmtree(self.root / sub, ignore_errors=True)

    @staticmethod
    def _kill_containers(node: Node) -> None:
        ctr = node.ctr
        tasks = _run(ctr("tasks", "ls", "-q"), check=False).split()
        for task in tasks:
            _run(ctr("tasks", "kill", "-s", "SIGKILL", task), check=False)
        deadline = time.monotonic() + 10
        while tasks and time.monotonic() < deadline:
            running = set(_run(ctr("tasks", "ls", "-q"), check=False).split())
            for task in set(tasks) - running:
                tasks.remove(task)
            for task in tasks:
                _run(ctr("tasks", "delete", "-f", task), check=False)
            if tasks:
                time.sleep(0.2)  # the tasks are being killed; bounded by the deadline
        for container in _run(ctr("containers", "ls", "-q"), check=False).split():
            _run(ctr("containers", "delete", container), check=False)

    def _shims(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "containerd-shim" in cmdline and str(self.run_dir) in cmdline:
                pids.append(int(entry.name))
        return pids

    def _kill_shims(self) -> None:
        for pid in self._shims():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)

    def _mounts(self) -> list[str]:
        root = str(self.root.resolve())
        mounts = []
        for line in Path("/proc/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target.startswith(root) or target.startswith("/run/netns/cni-"):
                mounts.append(target)
        return mounts

    def _unmount(self) -> None:
        for target in sorted(self._mounts(), key=len, reverse=True):
            if not target.startswith("/run/netns/"):
                _run(["umount", "-l", target], check=False)

    def _network_cleanup(self) -> None:
        for ns in _our_netns():
            _run(["ip", "netns", "delete", ns], check=False)
        for bridge in self._bridges():
            _run(["ip", "link", "delete", bridge], check=False)
        for cidr in (POD_CIDR, SVC_CIDR):
            _run(["ip", "route", "del", "blackhole", cidr], check=False)
        if (BIN / "kube-proxy").exists():
            _run([BIN / "kube-proxy", "--cleanup"], check=False)
        for table in IPTABLES_TABLES:
            jumps, chains = _our_iptables(table)
            for jump in jumps:
                _run(["iptables", "-w", "-t", table, "-D", *jump], check=False)
            for chain in chains:
                _run(["iptables", "-w", "-t", table, "-F", chain], check=False)
            for chain in chains:
                _run(["iptables", "-w", "-t", table, "-X", chain], check=False)
        for name in _our_ipsets():
            _run(["ipset", "destroy", name], check=False)
        self._host_paths_cleanup()
        for cgroup in self._cgroups():
            for sub in sorted(cgroup.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
            with contextlib.suppress(OSError):
                cgroup.rmdir()

    def _host_files(self) -> list[Path]:
        """The kubelets' files outside the cluster's root that exist: the device-plugin socket
        and checkpoint, and the /var/log/containers links into this cluster's pod logs."""
        files = [DEVICE_PLUGINS / n for n in ("kubelet.sock", "kubelet_internal_checkpoint")]
        found = [f for f in files if f.exists()]
        if CONTAINER_LOGS.is_dir():
            found += [
                link
                for link in CONTAINER_LOGS.iterdir()
                if link.is_symlink() and str(self.root) in os.readlink(link)
            ]
        return found

    def _host_paths_cleanup(self) -> None:
        """The kubelets' files outside the cluster's root; the directories too when `up` made
        them (and nothing else is in them)."""
        for path in self._host_files():
            path.unlink(missing_ok=True)
        record = self.root / "host-paths.json"
        made = json.loads(record.read_text()) if record.exists() else []
        for path in sorted(map(Path, made), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                path.rmdir()
        record.unlink(missing_ok=True)

    def _bridges(self) -> list[str]:
        """The nodes' CNI bridges (and cni0, the one bridge of a cluster before nodes had their
        own) that exist."""
        names = ["cni0", *(n.bridge for n in self.nodes)]
        return [b for b in names if _run(["ip", "link", "show", b], check=False)]

    def _cgroups(self) -> list[Path]:
        """The nodes' cgroup roots (and a top-level kubepods of a cluster before that)."""
        found = []
        for hierarchy in self._cgroup_hierarchies():
            found += list(hierarchy.glob("kubepods*"))
            found += [hierarchy / n.cgroup.lstrip("/") for n in self.nodes]
        return [p for p in found if p.is_dir()]

    def leftovers(self, records: dict[str, ProcessRecord] | None = None) -> list[str]:
        """What a stopped cluster would have left on the machine (empty when clean)."""
        left = [
            f"process {r.name} (pid {r.pid})" for r in (records or {}).values() if pid_alive(r.pid)
        ]
        left += [f"containerd shim pid {pid}" for pid in self._shims()]
        left += [f"mount {m}" for m in self._mounts()]
        left += [f"netns {ns}" for ns in _our_netns()]
        left += [f"interface {bridge}" for bridge in self._bridges()]
        left += [f"cgroup {path}" for path in self._cgroups()]
        left += [f"{'symlink' if p.is_symlink() else 'file'} {p}" for p in self._host_files()]
        routes = _run(["ip", "route", "show", "type", "blackhole"], check=False)
        left += [f"route blackhole {c}" for c in (POD_CIDR, SVC_CIDR) if c in routes]
        for table in IPTABLES_TABLES:
            left += [f"iptables {table} chain {chain}" for chain in _our_iptables(table)[1]]
        left += [f"ipset {name}" for name in _our_ipsets()]
        return left


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def manifest_image(path: Path, deployment: str) -> str:
    """The image the add-on's manifest runs: the image made here is tagged to match it."""
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == deployment:
            image: str = doc["spec"]["template"]["spec"]["containers"][0]["image"]
            return image
    raise ClusterError(f"{path} has no Deployment {deployment!r}")


def _our_netns() -> list[str]:
    """The pods' network namespaces (containerd names them cni-<id>)."""
    names = _run(["ip", "netns", "list"], check=False).split()
    return [ns for ns in names if ns.startswith("cni-")]


def _our_iptables(table: str) -> tuple[list[list[str]], list[str]]:
    """In one iptables table: the rules that jump to the cluster's chains (as `-D` arguments),
    and the cluster's chains."""
    rules = _run(["iptables", "-w", "-t", table, "-S"], check=False).splitlines()
    jumps, chains = [], []
    for rule in rules:
        parts = shlex.split(rule)  # comments are quoted: "kube-router netpol - …"
        if parts[:1] == ["-A"] and "-j" in parts and _ours(parts[-1]):
            jumps.append(parts[1:])
        elif parts[:1] == ["-N"] and _ours(parts[1]):
            chains.append(parts[1])
    return jumps, chains


def _our_ipsets() -> list[str]:
    names = _run(["ipset", "list", "-n"], check=False).split()
    return [n for n in names if _ours(n) or n.startswith("kube-router")]


def _ours(chain: str) -> bool:
    """iptables chains and ipsets the cluster creates: kube-proxy, kubelet, kube-router, CNI."""
    return chain.startswith(("KUBE-", "CNI-", INPUT_CHAIN))
