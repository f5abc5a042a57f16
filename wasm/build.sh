#!/usr/bin/env bash
# Builds the WASM core into wasm/dist/ (datalith_wasm.mjs + datalith_wasm.wasm).
# Needs emscripten and node-acorn (.ci/install-deps.sh); fetches zstd's sources once.
# Extra arguments go to CMake, e.g. -DDATALITH_WASM_COMPRESS=ON or -DDATALITH_WASM_OPT=-Oz.
set -euo pipefail
cd "$(dirname "$0")/.."

export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}  # em++'s JS optimizer needs acorn
BUILD=${WASM_BUILD_DIR:-build/wasm}

bash wasm/fetch-zstd.sh
if [ ! -f "$BUILD/build.ninja" ] || [ $# -gt 0 ]; then
  emcmake cmake -S wasm -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
ninja -C "$BUILD" -j2
