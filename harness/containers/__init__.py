"""Container images and the Docker engine behind the docker (and kind) targets.

`engine` starts dockerd when none answers; `base` builds a Debian base image with debootstrap
when the official Python image cannot be pulled; `images` builds the four service images from
`deploy/docker/Dockerfile` and the lock; `infra` finds or builds NATS, PostgreSQL and OpenSearch
images. `python -m harness.containers` runs them from the command line (`make docker-images`).
"""
