"""What every pod is held to: probes, requests and limits, a locked-down security context,
versioned images."""

from __future__ import annotations

from collections.abc import Sequence

from harness.k8s.objects import (
    SERVICE_UID,
    SERVICES,
    Manifest,
    quantity,
    workloads,
)

# Containers allowed a writable root file system, and why.
WRITABLE_ROOT = {
    ("StatefulSet/opensearch", "opensearch"): "the image writes its keystore and logs at start-up",
}


def probes(objects: Sequence[Manifest]) -> list[str]:
    """The services probe /livez (startup, liveness) and /readyz (readiness) over HTTP; every
    other long-running container has liveness and readiness probes."""
    found = []
    expected = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
    for w in workloads(objects):
        for c in w.containers:
            where = f"{w.ref} container {c.get('name')}"
            if w.kind == "Deployment" and w.name in SERVICES and c.get("name") == w.name:
                for probe, path in expected.items():
                    got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                    if got != path:
                        found.append(f"{where}: expected {probe} httpGet {path}, found {got!r}")
            else:
                for probe in ("livenessProbe", "readinessProbe"):
                    if not c.get(probe):
                        found.append(f"{where}: expected a {probe}, found none")
    return found


def resources(objects: Sequence[Manifest]) -> list[str]:
    """Every container (init containers too) requests and limits CPU and memory, and no request
    exceeds its limit."""
    found = []
    for w in workloads(objects):
        for c in w.all_containers():
            where = f"{w.ref} container {c.get('name')}"
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (res.get(part) or {}):
                        found.append(f"{where}: expected resources.{part}.{resource}, found none")
            for resource in ("cpu", "memory"):
                req = (res.get("requests") or {}).get(resource)
                lim = (res.get("limits") or {}).get(resource)
                if req is not None and lim is not None and quantity(req) > quantity(lim):
                    found.append(f"{where}: expected {resource} request {req} <= limit {lim}")
    return found


def security(objects: Sequence[Manifest]) -> list[str]:
    """Pods run as non-root (the services as uid 10001) under RuntimeDefault seccomp, without
    host namespaces; containers drop every capability, cannot escalate, are not privileged and
    have a read-only root file system (exceptions listed in WRITABLE_ROOT, with their reason)."""
    found = []
    for w in workloads(objects):
        pod = w.pod
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            found.append(
                f"{w.ref}: expected securityContext.runAsNonRoot true"
                f", found {psc.get('runAsNonRoot')!r}"
            )
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(host):
                found.append(f"{w.ref}: expected no {host}, found {host}: true")
        for c in w.all_containers():
            where = f"{w.ref} container {c.get('name')}"
            csc = c.get("securityContext") or {}
            uid = csc.get("runAsUser", psc.get("runAsUser"))
            if uid in (None, 0):
                found.append(f"{where}: expected a non-zero runAsUser, found {uid!r}")
            if w.kind == "Deployment" and w.name in SERVICES and uid != SERVICE_UID:
                found.append(
                    f"{where}: expected runAsUser {SERVICE_UID} (the image's user), found {uid!r}"
                )
            seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                found.append(f"{where}: expected seccompProfile RuntimeDefault, found {seccomp!r}")
            if csc.get("allowPrivilegeEscalation") is not False:
                found.append(
                    f"{where}: expected allowPrivilegeEscalation false"
                    f", found {csc.get('allowPrivilegeEscalation')!r}"
                )
            if csc.get("privileged"):
                found.append(f"{where}: expected not privileged, found privileged: true")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                found.append(
                    f"{where}: expected capabilities.drop [ALL], found {csc.get('capabilities')!r}"
                )
            if (csc.get("capabilities") or {}).get("add"):
                found.append(
                    f"{where}: expected no added capabilities, found {csc['capabilities']['add']!r}"
                )
            if (
                csc.get("readOnlyRootFilesystem") is not True
                and (w.ref, c.get("name")) not in WRITABLE_ROOT
            ):
                found.append(
                    f"{where}: expected readOnlyRootFilesystem true"
                    f", found {csc.get('readOnlyRootFilesystem')!r}"
                )
    return found


def image_tags(objects: Sequence[Manifest]) -> list[str]:
    """Every image names a version: a tag other than `latest`, or a digest."""
    found = []
    for w in workloads(objects):
        for c in w.all_containers():
            image = str(c.get("image", ""))
            if "@sha256:" in image:
                continue
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            if tag in (None, "", "latest"):
                found.append(
                    f"{w.ref} container {c.get('name')}: expected an image with a version tag"
                    f" or digest, found {image!r}"
                )
    return found
