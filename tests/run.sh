#!/usr/bin/env bash
# The one test command: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh
if [ ! -d node_modules/datascript ] || [ ! -d node_modules/ws ] || [ ! -d node_modules/playwright-core ] ||
   [ ! -d node_modules/typescript ] || [ ! -d node_modules/vite ] ||
   [ ! -d node_modules/webpack ] || [ ! -d node_modules/esbuild ] || [ ! -d node_modules/rollup ] ||
   [ ! -d node_modules/@rollup/plugin-node-resolve ] || [ ! -d node_modules/react ] ||
   [ ! -d node_modules/react-dom ]; then
  npm install --no-audit --no-fund --loglevel=error
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2

# Catch2 cases run as separate ctest tests (catch_discover_tests), two at a time.
ctest --test-dir "$BUILD_DIR" -j2 --output-on-failure --timeout 300

# Sanitizers and fuzzing (tests/README.md): the unit tests under ASan+UBSan, the sync
# server's multi-threaded tests under TSan, each fuzz target for 10 s; clang-16, in
# build-fuzz/ and build-tsan/.
bash tests/sanitize.sh

# ---- The WebAssembly build: wasm/build.sh (Emscripten; zstd from Debian's sources,
# fetched once into build/zstd-src). Its tests, wasm/test/raw.test.mjs, run with the
# npm package's below.
bash wasm/build.sh
# The benchmark drivers compiled to WebAssembly against the native ones (bench/README.md).
BUILD_DIR="$BUILD_DIR" bash tests/bench-drivers.sh
# ----

# The npm package (wasm/test/: EDN conventions, the API in Node, headless Chromium,
# the packed tarball, tsc) once its WASM build exists (npm run build).
# wasm/test/sync*.test.mjs start the datalith-server built above.
if [ -x "$BUILD_DIR/datalith-server" ]; then
  export DATALITH_SERVER="$(realpath "$BUILD_DIR/datalith-server")"
fi
if [ -f wasm/dist/datalith_wasm.wasm ]; then
  npm run --silent test:js
else
  echo "tests: wasm/dist is not built (npm run build); skipping the npm package tests" >&2
fi

# The demo (web-demo/test/): the page in headless Chromium against a real
# datalith-server on loopback; screenshots in build/demo-artifacts/.
if [ -f wasm/dist/datalith_wasm.wasm ] && [ -x "$BUILD_DIR/datalith-server" ]; then
  DATALITH_SERVER="$BUILD_DIR/datalith-server" DEMO_ARTIFACTS="$BUILD_DIR/demo-artifacts" npm run --silent test:demo
else
  echo "tests: wasm/dist or $BUILD_DIR/datalith-server is missing; skipping the demo tests" >&2
fi
