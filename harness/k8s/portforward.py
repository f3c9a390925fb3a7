"""A `kubectl port-forward` that outlives the pod it forwards to.

`kubectl port-forward svc/x` picks one pod and exits when that pod goes (a rollout, a chaos
experiment that terminates pods, a drained node). The kind target runs this supervisor instead:
it starts the forward again, to a pod the Service then selects, until it is told to stop
(SIGTERM, which it passes on). Run as `python -m harness.k8s.portforward`.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from types import FrameType

# Between two attempts: a pod being replaced needs a moment; a longer wait only adds downtime.
RESTART_DELAY_S = 0.5


def argv_for(
    kubectl: str,
    context: str,
    namespace: str,
    resource: str,
    ports: list[str],
    kubeconfig: str | None = None,
) -> list[str]:
    return [
        kubectl,
        "port-forward",
        *(["--kubeconfig", kubeconfig] if kubeconfig else []),
        "--context",
        context,
        "--namespace",
        namespace,
        "--address",
        "127.0.0.1",
        resource,
        *ports,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--kubeconfig", default=None, help="default: kubectl's own")
    parser.add_argument("--context", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("resource", help="e.g. svc/gateway")
    parser.add_argument("ports", nargs="+", help="LOCAL:REMOTE")
    args = parser.parse_args(argv)
    command = argv_for(
        args.kubectl, args.context, args.namespace, args.resource, args.ports, args.kubeconfig
    )
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping:
            break
        print(
            f"port-forward {args.resource} exited ({code}); starting it again",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(RESTART_DELAY_S)  # a restart back-off, not a readiness wait
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
