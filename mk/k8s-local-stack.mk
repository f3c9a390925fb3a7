# The k8s-local target (harness up --target k8s-local): ALT_LAS on a real Kubernetes cluster of
# three worker nodes (one per zone, as kind's) run on this machine (harness/k8s/localcluster.py)
# from the binaries `make k8s-tools` and `make k8s-addons` build, Debian's containerd/runc/CNI
# plugins, and the images `make docker-images` builds. The cluster is a machine-wide thing
# (ports 6443, 10250, 10260, 10270): one state dir serves `make k8s-local-up` and
# `make k8s-local-test`.
K8S_LOCAL_ENV := HARNESS_TARGET=k8s-local HARNESS_STATE_DIR=.harness/k8s
# The endpoints are `kubectl port-forward`s, which drop some of a hundred connections opened at
# once: the rate-limit burst goes over fewer.
K8S_LOCAL_TEST_ENV := $(K8S_LOCAL_ENV) HARNESS_RATE_LIMIT_CONNECTIONS=10
K8S_LOCAL_PACKAGES := containerd runc containernetworking-plugins iptables conntrack ipset socat gcc

.PHONY: k8s-local-deps k8s-local-up k8s-local-test k8s-local-down

k8s-local-deps:  ## Debian's containerd, runc, CNI plugins, iptables, ipset (apt-get, first run only)
	@missing=""; for p in $(K8S_LOCAL_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing with apt-get (first run only)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

k8s-local-up: setup k8s-local-deps k8s-tools k8s-addons docker-images  ## a Kubernetes cluster here, ALT_LAS on it (state in .harness/k8s)
	$(K8S_LOCAL_ENV) $(VENV)/bin/harness up --target k8s-local

k8s-local-down:  ## stop the k8s-local stack and the cluster; checks nothing is left behind
	@if [ -x $(VENV)/bin/harness ]; then $(K8S_LOCAL_ENV) $(VENV)/bin/harness down; fi

down: k8s-local-down

# Every Kubernetes experiment but the two that need Chaos Mesh's controller (not buildable
# here without its images): see docs/kubernetes.md. CHAOS_* shorten them as in CI.
K8S_LOCAL_SKIPPED := %/nats-latency.json %/opensearch-packet-loss.json
K8S_LOCAL_EXPERIMENTS ?= $(filter-out $(K8S_LOCAL_SKIPPED),$(sort $(wildcard chaos/kubernetes/*.json)))
# What k8s-local-test runs of them: one per fault primitive (a node drained, a NetworkPolicy,
# pods terminated, a deployment scaled to zero); the other pods-terminated twins only with FULL=1.
K8S_LOCAL_EVERY_RUN := worker-node-drained runner-nats-egress-denied runner-pods-terminated \
	runner-scaled-to-zero
K8S_LOCAL_TEST_EXPERIMENTS ?= $(if $(FULL),$(K8S_LOCAL_EXPERIMENTS),$(filter \
	$(patsubst %,chaos/kubernetes/%.json,$(K8S_LOCAL_EVERY_RUN)),$(K8S_LOCAL_EXPERIMENTS)))
K8S_LOCAL_CHAOS_ENV ?= CHAOS_WORKLOAD_S=30 CHAOS_RECOVERY_S=150 CHAOS_WARMUP_S=5 CHAOS_FAULT_S=20
K8S_KUBECONFIG := .harness/k8s/k8s-local/admin.kubeconfig

.PHONY: k8s-local-chaos

k8s-local-chaos: setup  ## every non-Chaos-Mesh experiment in chaos/kubernetes on the k8s-local stack; journals in reports/k8s-local
	@mkdir -p reports/k8s-local; failed=""; \
	for e in $(K8S_LOCAL_EXPERIMENTS); do \
		name=$$(basename $$e .json); echo "== chaos run $$e"; \
		$(K8S_LOCAL_ENV) $(K8S_LOCAL_CHAOS_ENV) KUBECONFIG=$(abspath $(K8S_KUBECONFIG)) \
			$(VENV)/bin/chaos --no-version-check --log-file reports/k8s-local/$$name.log \
			run --journal-path reports/k8s-local/$$name.journal.json $$e || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "experiments that failed:$$failed"; exit 1; fi

# The suite brings the stack up itself (a stale one from an interrupted run is stopped first),
# runs the end-to-end tests, the cluster tests and the experiments, and always stops it.
k8s-local-test: setup k8s-local-deps k8s-tools k8s-addons docker-images  ## k8s-local: e2e, cluster tests (probes, policies, volumes), experiments; cold/warm times
	@$(K8S_LOCAL_ENV) $(VENV)/bin/harness down
	@start=$$(date +%s); rc=0; \
	$(K8S_LOCAL_ENV) $(VENV)/bin/harness up --target k8s-local || rc=$$?; \
	echo "k8s-local-test: cluster + ALT_LAS up in $$(( $$(date +%s) - start ))s"; \
	if [ $$rc -eq 0 ]; then \
		$(K8S_LOCAL_TEST_ENV) $(PY) -m pytest -q -p no:cacheprovider --durations=8 -m "k8s_local or e2e" \
			--junitxml=reports/junit/k8s-local.xml scenarios/e2e scenarios/k8s_local || rc=$$?; \
		$(MAKE) --no-print-directory k8s-local-chaos \
			K8S_LOCAL_EXPERIMENTS="$(K8S_LOCAL_TEST_EXPERIMENTS)" || rc=$$?; \
	fi; \
	$(K8S_LOCAL_ENV) $(VENV)/bin/harness down || rc=$$?; \
	echo "k8s-local-test: suite took $$(( $$(date +%s) - start ))s"; exit $$rc

TEST_AFTER += k8s-local-test
