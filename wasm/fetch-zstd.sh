#!/usr/bin/env bash
# Unpacks Debian's zstd sources (the same 1.5.x as libzstd-dev) into build/zstd-src/,
# for the WASM build to compile with emcc. Idempotent: does nothing once unpacked.
# Adds a deb-src entry for bookworm to apt's sources if there is none.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=build/zstd-src
if compgen -G "$DEST/libzstd-*/lib/zstd.h" >/dev/null; then exit 0; fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if ! grep -rqsE '^(deb-src .*bookworm|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "fetch-zstd: adding a deb-src entry for bookworm"
  echo "deb-src http://deb.debian.org/debian bookworm main" |
    $SUDO tee /etc/apt/sources.list.d/datalith-deb-src.list >/dev/null
  $SUDO apt-get update -qq
fi
command -v dpkg-source >/dev/null || {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev
}

mkdir -p "$DEST"
(cd "$DEST" && apt-get source -qq libzstd)
compgen -G "$DEST/libzstd-*/lib/zstd.h" >/dev/null || { echo "fetch-zstd: no zstd sources in $DEST" >&2; exit 1; }
