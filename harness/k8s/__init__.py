"""The Kubernetes manifests' toolchain: generate the secret inputs, render the kustomize overlays
and component combinations, validate every object against the Kubernetes schemas, and the policy
checks the rendered objects are held to (tests/k8s runs them; `make k8s-check` is the entry point).
"""
