# The only entry points. CI runs `make test`, exactly as a developer does.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup toxiproxy opensearch up down status latency logs test test-unit lint typecheck check clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

TOXIPROXY := $(TOOLS)/bin/toxiproxy-server
TOXIPROXY_VERSION := v2.12.0

$(TOXIPROXY): | $(UV)
	@if command -v go >/dev/null 2>&1; then \
		echo "building Toxiproxy $(TOXIPROXY_VERSION) with go install (first run only)"; \
		GOBIN=$(abspath $(TOOLS))/gobin go install github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION) \
			&& mv $(TOOLS)/gobin/server $@; \
	else echo "Go not found: Toxiproxy skipped, network faults will be unavailable"; fi

toxiproxy: $(TOXIPROXY)  ## build Toxiproxy from the Go module proxy (network faults)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	touch $@

setup: $(VENV)/.synced toxiproxy  ## create .venv with every dependency (from uv.lock)

opensearch: setup  ## resolve the OpenSearch jars from Maven Central (cached in .harness/cache)
	$(PY) -m harness.infra.opensearch

up: setup  ## start the whole stack (detached), print endpoints and demo credentials
	$(VENV)/bin/harness up

down:  ## stop the stack; leaves no process or port behind
	@if [ -x $(VENV)/bin/harness ]; then $(VENV)/bin/harness down; fi

status: setup  ## health of every component
	$(VENV)/bin/harness status

latency: setup  ## idle POST /commands → archived latency, p50/p95 over 50 (stack must be up)
	$(VENV)/bin/harness latency -n $${N:-50}

lint: setup  ## ruff
	$(VENV)/bin/ruff check harness reference_services scenarios tests

typecheck: setup  ## mypy (strict)
	$(VENV)/bin/mypy

check: lint typecheck  ## lint + types

test-unit: setup  ## fast tests of the harness and service internals
	$(PY) -m pytest tests -m "unit and not slow" -q

test: setup check  ## everything that fits in CI: lint, types, unit, infra, end-to-end (starts its own stack)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -q

clean: down  ## remove generated state (keeps the OpenSearch jar cache)
	rm -rf .harness/data .harness/logs .pytest_cache .mypy_cache .ruff_cache
