#!/usr/bin/env bash
# Builds (once) everything a real Kubernetes node needs for test/e2e-node, and prints the cache directory holding it:
#   packages      Debian: iptables nftables conntrack containerd runc buildah containernetworking-plugins
#                 debootstrap busybox-static (apt-get under a lock shared with scripts/ensure-system-deps.sh)
#   bin/kubelet, bin/kube-proxy   scripts/ensure-k8s-tools.sh --with-node (same wrapper go.mod and GOCACHE)
#   bin/coredns   the Go module proxy, pinned
#   images/*.tar  docker-archive tarballs for `ctr -n k8s.io images import` (scripts/build-node-images.sh)
# Cached under ~/.cache/cim/node-k8s-v<version>, keyed on inputs; cold times in build-times.txt there.
# Needs root (a node needs it anyway). Progress goes to stderr, the directory alone to stdout.
# `--no-images` stops before the images (tools only).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib-node-tools.sh
source "$HERE/lib-node-tools.sh"
COREDNS_VERSION="${CIM_COREDNS_VERSION:-1.12.1}"

WANT_IMAGES=1
for a in "$@"; do case "$a" in --no-images) WANT_IMAGES=0;; esac; done

[ "$(id -u)" -eq 0 ] || { nlog "a real node needs root (containerd, network namespaces, cgroups); run as root"; exit 1; }

# --- Debian packages --------------------------------------------------------------------------------------
missing=()
for c in iptables nft conntrack containerd runc buildah debootstrap; do command -v "$c" >/dev/null || missing+=("$c"); done
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] || missing+=(cni-plugins)
[ -x /bin/busybox ] || missing+=(busybox)
if [ ${#missing[@]} -gt 0 ]; then
  nlog "installing Debian packages (missing: ${missing[*]})"
  ntimed "apt-packages" apt_install iptables nftables conntrack containerd runc buildah containernetworking-plugins \
    debootstrap busybox-static
fi

# --- kubelet, kube-proxy (and the control plane, kubectl, helm) -------------------------------------------------
K8S_BIN=$("$HERE/ensure-k8s-tools.sh" --with-node)
for t in kubelet kube-proxy; do ln -sf "$K8S_BIN/$t" "$NBIN/$t"; done
echo "$K8S_BIN" >"$NODE_CACHE/k8s-bin"

# --- CoreDNS ------------------------------------------------------------------------------------------------
if [ ! -x "$NBIN/coredns-v$COREDNS_VERSION" ]; then
  gofallback="$CIM_CACHE_ROOT/go${CIM_GO_FALLBACK_VERSION:-1.24.6}/bin"
  [ -x "$gofallback/go" ] && export PATH="$gofallback:$PATH"
  command -v go >/dev/null || { nlog "no Go toolchain (scripts/ensure-k8s-tools.sh provides one)"; exit 1; }
  nlog "building CoreDNS v$COREDNS_VERSION from the Go module proxy"
  build_coredns() {
    local tmp; tmp=$(mktemp -d)
    GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$tmp" \
      go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@v$COREDNS_VERSION" >&2
    mv "$tmp/coredns" "$NBIN/coredns-v$COREDNS_VERSION"; rm -rf "$tmp"
  }
  ntimed "coredns-v$COREDNS_VERSION" build_coredns
fi
ln -sf "coredns-v$COREDNS_VERSION" "$NBIN/coredns"

# --- pause: a tiny static program that sleeps until signalled and reaps orphans ----------------------------
if [ ! -x "$NBIN/pause" ]; then
  tmp=$(mktemp -d)
  cat >"$tmp/pause.c" <<'C'
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction a = {0}, r = {0};
  a.sa_handler = stop; sigaction(SIGINT, &a, NULL); sigaction(SIGTERM, &a, NULL);
  r.sa_handler = reap; r.sa_flags = SA_NOCLDSTOP; sigaction(SIGCHLD, &r, NULL);
  for (;;) pause();
  return 0;
}
C
  gcc -static -O2 -o "$tmp/pause" "$tmp/pause.c" && mv "$tmp/pause" "$NBIN/pause"
  rm -rf "$tmp"
fi

if [ "$WANT_IMAGES" = 1 ]; then "$HERE/build-node-images.sh" >&2; fi
echo "$NODE_CACHE"
