// Package k8s holds the Kubernetes manifests (a kustomize base and its
// overlays) and, in its test, their offline validation: every
// kustomization renders, decodes strictly against k8s.io/api and passes
// the Pod Security "restricted" checks, so `go test ./...` (and CI) refuse
// a manifest a cluster would refuse.
package k8s
