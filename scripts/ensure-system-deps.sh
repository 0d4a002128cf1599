#!/usr/bin/env bash
# Installs the Debian packages the integration tests and `cim up` use: redis-server, ZooKeeper, PostgreSQL, and
# headless Chromium (+ a font) for the web client's browser test. Idempotent: does nothing when all are
# present. Needs root (or sudo) only when something is missing.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
# redis-cli (Debian's redis-tools, a dependency of redis-server) creates the test Redis Cluster (infra/redis-cluster.ts).
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v java >/dev/null || missing+=(default-jre-headless)
# test/integration/web-client.test.ts drives /usr/bin/chromium with playwright-core; a font so text renders.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
# test/integration/tls.test.ts and services/common/src/tls.test.ts make throwaway certificates with the openssl CLI.
command -v openssl >/dev/null || missing+=(openssl)
# The SQL inbox/history backend's tests start a throwaway PostgreSQL (services/common/src/infra/postgres-server.ts).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# One apt-get at a time on this machine: scripts/ensure-node-tools.sh takes the same lock.
{ exec 9>/var/lib/cim-apt.lock && flock -w 900 9; } 2>/dev/null || true
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
