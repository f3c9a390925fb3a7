# Kubernetes manifests (deploy/kubernetes): kustomize from the Go module proxy, and the checks
# over every overlay and component combination. tests/k8s is part of the main pytest session
# (`make test`), so nothing is added to TEST_AFTER; `make k8s-check` runs those tests alone.
KUSTOMIZE := $(TOOLS)/bin/kustomize
# Keep in step with the CI workflow (.github/workflows/kind.yml).
KUSTOMIZE_VERSION := v5.8.1

.PHONY: kustomize k8s-check

$(KUSTOMIZE): | $(UV)
	@if command -v go >/dev/null 2>&1; then \
		echo "building kustomize $(KUSTOMIZE_VERSION) with go install (first run only)"; \
		GOBIN=$(abspath $(TOOLS))/gobin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION) \
			&& mv $(TOOLS)/gobin/kustomize $@; \
	else echo "Go not found: kustomize skipped, the Kubernetes manifest tests (tests/k8s) will fail"; fi

kustomize: $(KUSTOMIZE)  ## build kustomize from the Go module proxy (Kubernetes manifests)

# `make test` renders the manifests in its pytest session: setup builds kustomize first.
setup: $(KUSTOMIZE)

k8s-check: setup  ## render and validate every Kubernetes overlay and combination; policy tests
	$(PY) -m pytest tests/k8s -q

# ALT_LAS on a kind cluster. Needs Docker, kind and kubectl, which the build machine does not
# have: .github/workflows/kind.yml runs these targets. `make down` stops the kind stack too.
KIND_EXPERIMENTS ?= $(sort $(wildcard chaos/kubernetes/*.json))

.PHONY: kind-up kind-test kind-chaos

kind-up: setup  ## kind cluster, images, the kind overlay, port-forwards, state file
	$(VENV)/bin/harness up --target kind

kind-test: setup  ## end-to-end tests against the kind stack (started if `make kind-up` was not)
	HARNESS_TARGET=kind $(PY) -m pytest scenarios/e2e -q

# Chaos Mesh must be in the cluster for the two NetworkChaos experiments (the workflow installs
# it with Helm); CHAOS_* variables shorten them (see the experiments' configuration).
kind-chaos: setup  ## every experiment in chaos/kubernetes against the kind stack; journals in reports/kind
	@mkdir -p reports/kind; failed=""; \
	for e in $(KIND_EXPERIMENTS); do \
		name=$$(basename $$e .json); echo "== chaos run $$e"; \
		$(VENV)/bin/chaos --no-version-check --log-file reports/kind/$$name.log \
			run --journal-path reports/kind/$$name.journal.json $$e || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "experiments that failed:$$failed"; exit 1; fi

# promtool (Debian's prometheus package, without its recommends) for tests/k8s/test_alert_rules.py.
.PHONY: promtool
promtool:  ## promtool for the alert rules' unit tests (apt-get, first run only)
	@command -v promtool >/dev/null || { \
		echo "installing prometheus (for promtool) with apt-get (first run only)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

setup: promtool
