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

.PHONY: help setup toxiproxy versitygw pgtools opensearch up down status campaign latency logs test test-unit fuzz pacts lint typecheck imports check mutation clean

help:  ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

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

# The local stack's object store for PostgreSQL backups and archived WAL (harness db backup).
VERSITYGW := $(TOOLS)/bin/versitygw
VERSITYGW_VERSION := v1.8.0

$(VERSITYGW): | $(UV)
	@if command -v go >/dev/null 2>&1; then \
		echo "building versitygw $(VERSITYGW_VERSION) with go install (first run only)"; \
		GOBIN=$(abspath $(TOOLS))/gobin go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION) \
			&& mv $(TOOLS)/gobin/versitygw $@; \
	else echo "Go not found: versitygw skipped, the stack runs without backups"; fi

versitygw: $(VERSITYGW)  ## build versitygw (S3 on a directory) from the Go module proxy

# barman-cloud runs as PostgreSQL's archive_command, so as the unprivileged PostgreSQL user: its
# venv is built on the system's Python (the project's may live under /root, out of its reach).
PGTOOLS := $(TOOLS)/pgtools
SYSTEM_PYTHON ?= /usr/bin/python3

$(PGTOOLS)/.synced: tools/pgtools-requirements.txt | $(UV)
	@if [ -x $(SYSTEM_PYTHON) ]; then \
		$(UV) venv --quiet --allow-existing --python $(SYSTEM_PYTHON) $(PGTOOLS) \
		&& $(UV) pip install --quiet --python $(PGTOOLS)/bin/python --no-deps --require-hashes \
			-r tools/pgtools-requirements.txt \
		&& chmod -R o+rX $(PGTOOLS) && touch $@; \
	else echo "$(SYSTEM_PYTHON) not found: barman-cloud skipped, the stack runs without backups"; fi

pgtools: $(PGTOOLS)/.synced  ## barman-cloud in its own venv, runnable by the PostgreSQL user

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	touch $@

setup: $(VENV)/.synced toxiproxy versitygw pgtools  ## create .venv with every dependency (from uv.lock)

opensearch: setup  ## resolve the OpenSearch jars from Maven Central (cached in .harness/cache)
	$(PY) -m harness.infra.opensearch

up: setup  ## start the whole stack (detached), print endpoints and demo credentials
	$(VENV)/bin/harness up

down:  ## stop the stack; leaves no process or port behind
	@if [ -x $(VENV)/bin/harness ]; then $(VENV)/bin/harness down; fi

status: setup  ## health of every component
	$(VENV)/bin/harness status

campaign: setup  ## a two-minute chaos campaign: workload + seeded faults, verdict and HTML report
	$(VENV)/bin/harness campaign --duration $${DURATION:-120s} --seed $${SEED:-1}

latency: setup  ## idle POST /commands → archived latency, p50/p95 over 50 (stack must be up)
	$(VENV)/bin/harness latency -n $${N:-50}

lint: setup  ## ruff
	$(VENV)/bin/ruff check harness reference_services scenarios tests contracts tools load

typecheck: setup  ## mypy (strict)
	$(VENV)/bin/mypy

imports: setup  ## import-linter: the layers and independence contracts in pyproject.toml
	$(VENV)/bin/lint-imports --no-cache

check: lint typecheck imports  ## lint + types + import contracts

test-unit: setup  ## fast tests of the harness and service internals
	$(PY) -m pytest tests -m "unit and not slow" -q

# Suites with their own set-up (containers, Kubernetes manifests, load) add their targets to
# TEST_AFTER in mk/*.mk; `make test` runs them after the main pytest session.
TEST_AFTER :=
# FULL=1 (`make test-full`): also what only the full run does — the experiment twins on the
# docker and k8s-local targets whose fault primitive another experiment there already covers
# (tests marked `full`; K8S_LOCAL_TEST_EXPERIMENTS). See scenarios/README.md.
FULL ?=
NOT_FULL := $(if $(FULL),, and not full)
-include $(sort $(wildcard mk/*.mk))

# HARNESS_TEST_MODE: the stack the tests start mounts test-only endpoints (the archive's Pact
# provider-state hook), which the contract verification in contracts/ needs.
# Each pytest session writes JUnit XML to reports/junit/; whatever happens, the run ends with
# reports/index.html (harness/report/index.py): every suite, failure, slow test, experiment
# and report of this run on one page.
# The main session is two pytest runs. tests/ (unit, infra, manifests) runs under coverage:
# branch coverage of the harness and of the services' code those tests drive, apart, each
# held to its floor (COVERAGE_FLOORS: just under what the run measured when they were set).
# scenarios/ and contracts/ run against a stack without it: tracing the test process slowed
# them by a third and starved the rate-limit burst of its event loop (every connect timed out).
COVERAGE_FLOORS ?= --floor harness=50 --floor reference_services=68
MAIN_MARKERS := not docker and not k8s_local and not nats_cluster$(NOT_FULL)
# tests/ runs on PYTEST_WORKERS processes (pytest-xdist; 1: in this process), a file per worker
# (--dist loadfile: the modules whose tests build on one another stay whole); the suites
# against a stack run in one, as they share it.
PYTEST_WORKERS ?= 2

test-full: ## make test with FULL=1: every experiment twin on every target too (about 8 min more)
	@$(MAKE) --no-print-directory test FULL=1

test: setup check  ## everything that fits in CI: lint, types, unit, infra, end-to-end (starts its own stack)
	@rm -rf reports/junit reports/coverage && mkdir -p reports/junit reports/coverage && touch reports/.test-started
	@rc=0; export HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} HARNESS_TEST_MODE=$${HARNESS_TEST_MODE:-1}; \
	$(PY) -m pytest -q -m "$(MAIN_MARKERS)" tests --junitxml=reports/junit/tests.xml \
		$(if $(filter-out 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile) --cov --cov-report= || rc=$$?; \
	$(VENV)/bin/coverage json -q -o reports/coverage/coverage.json && \
		$(VENV)/bin/coverage html -q -d reports/coverage/html && \
		$(PY) tools/coverage_summary.py reports/coverage $(COVERAGE_FLOORS) || rc=1; \
	if [ $$rc -eq 0 ]; then \
		$(PY) -m pytest -q -m "$(MAIN_MARKERS)" scenarios contracts \
			--junitxml=reports/junit/scenarios.xml || rc=$$?; \
	fi; \
	if [ $$rc -eq 0 ]; then \
		for t in $(TEST_AFTER); do echo "== make $$t"; $(MAKE) --no-print-directory $$t || { rc=1; break; }; done; \
	fi; \
	$(PY) -m harness.report.index reports; exit $$rc

# FUZZ_MAX_EXAMPLES: test cases per operation; FUZZ_MAX_TIME: seconds per service, fuzzing and
# stateful testing repeat until it is spent; FUZZ_SEED: replay an earlier run.
fuzz: setup  ## Schemathesis over every operation of the four services (stack must be up)
	$(PY) -m harness.fuzz --max-examples $${FUZZ_MAX_EXAMPLES:-100} \
		$${FUZZ_MAX_TIME:+--max-time $$FUZZ_MAX_TIME} $${FUZZ_SEED:+--seed $$FUZZ_SEED}

pacts: setup  ## regenerate contracts/pacts/ from the consumer tests (then review and commit)
	$(PY) -m pytest contracts/consumer -q --update-pacts

# Always from scratch: mutmut reuses a function's verdicts until the function changes, even
# when the tests changed, so a kept mutants/ can report survivors the tests now kill.
mutation: setup  ## mutation score of the decision logic (mutmut, 2 workers); fails below 80%
	rm -rf mutants reports/mutation && mkdir -p reports/mutation
	@echo "mutmut: running (8-20 min, depending on load); progress in reports/mutation/mutmut.log"
	@start=$$(date +%s); \
	if ! $(VENV)/bin/mutmut run --max-children 2 \
		> reports/mutation/mutmut.log 2>&1; then \
		tail -c 3000 reports/mutation/mutmut.log; exit 1; \
	fi; \
	$(PY) tools/mutation_report.py --threshold 80 --elapsed $$(( $$(date +%s) - start ))

clean: down  ## remove generated state (keeps the OpenSearch jar cache)
	rm -rf .harness/data .harness/logs .pytest_cache .mypy_cache .ruff_cache mutants
