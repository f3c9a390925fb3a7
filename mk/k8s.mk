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
