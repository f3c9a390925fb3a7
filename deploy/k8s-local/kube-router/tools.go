//go:build tools

// Package tools pins kube-router (NetworkPolicy enforcement for the local Kubernetes cluster),
// built by mk/k8s-local.mk. It is a module of its own, not part of ../tools: kube-router v2.1.0
// pins its own k8s.io/* (v0.29) versions, which must not move the Kubernetes build's graph.
//
// go.mod was made with
//
//	go get github.com/cloudnativelabs/kube-router/v2@v2.1.0 \
//		go.opentelemetry.io/otel/exporters/otlp/otlptrace@v1.24.0 \
//		github.com/Azure/go-ansiterm@v0.0.0-20230124172434-306776ec8161
//	go mod tidy
//
// The two extra pins are modules that only the tests of github.com/docker/docker (a
// +incompatible module without a go.mod) import. Unpinned, `go mod tidy` resolves them at their
// latest versions, which drags OpenTelemetry, gRPC and golang.org/x/* years past what
// kube-router v2.1.0 was released with (and raises the go directive to the newest Go). Pinned to
// the versions of that time, the graph is kube-router's own. For a new kube-router version, redo
// the above with it (check `go mod graph` for modules resolved at latest), then set
// KUBE_ROUTER_VERSION in mk/k8s-local.mk (make k8s-tools checks that the two agree).
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
