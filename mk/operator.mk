# Kubernetes operator: CRD, Helm chart, and the real control plane its e2e tests run against.
# The tools are built from the Go module proxy once (about 10-15 minutes on 2 cores) into
# $${XDG_CACHE_HOME:-~/.cache}/cim/k8s-v<version>/bin and reused; `make k8s-tools` is a no-op when they exist.
.PHONY: k8s-tools test-e2e test-operator-unit chart-lint chart-sync

k8s-tools: ## build/cached kube-apiserver, controller-manager, scheduler, kwok; etcd; helm
	scripts/ensure-k8s-tools.sh >/dev/null

test-e2e: k8s-tools deps ## operator e2e tests against a real kube-apiserver + etcd + controller-manager + scheduler + kwok
	vitest run --project e2e

test-operator-unit: deps ## operator unit tests (pure builders, status, work queue)
	vitest run --project unit operator/

chart-lint: k8s-tools ## helm lint --strict and helm template of charts/cim-operator
	"$$(scripts/ensure-k8s-tools.sh)/helm" lint --strict charts/cim-operator
	"$$(scripts/ensure-k8s-tools.sh)/helm" template cim-operator charts/cim-operator --include-crds >/dev/null

chart-sync: ## copy crds/ into the chart (the chart's copy must stay byte-identical; a unit test checks it)
	cp crds/cimcluster.yaml charts/cim-operator/crds/cimcluster.yaml
