# The NATS command-line tool (`nats stream ls`, `nats consumer info …`) beside `harness streams`,
# for operators who know it. v0.5.0: v0.5.1 does not build from the module proxy here.
NATSCLI := $(TOOLS)/bin/nats
NATSCLI_VERSION := v0.5.0

$(NATSCLI): | $(UV)
	@if command -v go >/dev/null 2>&1; then \
		echo "building natscli $(NATSCLI_VERSION) with go install (first run only)"; \
		GOBIN=$(abspath $(TOOLS))/gobin go install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION) \
			&& mv $(TOOLS)/gobin/nats $@; \
	else echo "Go not found: the nats CLI skipped (harness streams does the same work)"; fi

.PHONY: natscli
natscli: $(NATSCLI)  ## build the nats CLI from the Go module proxy (.tools/bin/nats)

setup: natscli

# The JetStream cluster suite (scenarios/cluster): a local stack of its own whose NATS is three
# nodes with every route through Toxiproxy; node faults, the leader killed, a campaign judged by
# the checker. Its own state dir, so it never meets the main session's stack.
CLUSTER_STATE ?= .harness/cluster
.PHONY: test-cluster
test-cluster: setup  ## the 3-node JetStream cluster suite: node faults and a campaign on it (~5 min)
	HARNESS_STATE_DIR=$(CLUSTER_STATE) HARNESS_NATS_CLUSTER=3 HARNESS_TEST_MODE=1 \
		$(PY) -m pytest -q -m nats_cluster scenarios/cluster --junitxml=reports/junit/cluster.xml

TEST_AFTER += test-cluster

# Not in `make test`: it starts servers of its own (one, then a three-node cluster) and takes
# a few minutes. Message sizes from the running stack's events stream if one is up.
.PHONY: bench-nats
bench-nats: setup  ## JetStream benchmarks: R1 vs R3, sync always vs default, publish p50/p99; JSON beside make bench
	$(VENV)/bin/harness bench-nats --out $${BENCH_OUT:-reports/bench} $${BENCH_NATS_ARGS}
