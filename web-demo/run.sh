#!/usr/bin/env bash
# The demo in one command (npm start): installs what is missing, builds what is
# missing, starts datalith-server on 127.0.0.1 with the sample databases (seeded on
# first start), serves web-demo/ and prints the URL. Ctrl-C stops it.
#
#   bash web-demo/run.sh [--port 8080] [--data build/demo-data] [--verbose]
#   PORT=9000 npm start
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh
if [ ! -d node_modules/ws ] || [ ! -d node_modules/playwright-core ]; then
  npm install --no-audit --no-fund --loglevel=error
fi

BUILD_DIR=${BUILD_DIR:-build}
# The native build: configure once, then an incremental build of the server (a no-op
# when it is current).
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  echo "demo: configuring the native build in $BUILD_DIR/"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if [ ! -x "$BUILD_DIR/datalith-server" ]; then
  echo "demo: building datalith-server (a few minutes the first time)"
fi
cmake --build "$BUILD_DIR" --target datalith-server datalith -j2 | { grep -v -e "^ninja: no work to do" -e "Re-checking globbed" || true; }

# The WebAssembly package, if it was never built.
if [ ! -f wasm/dist/datalith_wasm.wasm ] || [ ! -f wasm/dist/datalith_wasm.mjs ]; then
  echo "demo: building the WebAssembly package (wasm/build.sh)"
  bash wasm/build.sh
fi

exec node web-demo/server/serve.mjs --server "$BUILD_DIR/datalith-server" "$@"
