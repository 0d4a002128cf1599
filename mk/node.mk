# A real Kubernetes node for the user-journey tests (test/e2e-node): containerd + runc (Debian), kubelet + kube-proxy
# (built like the control plane), CNI bridge, CoreDNS, and images built with buildah from our own Dockerfiles.
# Everything is cached under ~/.cache/cim/node-k8s-v<version>; cold times in build-times.txt there. Needs root.
.PHONY: node-tools test-node images

node-tools: ## build/cached node tools and images for test-node (Debian packages, kubelet, CoreDNS, images)
	scripts/ensure-node-tools.sh >/dev/null

test-node: node-tools deps ## the user journey on a real node: helm install, CimCluster, chat via port-forward, failover, rollout
	CIM_E2E_NODE=1 vitest run --project e2e-node

images: ## build cim-server, cim-route, cim-operator (docker or buildah); REGISTRY=host/path TAG=x to name and push
	REGISTRY="$(REGISTRY)" TAG="$(TAG)" NODE_IMAGE="$(NODE_IMAGE)" scripts/build-images.sh
