# The docker target (harness up --target docker): the engine, the images, and its suite.
# `make test` runs docker-test after the main session (TEST_AFTER); on a fresh machine it
# installs Debian's docker.io and debootstrap, starts dockerd, builds every image (cached once
# built) and runs the suite on a stack of its own, in its own state dir.
DOCKER_ENV := HARNESS_TARGET=docker TESTCONTAINERS_RYUK_DISABLED=true
DOCKER_UP_ENV := $(DOCKER_ENV) HARNESS_STATE_DIR=.harness/docker
DOCKER_TEST_ENV := $(DOCKER_ENV) HARNESS_STATE_DIR=.harness/docker-test

.PHONY: docker-engine docker-images docker-test docker-up docker-down

docker-engine: setup  ## Docker engine: apt-get docker.io and debootstrap if missing, start dockerd
	@missing=""; \
	command -v dockerd >/dev/null 2>&1 || missing="docker.io"; \
	command -v debootstrap >/dev/null 2>&1 || missing="$$missing debootstrap"; \
	if [ -n "$$missing" ]; then \
		echo "installing$${missing:+ }$$missing with apt-get (first run only)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(PY) -m harness.containers engine

# The OpenSearch jars are only used when the official OpenSearch image cannot be pulled.
docker-images: docker-engine opensearch  ## build base, dependency and service images (cached); sizes
	nice -n 10 $(PY) -m harness.containers images

# The suite's stack has a state dir of its own; one an interrupted run left there is removed.
docker-test: docker-images  ## docker target: e2e pipeline, docker suite, container experiments
	@$(DOCKER_TEST_ENV) $(VENV)/bin/harness down
	@start=$$(date +%s); \
	$(DOCKER_TEST_ENV) $(PY) -m pytest -q -p no:cacheprovider --durations=8 -m "(docker or e2e)$(NOT_FULL)" \
		--junitxml=reports/junit/docker.xml scenarios/e2e/test_pipeline.py scenarios/docker; rc=$$?; \
	echo "docker-test: suite took $$(( $$(date +%s) - start ))s"; exit $$rc

docker-up: docker-images  ## start the docker target (state in .harness/docker); endpoints
	$(DOCKER_UP_ENV) $(VENV)/bin/harness up --target docker

docker-down:  ## stop the docker target started by docker-up
	@if [ -x $(VENV)/bin/harness ]; then $(DOCKER_UP_ENV) $(VENV)/bin/harness down; fi

TEST_AFTER += docker-test
