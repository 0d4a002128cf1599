# Kubernetes tooling for the operator's e2e tests (owned by the operator work).
.PHONY: k8s-tools
k8s-tools: ## build/cached kube-apiserver, controller-manager, scheduler, kwok; etcd; helm
	@true
