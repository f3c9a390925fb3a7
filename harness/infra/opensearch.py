"""An embedded OpenSearch 2.19 node built from the engine's jars on Maven Central.

No OpenSearch tarball is served by the registries we can reach, but the server jar and the
modules we need (analysis-common, lang-painless, transport-netty4, reindex) are Maven artifacts.
`resolve_distribution` lays them out as an OpenSearch "home" (lib/, modules/, plugins/) in a
cache directory, adding the plugin descriptors and security policies that the tarball carries;
`OpenSearchServer` runs `org.opensearch.bootstrap.OpenSearch` on the local JVM as one node, as
the unprivileged service user, because OpenSearch refuses to run as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from harness.errors import ComponentFailed, HarnessError
from harness.infra._process import ManagedProcess, ProcessRecord, free_port, hand_over, service_user

logger = logging.getLogger(__name__)

OPENSEARCH_VERSION = "2.19.6"
POM = Path(__file__).resolve().parents[2] / "deploy" / "opensearch" / "pom.xml"
READY_TIMEOUT_S = 120.0
_MARKER = ".harness-complete"
_USE_EXISTING = "or set HARNESS_OPENSEARCH_URL to use an existing OpenSearch 2.x instead"


class OpenSearchUnavailable(HarnessError):
    """The embedded OpenSearch cannot be resolved or started on this machine."""


@dataclass(frozen=True)
class _Module:
    name: str  # folder, descriptor name and profile in deploy/opensearch/pom.xml ("server": lib/)
    classname: str
    description: str
    extends: str = ""


# lang-painless comes first: analysis-common extends it (it adds to Painless's allowlist).
_MODULES = (
    _Module(
        "lang-painless",
        "org.opensearch.painless.PainlessPlugin",
        "An easy, safe and fast scripting language for OpenSearch",
    ),
    _Module(
        "analysis-common",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        'Adds "built in" analyzers to OpenSearch.',
        extends="lang-painless",
    ),
    _Module(
        "transport-netty4",
        "org.opensearch.transport.Netty4Plugin",
        "Netty 4 based transport implementation",
    ),
    _Module(
        "reindex",
        "org.opensearch.index.reindex.ReindexPlugin",
        "The Reindex module adds APIs to reindex from one index to another or update documents"
        " in place.",
    ),
)

# The module jars on Maven Central lack the tarball's plugin-security.policy files; without
# them the security manager stops Netty from accepting connections and Painless from compiling.
_POLICIES = {
    "lang-painless": """grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
""",
    "transport-netty4": """grant {
  permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.lang.RuntimePermission "*", "setContextClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
""",
    "reindex": """grant {
  permission java.net.SocketPermission "*", "connect";
};
grant codeBase "${codebase.opensearch-rest-client}" {
  permission java.net.NetPermission "getProxySelector";
};
grant codeBase "${codebase.httpasyncclient}" {
  permission java.net.NetPermission "getProxySelector";
};
""",
}

# Console only: ManagedProcess sends stdout to the instance's log file.
_LOG4J2 = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
"""

# A java @argfile (JDK 9+ reads '#' comments, several arguments a line, and quoted ones).
_JVM_OPTIONS = """-Xms{heap} -Xmx{heap} -Xss1m
# one node on a 2-core box: G1's concurrent threads would only compete with the tests
-XX:+UseSerialGC
# C1 only: start-up takes about 10 s instead of 20 s on two busy cores, and small test
# indices never need C2's peak speed
-XX:TieredStopAtLevel=1
-XX:-OmitStackTraceInFastThrow -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true
# OpenSearch 2.x parses dates with the COMPAT locale data (its own jvm.options sets it too)
-Djava.locale.providers=SPI,COMPAT
-Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true
-Dio.netty.recycler.maxCapacityPerThread=0
-Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true
-Dopensearch.distribution.type=tar -Dopensearch.bundled_jdk=false
"""


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise OpenSearchUnavailable(
            f"the embedded OpenSearch needs `{tool}` on PATH (Java 17 and Maven 3): install it, "
            + _USE_EXISTING
        )
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two sessions resolving at once would otherwise race on the same staging directory.
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _maven_jars(mvn: str, profile: str, version: str) -> dict[str, Path]:
    """Jars (keyed group:artifact[:classifier]) of one pom profile, with their dependencies."""
    with tempfile.TemporaryDirectory(prefix="opensearch-mvn-") as tmp:
        listing = Path(tmp) / "list.txt"
        argv = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM), f"-P{profile}"]
        argv += [f"-Dopensearch.version={version}", "dependency:list", "-DincludeScope=runtime"]
        argv += ["-DoutputAbsoluteArtifactFilename=true", f"-DoutputFile={listing}"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not listing.exists():
            output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
            raise OpenSearchUnavailable(
                f"Maven could not resolve OpenSearch {version} ({profile}) from Maven Central; "
                f"check the network to it, {_USE_EXISTING}. `{' '.join(argv)}` said:\n{output}"
            )
        jars: dict[str, Path] = {}
        for line in listing.read_text().splitlines():
            parts = line.strip().split(" -- ")[0].split(":")
            if len(parts) not in (6, 7) or parts[2] != "jar":
                continue  # the header line, and poms
            key = ":".join(parts[:2] + parts[3:4] * (len(parts) == 7))
            jars[key] = Path(parts[-1])
        return jars


def _descriptor(module: _Module, version: str) -> str:
    return (
        f"description={module.description}\nversion={version}\nname={module.name}\n"
        f"classname={module.classname}\njava.version=11\nopensearch.version={version}\n"
        f"extended.plugins={module.extends}\nhas.native.controller=false\n"
    )


def resolve_distribution(cache_dir: Path, version: str = OPENSEARCH_VERSION) -> Path:
    """Return an OpenSearch home under `cache_dir`, resolving it with Maven on first use."""
    home = cache_dir / f"opensearch-{version}"
    if (home / _MARKER).exists():
        return home
    mvn = _require("mvn")
    _require("java")
    if not POM.exists():
        raise OpenSearchUnavailable(f"{POM} is missing; restore it {_USE_EXISTING}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / f"opensearch-{version}.lock"):
        if (home / _MARKER).exists():
            return home
        print(
            f"resolving OpenSearch {version} jars with Maven (first run only)...", file=sys.stderr
        )
        staging = cache_dir / f".opensearch-{version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        # A class in both lib/ and a module (or a module and the one it extends) makes
        # OpenSearch refuse to start ("jar hell"), so each piece keeps only the jars it adds.
        owned: dict[str, set[str]] = {}
        for module in [_Module("server", "", ""), *_MODULES]:
            print(f"  {module.name}...", file=sys.stderr)
            jars = _maven_jars(mvn, module.name, version)
            taken = owned.get("server", set()) | owned.get(module.extends, set())
            owned[module.name] = jars.keys() - taken
            is_server = module.name == "server"
            target = staging / "lib" if is_server else staging / "modules" / module.name
            target.mkdir(parents=True)
            for key in owned[module.name]:
                shutil.copyfile(jars[key], target / jars[key].name)
            if not is_server:
                (target / "plugin-descriptor.properties").write_text(_descriptor(module, version))
                if module.name in _POLICIES:
                    (target / "plugin-security.policy").write_text(_POLICIES[module.name])
        for empty in ("bin", "plugins"):  # OpenSearch's security setup insists they exist
            (staging / empty).mkdir()
        # The JVM runs as another user: all must be world-readable whatever our umask.
        for root, _dirs, files in os.walk(staging):
            os.chmod(root, 0o755)  # noqa: S103 a directory the node's user must enter and read
            for file in files:
                os.chmod(os.path.join(root, file), 0o644)
        shutil.rmtree(home, ignore_errors=True)
        staging.rename(home)
        (home / _MARKER).write_text(version + "\n")  # last, so a half-built home is redone
    return home


class OpenSearchServer:
    """One single-node OpenSearch on 127.0.0.1, its data kept in `data_dir` across restarts."""

    def __init__(
        self,
        home: Path,
        data_dir: Path,
        log_path: Path,
        *,
        http_port: int | None = None,
        heap: str = "512m",
    ) -> None:
        self.home = home
        self.data_dir = data_dir
        self.log_path = log_path
        # Chosen once, so a restarted node keeps the URL its clients already hold.
        self._http_port = http_port or free_port()
        self.heap = heap
        self.config_dir = data_dir.with_name(f"{data_dir.name}-config")
        self._process: ManagedProcess | None = None

    @property
    def http_port(self) -> int:
        return self._http_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http_port}"

    @property
    def process(self) -> ManagedProcess:
        if self._process is None:
            raise RuntimeError("OpenSearch has not been started")
        return self._process

    def record(self) -> ProcessRecord:
        return self.process.record(url=self.url)

    def _write_config(self, user: str | None) -> Path:
        conf = self.config_dir
        (conf / "tmp").mkdir(parents=True, exist_ok=True)
        (conf / "logs").mkdir(exist_ok=True)
        settings = {
            "cluster.name": "harness",
            "node.name": "harness-node",  # fixed: the data on disk belongs to this node
            "path.data": str(self.data_dir),
            "path.logs": str(conf / "logs"),
            "network.host": "127.0.0.1",
            "http.port": self._http_port,
            "transport.port": free_port(),
            "discovery.type": "single-node",
            # Disks of test machines are often nearly full; watermarks would block writes.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            "action.auto_create_index": True,
        }
        yml = "".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items())
        (conf / "opensearch.yml").write_text(yml)
        (conf / "log4j2.properties").write_text(_LOG4J2)
        paths = {
            "java.io.tmpdir": conf / "tmp",
            "opensearch.path.home": self.home,
            "opensearch.path.conf": conf,
        }
        # JSON string quoting is what an @argfile understands too (paths may hold spaces).
        quoted = [
            json.dumps(f"-D{key}={value}", ensure_ascii=False) for key, value in paths.items()
        ]
        jvm_options = conf / "jvm.options"
        jvm_options.write_text(_JVM_OPTIONS.format(heap=self.heap) + "\n".join(quoted) + "\n")
        # OpenSearch writes its keystore into the config dir, and its data under path.data.
        hand_over(conf, user)
        hand_over(self.data_dir, user)
        return jvm_options

    async def start(self) -> None:
        java = _require("java")
        if not (self.home / _MARKER).exists():
            raise OpenSearchUnavailable(f"{self.home} is no home made by resolve_distribution()")
        user = service_user()
        jvm_options = self._write_config(user)
        main = "org.opensearch.bootstrap.OpenSearch"
        process = ManagedProcess(
            "opensearch",
            [java, f"@{jvm_options}", "-cp", f"{self.home / 'lib'}/*", main],
            log_path=self.log_path,
            cwd=self.config_dir,
            user=user,
        )
        logger.info("starting OpenSearch on %s (log: %s)", self.url, self.log_path)
        process.start()
        self._process = process

        async with httpx.AsyncClient(timeout=5.0) as client:

            async def healthy() -> bool:
                response = await client.get(f"{self.url}/_cluster/health")
                status = response.json().get("status") if response.status_code == 200 else None
                return status in ("yellow", "green")

            try:
                await process.wait_ready(healthy, READY_TIMEOUT_S, f"OpenSearch at {self.url}")
            except BaseException:
                await self.stop()
                raise
        logger.info("OpenSearch ready on %s (pid %d)", self.url, process.pid)

    async def stop(self) -> None:
        process = self._process
        if process is None:
            return
        logger.info("stopping OpenSearch on %s", self.url)
        await process.stop(grace_s=30.0)
        # ManagedProcess.stop() returns once the JVM's main thread is a zombie, while its last
        # threads may still be exiting, holding the port and unreaped; check_alive() polls the
        # child (which reaps it), so wait for it to report the exit.
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                process.check_alive()
            except ComponentFailed:
                return
            await asyncio.sleep(0.05)
        logger.warning("OpenSearch pid %d is still exiting 10 s after stop()", process.pid)

    async def __aenter__(self) -> OpenSearchServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
