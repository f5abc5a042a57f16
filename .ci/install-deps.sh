#!/usr/bin/env bash
# Installs every Debian package the project needs, only when something is missing.
# Idempotent: a second run with everything present takes well under a second.
set -euo pipefail

PACKAGES=(build-essential cmake ninja-build pkg-config git nodejs npm
  catch2 libzstd-dev libxxhash-dev nlohmann-json3-dev libboost1.81-dev
  libssl-dev openssl nginx-light  # published databases over https; nginx serves them in tests
  libpq-dev postgresql  # the Postgres store; the tests start a throwaway cluster
  emscripten node-acorn dpkg-dev  # the WASM build (wasm/build.sh; dpkg-dev: apt-get source)
  chromium  # browser tests (playwright-core drives /usr/bin/chromium)
  clang-16 libclang-rt-16-dev)  # tests/sanitize.sh: libFuzzer, ASan, UBSan, TSan

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # node and npm may come from outside Debian's packages; accept them on PATH.
    case "$p" in
      nodejs) command -v node >/dev/null && continue ;;
      npm) command -v npm >/dev/null && continue ;;
    esac
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
