//go:build tools

// Package tools pins CoreDNS (cluster DNS for the local cluster), which mk/k8s-addons.mk builds
// with `go build github.com/coredns/coredns`, so that `go mod tidy` keeps every module it needs
// in go.mod and go.sum. CoreDNS's main package is its repository root.
package tools

import _ "github.com/coredns/coredns"
