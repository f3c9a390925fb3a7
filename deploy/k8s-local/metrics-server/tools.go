//go:build tools

// Package tools pins metrics-server (the metrics.k8s.io API behind HPAs on the local cluster),
// which mk/k8s-addons.mk builds, so that `go mod tidy` keeps every module it needs in go.mod and
// go.sum.
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
