#!/usr/bin/env bash
# The write and query benchmark drivers on a small people file, native and compiled to
# WebAssembly (bench/README.md, "The WASM core against the native core"): both run every
# scenario they share and end with the same datom counts and answer row counts, and
# bench/compare.mjs reports the WASM core against the native one. Run by tests/run.sh
# once wasm/build.sh has configured build/wasm.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

node bench/gen-people.mjs --count 500 "$OUT/people.json" >/dev/null
NODE_PATH=${NODE_PATH:-/usr/share/nodejs} ninja -C build/wasm -j2 datalith_wasm_bench_core datalith_wasm_bench_query >/dev/null
for driver in core query; do
  "$BUILD_DIR/datalith_bench_$driver" --people "$OUT/people.json" --runs 1 >> "$OUT/native.jsonl" 2>/dev/null
  node --no-liftoff "build/wasm/datalith_wasm_bench_$driver.cjs" --people "$OUT/people.json" --runs 1 \
    >> "$OUT/wasm.jsonl" 2>/dev/null
done

node --input-type=module - "$OUT" <<'JS'
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
const dir = process.argv[2];
const read = (f) => readFileSync(`${dir}/${f}`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const native = read('native.jsonl'), wasm = read('wasm.jsonl');
const fail = (msg) => { console.error(`bench drivers: ${msg}`); process.exit(1); };
const key = (r) => `${r.scenario} / ${r.backend}`;
// Every native scenario but the file backend's runs on the WASM core too.
const want = native.filter((r) => r.backend !== 'file').map(key).sort();
const got = wasm.map(key).sort();
if (JSON.stringify(want) !== JSON.stringify(got)) fail(`scenarios differ:\n native ${want}\n wasm   ${got}`);
for (const w of wasm) {
  const n = native.find((r) => key(r) === key(w));
  if (w.engine !== 'datalith-wasm-core') fail(`${key(w)}: engine ${w.engine}`);
  if (!(w.median_ms > 0)) fail(`${key(w)}: median ${w.median_ms}`);
  // datoms: the database's for a write, the answer's rows for a query
  if (w.datoms !== n.datoms) fail(`${key(w)}: ${w.datoms} datoms on the WASM core, ${n.datoms} native`);
}
const report = execFileSync('node', ['bench/compare.mjs', `${dir}/native.jsonl`, `${dir}/wasm.jsonl`], { encoding: 'utf8' });
const table = report.split('### The WASM builds against the native core')[1];
if (!table) fail('compare.mjs printed no table of the WASM core against the native one');
for (const s of ['bulk-load', 'tx-one-entity', 'q1', 'pull-many']) {
  if (!table.includes(`| ${s} | core, memory |`)) fail(`compare.mjs: no row for ${s} on the WASM core`);
}
console.log(`bench drivers: ${wasm.length} scenarios on the WASM core match the native runs`);
JS
