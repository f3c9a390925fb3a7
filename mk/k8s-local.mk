# Kubernetes on this machine, no kind, no images: the project's own build of the Kubernetes
# binaries (+ etcd + kube-router) from the Go module proxy, pinned by the lock files in
# deploy/k8s-local/tools (k8s.io/kubernetes, every staging module replaced by its published
# twin: regen.sh makes that go.mod) and deploy/k8s-local/kube-router (its own module graph).
#
# Built once per machine into K8S_BIN, under $HOME so it outlives the repo's clone (CI runs in
# a fresh clone on the same machine); .tools/k8s/bin is a symlink to it, where the harness looks
# for the binaries. A stamp in K8S_BIN holds the hashes of both modules' go.mod/go.sum, the
# versions, the Go version and the build flags: `make k8s-tools` rebuilds only when it differs
# or a binary is missing, and is a no-op otherwise. The machine's own GOMODCACHE and GOCACHE
# are used (not redirected), so a rebuild after a change is a warm one.
K8S_VERSION := v1.34.4
KUBE_ROUTER_VERSION := v2.1.0
K8S_BIN ?= $(HOME)/.cache/altlas-harness/k8s-$(K8S_VERSION)/bin
K8S_TOOLS_MOD := deploy/k8s-local/tools
KUBE_ROUTER_MOD := deploy/k8s-local/kube-router
K8S_LINK := $(TOOLS)/k8s/bin
K8S_CMDS := kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
K8S_BINARIES := etcd $(K8S_CMDS) kube-router
K8S_STAMP := $(K8S_BIN)/.build-stamp
# 2 parallel compile jobs (the machines have 2 cores), lowest priority: tests run beside it.
K8S_GO_BUILD := CGO_ENABLED=0 nice -n 19 go build -p=2 -trimpath -buildvcs=false -mod=readonly

# Without these -X flags every binary reports v0.0.0-master. buildDate is the release's time
# on the module proxy, so the binaries depend on nothing but the pinned inputs.
K8S_MAJOR := $(patsubst v%,%,$(word 1,$(subst ., ,$(K8S_VERSION))))
K8S_MINOR := $(word 2,$(subst ., ,$(K8S_VERSION)))
k8s_version_x = $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=$(K8S_MAJOR) -X $(p).gitMinor=$(K8S_MINOR) \
	-X $(p).gitCommit=modproxy -X $(p).gitTreeState=clean -X $(p).buildDate=$(1))
KUBE_ROUTER_X = -X github.com/cloudnativelabs/kube-router/v2/pkg/version

.PHONY: k8s-tools

k8s-tools:  ## build the Kubernetes binaries, etcd and kube-router from the Go module proxy (once per machine)
	@command -v go >/dev/null 2>&1 || { echo "k8s-tools: Go not found on PATH: it is needed to build the Kubernetes $(K8S_VERSION) binaries from the Go module proxy (Go >= 1.24)" >&2; exit 1; }
	@grep -qE '^[[:space:]]*k8s\.io/kubernetes $(K8S_VERSION)$$' $(K8S_TOOLS_MOD)/go.mod || { echo "k8s-tools: $(K8S_TOOLS_MOD)/go.mod does not require k8s.io/kubernetes $(K8S_VERSION): run $(K8S_TOOLS_MOD)/regen.sh $(K8S_VERSION)" >&2; exit 1; }
	@grep -qE '^[[:space:]]*(require )?github\.com/cloudnativelabs/kube-router/v2 $(KUBE_ROUTER_VERSION)$$' $(KUBE_ROUTER_MOD)/go.mod || { echo "k8s-tools: $(KUBE_ROUTER_MOD)/go.mod does not require kube-router $(KUBE_ROUTER_VERSION) (see its tools.go)" >&2; exit 1; }
	@mkdir -p $(K8S_BIN)
	@exec 9>$(K8S_BIN)/.lock; flock 9; \
	want=$$( { echo "kubernetes $(K8S_VERSION) kube-router $(KUBE_ROUTER_VERSION) $$(go env GOVERSION)"; \
		echo '$(K8S_GO_BUILD) -ldflags -s -w'; \
		sha256sum $(addprefix $(K8S_TOOLS_MOD)/,go.mod go.sum cmd/etcd/main.go) $(KUBE_ROUTER_MOD)/go.mod $(KUBE_ROUTER_MOD)/go.sum; } ); \
	missing=; for b in $(K8S_BINARIES); do [ -x $(K8S_BIN)/$$b ] || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ] && [ "$$want" = "$$(cat $(K8S_STAMP) 2>/dev/null)" ]; then \
		echo "k8s-tools: Kubernetes $(K8S_VERSION) + etcd + kube-router $(KUBE_ROUTER_VERSION) up to date in $(K8S_BIN)"; exit 0; \
	fi; \
	rm -f $(K8S_STAMP); start=$$(date +%s); \
	el() { local s=$$(( $$(date +%s) - start )); printf '%dm%02ds' $$((s / 60)) $$((s % 60)); }; \
	if [ -n "$$missing" ]; then echo "k8s-tools: missing in $(K8S_BIN):$$missing"; fi; \
	echo "building Kubernetes $(K8S_VERSION) binaries with go build (first run on this machine: ~10-25 min)…"; \
	echo "  $(K8S_BIN); modules from GOMODCACHE=$$(go env GOMODCACHE), build cache GOCACHE=$$(go env GOCACHE)"; \
	echo "[1/2] etcd $(K8S_CMDS) ($$(date +%T))"; \
	( cd $(K8S_TOOLS_MOD) && bdate=$$(go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes) && \
		$(K8S_GO_BUILD) -ldflags "-s -w $(call k8s_version_x,$$bdate)" -o $(K8S_BIN)/ \
		./cmd/etcd $(addprefix k8s.io/kubernetes/cmd/,$(K8S_CMDS)) ) \
		|| { echo "k8s-tools: go build of the Kubernetes binaries failed after $$(el)" >&2; exit 1; }; \
	echo "[2/2] kube-router $(KUBE_ROUTER_VERSION) ($$(date +%T), $$(el) so far)"; \
	( cd $(KUBE_ROUTER_MOD) && bdate=$$(go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' github.com/cloudnativelabs/kube-router/v2) && \
		$(K8S_GO_BUILD) -ldflags "-s -w $(KUBE_ROUTER_X).Version=$(KUBE_ROUTER_VERSION) $(KUBE_ROUTER_X).BuildDate=$$bdate" \
		-o $(K8S_BIN)/kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router ) \
		|| { echo "k8s-tools: go build of kube-router failed after $$(el)" >&2; exit 1; }; \
	echo "$$want" > $(K8S_STAMP); \
	echo "k8s-tools: built $(words $(K8S_BINARIES)) binaries in $$(el) wall time ($$(du -sh $(K8S_BIN) | cut -f1) in $(K8S_BIN))"
	@mkdir -p $(dir $(K8S_LINK)); \
	if [ -d $(K8S_LINK) ] && [ ! -L $(K8S_LINK) ]; then rm -rf $(K8S_LINK); fi; \
	ln -sfn $(abspath $(K8S_BIN)) $(K8S_LINK)
