"""`python -m harness.containers`: start the engine and build images (what make docker-images runs).

python -m harness.containers engine            start dockerd unless one answers
python -m harness.containers images [--tag T]  base, dependency and service images; sizes
"""

from __future__ import annotations

import argparse
import sys
import time

from harness.containers import engine
from harness.errors import HarnessError
from harness.settings import HarnessSettings


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _images(settings: HarnessSettings, tag: str) -> int:
    from harness.containers.images import build_service_images
    from harness.containers.infra import infra_images

    started = time.perf_counter()
    refs = infra_images(settings, _progress)
    refs.update(build_service_images(tag=tag, progress=_progress, settings=settings))
    docker_client = engine.client()
    try:
        print(f"{'component':<14} {'image':<44} size")
        for name, ref in refs.items():
            print(f"{name:<14} {ref:<44} {engine.image_size_mb(docker_client, ref):>7.1f} MB")
    finally:
        docker_client.close()
    print(f"images ready in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = HarnessSettings()
    parser = argparse.ArgumentParser(prog="python -m harness.containers", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("engine", help="start dockerd unless an engine answers")
    images = sub.add_parser("images", help="build (or find) every image the docker target runs")
    images.add_argument("--tag", default=settings.docker_tag)
    args = parser.parse_args(argv)
    try:
        engine.ensure_engine(progress=_progress)
        if args.cmd == "images":
            return _images(settings, args.tag)
        return 0
    except HarnessError as exc:
        print(f"harness.containers: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
