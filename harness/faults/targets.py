"""The fault primitives of a running target, chosen in one place.

    faults = for_target(state.target)
    await faults.kill(settings, "runner", "SIGKILL"); await faults.start(settings, "runner")

`local` is processes (`process`) with links through Toxiproxy (`network`: partition = the link
cut, latency toxics); `docker` is containers (`container`: partition = the container taken off
its network; no Toxiproxy, so no latency). Kubernetes targets fault through Chaos Toolkit's
Kubernetes activities (`chaos/kubernetes/`, `harness.chaos.k8s`), not through these.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.faults import container, network, process
from harness.settings import HarnessSettings

Primitive = Callable[..., Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class TargetFaults:
    """What can be done to a component of one target, each with its heal."""

    target: str
    kill: Primitive  # (settings, name, signal) — heal: start
    start: Primitive  # (settings, name)
    stop: Primitive  # (settings, name) — an outage; heal: start
    pause: Primitive  # (settings, name) — heal: resume
    resume: Primitive
    partition: Primitive  # (settings, link or container) — heal: unpartition
    unpartition: Primitive
    heal_all: Callable[[HarnessSettings], Coroutine[Any, Any, Any]]
    latency: bool  # latency toxics on links (Toxiproxy)


LOCAL = TargetFaults(
    "local", process.kill, process.start, process.stop, process.pause, process.resume,
    network.partition, network.heal, process.heal_all, latency=True,
)  # fmt: skip
DOCKER = TargetFaults(
    "docker", container.kill, container.start, container.stop, container.pause,
    container.resume, container.disconnect, container.reconnect, container.heal_all,
    latency=False,
)  # fmt: skip
TARGETS = {"local": LOCAL, "docker": DOCKER}


def for_target(target: str) -> TargetFaults:
    """The primitives of `target`; a target without any says where its faults are."""
    try:
        return TARGETS[target]
    except KeyError:
        raise HarnessError(
            f"no fault primitives for the {target!r} target here: its faults are the Chaos"
            " Toolkit experiments in chaos/kubernetes/ (harness.chaos.k8s)"
        ) from None
