#!/usr/bin/env bash
# People workload: Datalith (native) vs DataScript (npm), same data, one report:
# the write scenarios (core_bench.cpp / datascript-core.mjs) and the query scenarios
# (query_bench.cpp / datascript-query.mjs).
# Usage: bash bench/run.sh        (or: npm run bench)
# Env:   RUNS=N   timed runs per scenario (default 5; one extra warm-up run each)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-5}"
OUT=build/bench
PEOPLE="$OUT/people.json"
MILLION="$OUT/people-1m.json"

mkdir -p "$OUT"

if [ ! -d node_modules/datascript ]; then
  echo "bench: installing npm dev dependencies" >&2
  npm install --no-audit --no-fund >&2
fi

if [ ! -f "$PEOPLE" ]; then
  node bench/gen-people.mjs "$PEOPLE"
fi
if [ ! -f "$MILLION" ]; then
  node bench/gen-people.mjs --million "$MILLION"
fi

echo "bench: building the benchmark drivers (Release)" >&2
# Build chatter goes to stderr so stdout carries only the report.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
cmake --build build -j2 --target datalith_bench_core datalith_bench_query >&2

# Results are written to temp files first so a failed run never leaves a
# truncated .jsonl behind for compare.mjs to pick up.
echo "bench: datalith (runs=$RUNS)" >&2
build/datalith_bench_core --people "$PEOPLE" --million "$MILLION" --runs "$RUNS" > "$OUT/datalith-core.jsonl.tmp"
mv "$OUT/datalith-core.jsonl.tmp" "$OUT/datalith-core.jsonl"

echo "bench: datascript (runs=$RUNS)" >&2
node --expose-gc --max-old-space-size=4096 bench/datascript-core.mjs \
  --people "$PEOPLE" --million "$MILLION" --runs "$RUNS" > "$OUT/datascript-core.jsonl.tmp"
mv "$OUT/datascript-core.jsonl.tmp" "$OUT/datascript-core.jsonl"

echo "bench: queries, datalith" >&2
build/datalith_bench_query --people "$PEOPLE" --runs "$RUNS" > "$OUT/datalith-query.jsonl.tmp"
mv "$OUT/datalith-query.jsonl.tmp" "$OUT/datalith-query.jsonl"

echo "bench: queries, datascript" >&2
node --expose-gc bench/datascript-query.mjs --people "$PEOPLE" --runs "$RUNS" > "$OUT/datascript-query.jsonl.tmp"
mv "$OUT/datascript-query.jsonl.tmp" "$OUT/datascript-query.jsonl"

# The npm package (the WASM core through the JS API) and DataScript in one Node process.
if [ -f wasm/dist/datalith_wasm.wasm ]; then
  echo "bench: the npm package (WASM) and datascript, one Node process" >&2
  node --expose-gc bench/wasm-node.mjs --people "$PEOPLE" --runs "$RUNS" > "$OUT/wasm-node.jsonl.tmp"
  mv "$OUT/wasm-node.jsonl.tmp" "$OUT/wasm-node.jsonl"
  echo "bench: the npm package (WASM) and datascript, one headless Chromium page" >&2
  node bench/wasm-browser.mjs --people "$PEOPLE" --runs "$RUNS" > "$OUT/wasm-browser.jsonl.tmp"
  mv "$OUT/wasm-browser.jsonl.tmp" "$OUT/wasm-browser.jsonl"
  # The native drivers compiled to WebAssembly: the WASM core without the JS API.
  if [ -f build/wasm/build.ninja ]; then
    echo "bench: the native drivers compiled to WebAssembly (the WASM core alone)" >&2
    NODE_PATH=${NODE_PATH:-/usr/share/nodejs} ninja -C build/wasm -j2 datalith_wasm_bench_core datalith_wasm_bench_query >&2
    node --no-liftoff build/wasm/datalith_wasm_bench_core.cjs --people "$PEOPLE" --runs "$RUNS" > "$OUT/wasm-core.jsonl.tmp"
    node --no-liftoff build/wasm/datalith_wasm_bench_query.cjs --people "$PEOPLE" --runs "$RUNS" >> "$OUT/wasm-core.jsonl.tmp"
    mv "$OUT/wasm-core.jsonl.tmp" "$OUT/wasm-core.jsonl"
  fi
  echo "bench: reactive queries (64 and 256 subscriptions), Node and headless Chromium" >&2
  node --expose-gc bench/live-node.mjs --people "$PEOPLE" > "$OUT/live-node.jsonl.tmp"
  mv "$OUT/live-node.jsonl.tmp" "$OUT/live-node.jsonl"
  node bench/live-browser.mjs --people "$PEOPLE" > "$OUT/live-browser.jsonl.tmp"
  mv "$OUT/live-browser.jsonl.tmp" "$OUT/live-browser.jsonl"
  echo "bench: lazy loading from IndexedDB, 1M datoms, headless Chromium" >&2
  node bench/wasm-idb-lazy.mjs --million "$MILLION" > "$OUT/wasm-idb.jsonl.tmp"
  mv "$OUT/wasm-idb.jsonl.tmp" "$OUT/wasm-idb.jsonl"
  echo "bench: replication through datalith-server on loopback, 1M datoms" >&2
  cmake --build build -j2 --target datalith datalith-server >&2
  node --max-old-space-size=8192 bench/sync-bench.mjs --million "$MILLION" > "$OUT/sync.jsonl.tmp"
  mv "$OUT/sync.jsonl.tmp" "$OUT/sync.jsonl"
else
  echo "bench: wasm/dist is not built (npm run build); skipping the WASM and sync benchmarks" >&2
  rm -f "$OUT/wasm-node.jsonl" "$OUT/wasm-browser.jsonl" "$OUT/wasm-idb.jsonl" "$OUT/sync.jsonl" \
    "$OUT/live-node.jsonl" "$OUT/live-browser.jsonl" "$OUT/wasm-core.jsonl"
fi

node bench/compare.mjs "$OUT"/*.jsonl | tee "$OUT/report.md"
