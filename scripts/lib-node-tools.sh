# Shared helpers of scripts/ensure-node-tools.sh and scripts/build-node-images.sh (sourced, not run).
# Everything is cached under $NODE_CACHE keyed on its inputs; every step's cold time goes to build-times.txt.

K8S_VERSION="${CIM_K8S_VERSION:-1.33.13}"
CIM_CACHE_ROOT="${CIM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cim}"
NODE_CACHE="$CIM_CACHE_ROOT/node-k8s-v$K8S_VERSION"
IMAGES="$NODE_CACHE/images"          # docker-archive tarballs, one per image, for `ctr images import`
NBIN="$NODE_CACHE/bin"
mkdir -p "$IMAGES" "$NBIN"

nlog() { echo "ensure-node-tools: $*" >&2; }
ntimed() { # $1 = label; rest = command. Appends the duration to $NODE_CACHE/build-times.txt
  local label="$1" start end; shift
  start=$(date +%s); "$@"; end=$(date +%s)
  echo "$(date -u +%FT%TZ) $label $((end - start))s" >>"$NODE_CACHE/build-times.txt"
  nlog "$label took $((end - start))s"
}

# apt-get never runs twice at once: scripts/ensure-system-deps.sh and this script share the machine.
APT_LOCK=/var/lib/cim-apt.lock
apt_install() {
  (
    flock -w 900 9 || { nlog "timed out waiting for $APT_LOCK"; exit 1; }
    export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >&2
  ) 9>"$APT_LOCK"
}

# buildah with its own vfs storage: no daemon, no registry, nothing written to the machine's default store.
BUILDAH_ROOT="$NODE_CACHE/buildah"
bah() { buildah --root "$BUILDAH_ROOT/root" --runroot "$BUILDAH_ROOT/run" --storage-driver vfs "$@"; }
export BUILDAH_ISOLATION=chroot   # crun's OCI isolation fails on hybrid cgroups (test-infra-notes §6)

# Content hash of files/dirs (paths relative to $1): the cache key of an image built from them.
hash_inputs() {
  local root="$1"; shift
  (cd "$root" && find "$@" -type f -not -path '*/node_modules/*' -not -name '*.test.ts' -print0 2>/dev/null \
    | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# Writes a docker-archive tarball named after the image's fully-qualified reference (what the CRI resolves).
export_image() { # $1 = local image, $2 = fully-qualified name:tag, $3 = tarball
  rm -f "$3.tmp"
  bah push -q "$1" "docker-archive:$3.tmp:$2" >&2
  mv "$3.tmp" "$3"
}
