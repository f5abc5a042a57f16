#!/usr/bin/env bash
# Builds the WASM core into wasm/dist/: datalith_wasm.{mjs,wasm} (the package) and
# datalith_wasm_local.{mjs,wasm} (`datalith/local`, for pages with local databases only).
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

# Each .wasm again, gzipped and in base64, as a module of its own: the loader in browsers
# (wasm/js/browser-load.js) imports it when the file is not beside it (esbuild and Rollup
# copy no assets). Written after every build, so it always holds the .wasm built with
# its .mjs.
node --input-type=module - <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
for (const name of ['datalith_wasm', 'datalith_wasm_local']) {
  const wasm = readFileSync(`wasm/dist/${name}.wasm`);
  const base64 = gzipSync(wasm, { level: 9 }).toString('base64');
  writeFileSync(`wasm/dist/${name}.inline.mjs`, `// wasm/dist/${name}.wasm, gzipped, in base64 (written by wasm/build.sh).\n` +
    `export default '${base64}';\n`);
}
JS
