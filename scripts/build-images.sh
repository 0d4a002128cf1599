#!/usr/bin/env bash
# `make images`: builds cim-server, cim-route and cim-operator from Dockerfile.server/.route/.operator with docker
# when it is there, else buildah (`buildah bud`, the machine's default storage). REGISTRY=host[:port]/path names the
# images REGISTRY/cim-<x>:TAG and pushes them; without REGISTRY they stay local as cim-<x>:TAG.
# NODE_IMAGE overrides the Node 24 base (the Dockerfiles' ARG, default node:24-bookworm-slim).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TAG="${TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/cim-operator/Chart.yaml)}"
REGISTRY="${REGISTRY:-}"
args=()
[ -n "${NODE_IMAGE:-}" ] && args+=(--build-arg "NODE_IMAGE=$NODE_IMAGE")
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  tool=docker
elif command -v buildah >/dev/null; then
  tool=buildah; args+=(--layers --isolation chroot)
else
  echo "make images: neither docker nor buildah is installed (Debian: apt-get install buildah)" >&2; exit 1
fi
for comp in server route operator; do
  name="cim-$comp:$TAG"; [ -n "$REGISTRY" ] && name="${REGISTRY%/}/$name"
  echo "building $name with $tool" >&2
  if [ "$tool" = docker ]; then docker build "${args[@]}" -f "Dockerfile.$comp" -t "$name" .
  else buildah bud "${args[@]}" -f "Dockerfile.$comp" -t "$name" .; fi
  if [ -n "$REGISTRY" ]; then
    if [ "$tool" = docker ]; then docker push "$name"; else buildah push "$name" "docker://$name"; fi
  fi
done
