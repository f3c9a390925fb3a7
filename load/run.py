"""`make load` / `make load-ui`: run Locust against a deployment, starting the local stack
first when none is described (and stopping it after).

    python -m load.run [--ui] [--workers N] [--host URL] -- <locust options>

Headless runs exit with Locust's code: non-zero when an SLO broke. `--workers N` runs a master
and N worker processes on this machine (distributed mode); `--ui` serves the web UI and prints
its URL.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from load.target import TargetError, resolve, state_file

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "load" / "locustfile.py"
BIN = Path(sys.executable).parent


@contextmanager
def deployment(host: str | None) -> Iterator[str]:
    """The gateway URL to load: given, described, or a local stack started for this run."""
    if host:
        yield host
        return
    try:
        described = resolve().host
    except TargetError:
        described = None
    if described:
        yield described
        return
    if os.environ.get("HARNESS_GATEWAY_URL"):
        raise SystemExit("HARNESS_GATEWAY_URL is set but LOAD_ACCOUNTS is not")
    print(f"load: no stack described ({state_file()} missing): starting one", flush=True)
    subprocess.run([str(BIN / "harness"), "up"], check=True, stdout=subprocess.DEVNULL)
    try:
        yield str(resolve().host)
    finally:
        print("load: stopping the stack this run started", flush=True)
        subprocess.run([str(BIN / "harness"), "down"], check=False)


def locust_cmd(*extra: str) -> list[str]:
    return [str(BIN / "locust"), "-f", str(LOCUSTFILE), *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.run", description=__doc__)
    parser.add_argument("--ui", action="store_true", help="serve the Locust web UI")
    parser.add_argument("--web-port", type=int, default=8089)
    parser.add_argument("--workers", type=int, default=0, help="distributed: N local workers")
    parser.add_argument("--host", default=os.environ.get("LOAD_HOST") or None)
    args, locust_args = parser.parse_known_args(argv)
    if locust_args and locust_args[0] == "--":
        locust_args = locust_args[1:]
    with deployment(args.host) as host:
        common = ["--host", host, *locust_args]
        if args.ui:
            common += ["--web-host", "127.0.0.1", "--web-port", str(args.web_port)]
        else:
            common.append("--headless")
        if args.workers <= 0:
            if args.ui:
                print(f"Locust web UI: http://127.0.0.1:{args.web_port}  (Ctrl-C stops)")
            return run(locust_cmd(*common))
        return distributed(common, args.workers, args.ui, args.web_port)


def run(cmd: list[str]) -> int:
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()


def distributed(common: list[str], workers: int, ui: bool, web_port: int) -> int:
    port = _free_port()
    master = subprocess.Popen(
        locust_cmd(
            *common, "--master", "--expect-workers", str(workers), "--master-bind-port", str(port)
        ),
        cwd=ROOT,
    )
    procs = [
        subprocess.Popen(
            locust_cmd("--worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
            cwd=ROOT,
        )
        for _ in range(workers)
    ]
    if ui:
        print(f"Locust web UI: http://127.0.0.1:{web_port}  ({workers} workers; Ctrl-C stops)")
    try:
        code = master.wait()
    except KeyboardInterrupt:
        master.send_signal(signal.SIGINT)
        code = master.wait()
    deadline = time.monotonic() + 30
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
    return code


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
