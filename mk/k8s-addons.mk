# Cluster add-ons for the local Kubernetes cluster (deploy/k8s-local): CoreDNS (cluster DNS) and
# metrics-server (metrics.k8s.io, for HPAs), built from the Go module proxy. No image registry
# is reachable, so their images are made locally from these static binaries; the manifests are
# deploy/k8s-local/addons/{coredns,metrics-server}.yaml. The versions are pinned by the modules
# deploy/k8s-local/{coredns,metrics-server} (go.mod + go.sum, each with a tools.go).
#
# Built once per machine into K8S_ADDONS_BIN, under $(HOME) so it outlives the repo's clone (CI
# runs in a fresh clone on the same machine); .tools/k8s-addons is a symlink to its parent, so
# the binaries are .tools/k8s-addons/bin/{coredns,metrics-server}. A stamp in K8S_ADDONS_BIN
# holds the sha256 of both modules' go.mod/go.sum (plus the Go version and the build flags):
# the build reruns only when it differs or a binary is missing, and is a no-op otherwise. The
# machine's own GOMODCACHE and GOCACHE are used. A cold build is ~9.5 CPU-minutes, ~7 min wall on
# a shared 2-core machine (CoreDNS ~4.5 min, metrics-server ~2.5 min); 1.2 GB peak RSS.
K8S_ADDONS_BIN ?= $(HOME)/.cache/altlas-harness/k8s-addons/bin
K8S_ADDONS_HOME := $(patsubst %/,%,$(dir $(K8S_ADDONS_BIN)))
K8S_ADDONS_LINK := $(TOOLS)/k8s-addons
K8S_ADDONS_SRC := deploy/k8s-local
K8S_ADDONS_MODS := $(foreach m,coredns metrics-server,$(m)/go.mod $(m)/go.sum)
K8S_ADDONS_STAMP := $(K8S_ADDONS_BIN)/.build-stamp
# Where the other fragments find them (after `make k8s-addons`)
COREDNS := $(K8S_ADDONS_LINK)/bin/coredns
METRICS_SERVER := $(K8S_ADDONS_LINK)/bin/metrics-server
# The pinned versions, read from the go.mod files (also the tags of the local images)
COREDNS_VERSION = $(shell awk '$$1 == "require" && $$2 == "github.com/coredns/coredns" {print $$3}' $(K8S_ADDONS_SRC)/coredns/go.mod)
METRICS_SERVER_VERSION = $(shell awk '$$1 == "require" && $$2 == "sigs.k8s.io/metrics-server" {print $$3}' $(K8S_ADDONS_SRC)/metrics-server/go.mod)
# Static, stripped, 2 parallel compile jobs (the machines have 2 cores), lowest priority: other
# builds and tests run beside it.
K8S_ADDONS_GO_BUILD := CGO_ENABLED=0 nice -n 19 go build -p=2 -trimpath -buildvcs=false -mod=readonly
# metrics-server reports its version through client-go's (v0.0.0-master without these), as its
# own Makefile sets it; buildDate is the release's time on the module proxy.
METRICS_SERVER_X = -X k8s.io/client-go/pkg/version

.PHONY: k8s-addons

# Each binary is written under a temporary name and moved into place; a lock serialises two
# clones building at once.
k8s-addons:  ## build CoreDNS and metrics-server from the Go module proxy (once per machine)
	@command -v go >/dev/null 2>&1 || { echo "k8s-addons: Go not found on PATH: it is needed to build CoreDNS and metrics-server from the Go module proxy (Go >= 1.26.4)" >&2; exit 1; }
	@mkdir -p $(K8S_ADDONS_BIN)
	@set -o pipefail; exec 9>$(K8S_ADDONS_HOME)/.lock; flock 9; \
	want=$$( { echo "coredns $(COREDNS_VERSION) metrics-server $(METRICS_SERVER_VERSION) $$(go env GOVERSION)"; \
		echo '$(K8S_ADDONS_GO_BUILD) -ldflags -s -w'; \
		cd $(K8S_ADDONS_SRC) && sha256sum $(K8S_ADDONS_MODS); } ); \
	missing=; for b in coredns metrics-server; do [ -x $(K8S_ADDONS_BIN)/$$b ] || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ] && [ "$$want" = "$$(cat $(K8S_ADDONS_STAMP) 2>/dev/null)" ]; then \
		echo "k8s-addons: CoreDNS $(COREDNS_VERSION) + metrics-server $(METRICS_SERVER_VERSION) up to date in $(K8S_ADDONS_BIN)"; exit 0; \
	fi; \
	rm -f $(K8S_ADDONS_STAMP); start=$$(date +%s); \
	el() { local s=$$(( $$(date +%s) - start )); printf '%dm%02ds' $$((s / 60)) $$((s % 60)); }; \
	if [ -n "$$missing" ]; then echo "k8s-addons: missing in $(K8S_ADDONS_BIN):$$missing"; fi; \
	echo "building CoreDNS $(COREDNS_VERSION) and metrics-server $(METRICS_SERVER_VERSION) with go build (first run on this machine: ~7 min)…"; \
	echo "  $(K8S_ADDONS_BIN); modules from GOMODCACHE=$$(go env GOMODCACHE), build cache GOCACHE=$$(go env GOCACHE)"; \
	echo "[1/2] coredns ($$(date +%T))"; \
	( cd $(K8S_ADDONS_SRC)/coredns && $(K8S_ADDONS_GO_BUILD) -ldflags "-s -w" \
		-o $(K8S_ADDONS_BIN)/.coredns.tmp github.com/coredns/coredns ) \
		&& mv -f $(K8S_ADDONS_BIN)/.coredns.tmp $(K8S_ADDONS_BIN)/coredns \
		|| { echo "k8s-addons: go build of CoreDNS failed after $$(el)" >&2; exit 1; }; \
	echo "[2/2] metrics-server ($$(date +%T), $$(el) so far)"; \
	( cd $(K8S_ADDONS_SRC)/metrics-server && bdate=$$(go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' sigs.k8s.io/metrics-server) && \
		$(K8S_ADDONS_GO_BUILD) -ldflags "-s -w $(METRICS_SERVER_X).gitVersion=$(METRICS_SERVER_VERSION) $(METRICS_SERVER_X).buildDate=$$bdate" \
		-o $(K8S_ADDONS_BIN)/.metrics-server.tmp sigs.k8s.io/metrics-server/cmd/metrics-server ) \
		&& mv -f $(K8S_ADDONS_BIN)/.metrics-server.tmp $(K8S_ADDONS_BIN)/metrics-server \
		|| { echo "k8s-addons: go build of metrics-server failed after $$(el)" >&2; exit 1; }; \
	echo "$$want" > $(K8S_ADDONS_STAMP); \
	echo "k8s-addons: built coredns ($$(du -h $(K8S_ADDONS_BIN)/coredns | cut -f1)) and metrics-server ($$(du -h $(K8S_ADDONS_BIN)/metrics-server | cut -f1)) in $$(el) wall time"
	@mkdir -p $(TOOLS); \
	if [ -d $(K8S_ADDONS_LINK) ] && [ ! -L $(K8S_ADDONS_LINK) ]; then rm -rf $(K8S_ADDONS_LINK); fi; \
	ln -sfn $(K8S_ADDONS_HOME) $(K8S_ADDONS_LINK)
