"""The fleet's Kubernetes manifests, generated from the code (`python -m k8s.generate`), and an
offline preview of what kustomize builds from them (`python -m k8s.kustomize`). See README.md."""
