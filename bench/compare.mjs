#!/usr/bin/env node
// Side-by-side report for the people benchmark.
//
// Usage: node bench/compare.mjs FILE.jsonl [FILE.jsonl ...]
//
// Every non-blank line of every file is one JSON result:
//   {"engine":"datalith"|"datalith-wasm"|"datalith-wasm-core"|"datascript","scenario":..,"backend":"memory"|"file"|"node",
//    "median_ms":..,"samples_ms":[..],"datoms":N, ...extra figures}
// Prints a Markdown table comparing each datalith result (any engine named datalith or
// datalith-*) with the datascript result of the same scenario, preferring one of the
// same backend (speed-up = datascript median / datalith median),
// then a table of any extra fields (nodes_written, bytes_written, ...).

import { readFileSync } from 'node:fs';

const BASE_FIELDS = new Set(['engine', 'scenario', 'backend', 'median_ms', 'samples_ms', 'datoms', 'reps', 'warm_ms']);
const SCENARIO_ORDER = ['bulk-load', 'tx-one-entity', 'tx-one-entity-batched', 'tx-one-datom', 'bulk-load-1m',
  'q1', 'q2', 'q2-switch', 'q3', 'q4', 'q5', 'qpred1', 'qpred2'];

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node bench/compare.mjs FILE.jsonl [FILE.jsonl ...]');
  process.exit(2);
}

const results = [];
for (const file of files) {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let r;
    try {
      r = JSON.parse(line);
    } catch (e) {
      console.error(`compare: ${file}:${i + 1}: not JSON, skipped`);
      return;
    }
    if (!r || typeof r !== 'object' || typeof r.engine !== 'string' || typeof r.scenario !== 'string') {
      console.error(`compare: ${file}:${i + 1}: missing engine/scenario, skipped`);
      return;
    }
    r.backend ??= 'memory';
    results.push(r);
  });
}

// Last result wins for a repeated (engine, scenario, backend).
const byKey = new Map();
for (const r of results) {
  const key = `${r.engine}\u0000${r.scenario}\u0000${r.backend}`;
  if (byKey.has(key)) console.error(`compare: duplicate ${r.engine}/${r.scenario}/${r.backend}; using the last one`);
  byKey.set(key, r);
}
const unique = [...byKey.values()];

// Known scenarios first in their usual order, then the rest in order of appearance.
const rank = (s) => { const i = SCENARIO_ORDER.indexOf(s); return i < 0 ? SCENARIO_ORDER.length : i; };
const scenarios = [...new Set(unique.map((r) => r.scenario))].sort((a, b) => rank(a) - rank(b));

const isDatalith = (e) => e === 'datalith' || e.startsWith('datalith-');
// The datascript result a datalith one is compared with: same backend if there is one
// (a variant "node, :db/index false" pairs with "node").
const peerOf = (dl) => {
  const peers = unique.filter((r) => r.engine === 'datascript' && r.scenario === dl.scenario);
  const base = dl.backend.split(',')[0];
  return peers.find((r) => r.backend === base) ?? peers.find((r) => r.backend === 'memory') ?? peers[0];
};
const backendLabel = (r) => (r.engine === 'datalith' ? r.backend : `${r.backend} (${r.engine.slice('datalith-'.length)})`);

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

function fmtMs(ms) {
  if (!isNum(ms)) return '—';
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(3)} ms`;
}

// The samples' range, as "min–max" (the spread a median hides).
function fmtSpread(r) {
  const xs = r?.samples_ms;
  if (!Array.isArray(xs) || xs.length < 2) return '—';
  const f = (x) => fmtMs(x).replace(' ms', '');
  return `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;
}

function fmtSpeedup(ds, dl) {
  if (!isNum(ds) || !isNum(dl)) return '—';
  if (dl <= 0) return '∞';
  return `${(ds / dl).toFixed(1)}×`;
}

function fmtDatoms(dl, ds) {
  const a = dl?.datoms, b = ds?.datoms;
  if (a === undefined && b === undefined) return '—';
  if (a === undefined) return `${b}`;
  if (b === undefined || a === b) return `${a}`;
  return `${a} ≠ ${b} (datascript)`;
}

function fmtValue(v) {
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

const esc = (s) => String(s).replace(/\|/g, '\\|');
const row = (cells) => `| ${cells.map(esc).join(' | ')} |`;

const out = [];
out.push('## Datalith vs DataScript — people workload');
out.push('');
out.push(row(['scenario', 'backend', 'datalith median', 'spread', 'datascript median', 'spread', 'speed-up', 'datoms (queries: rows)']));
out.push('|---|---|---:|---:|---:|---:|---:|---:|');
for (const s of scenarios) {
  const dls = unique.filter((r) => isDatalith(r.engine) && r.scenario === s);
  if (dls.length === 0) {
    const ds = unique.find((r) => r.engine === 'datascript' && r.scenario === s);
    if (ds) out.push(row([s, '—', '—', '—', fmtMs(ds.median_ms), fmtSpread(ds), '—', fmtDatoms(undefined, ds)]));
    continue;
  }
  for (const dl of dls) {
    const ds = peerOf(dl);
    out.push(row([s, backendLabel(dl), fmtMs(dl.median_ms), fmtSpread(dl), fmtMs(ds?.median_ms), fmtSpread(ds),
      fmtSpeedup(ds?.median_ms, dl.median_ms), fmtDatoms(dl, ds)]));
  }
}
out.push('');
out.push('speed-up = datascript median / datalith median (higher is better for Datalith); medians over the runs listed in samples_ms, spread = their min–max.');

// The WASM builds against the native core on the same scenario: the package through its
// JS API (engine datalith-wasm) against the native memory backend without commits ("memory,
// unflushed", as the package's memory databases) where there is one, else "memory" (or the
// variant named after the comma); the native driver compiled to WebAssembly (engine
// datalith-wasm-core, bench/README.md) against the native run of the same backend.
const nativeRow = (scenario, backend) =>
  unique.find((r) => r.engine === 'datalith' && r.scenario === scenario && r.backend === backend);
const nativeOf = (w) => {
  if (w.engine === 'datalith-wasm-core') return nativeRow(w.scenario, w.backend);
  if (w.backend.includes(',')) return nativeRow(w.scenario, `memory,${w.backend.split(',').slice(1).join(',')}`);
  return nativeRow(w.scenario, 'memory, unflushed') ?? nativeRow(w.scenario, 'memory');
};
const wasmRows = unique.filter((r) => (r.engine === 'datalith-wasm' || r.engine === 'datalith-wasm-core') && nativeOf(r));
if (wasmRows.length) {
  out.push('');
  out.push('### The WASM builds against the native core');
  out.push('');
  out.push(row(['scenario', 'wasm', 'wasm median', 'native backend', 'native median', 'wasm / native']));
  out.push('|---|---|---:|---|---:|---:|');
  for (const w of wasmRows) {
    const n = nativeOf(w);
    const what = w.engine === 'datalith-wasm' ? `package, ${w.backend}` : `core, ${w.backend}`;
    out.push(row([w.scenario, what, fmtMs(w.median_ms), n.backend, fmtMs(n.median_ms), `${(w.median_ms / n.median_ms).toFixed(2)}×`]));
  }
}

// Anything beyond the base fields, from either engine.
const extras = [];
for (const s of scenarios) {
  for (const r of unique.filter((x) => x.scenario === s)) {
    const fields = Object.keys(r).filter((k) => !BASE_FIELDS.has(k));
    if (fields.length) extras.push([r.engine, s, r.backend, fields.map((k) => `${k}=${fmtValue(r[k])}`).join(', ')]);
  }
}
if (extras.length) {
  out.push('');
  out.push('### Other figures');
  out.push('');
  out.push(row(['engine', 'scenario', 'backend', 'figures']));
  out.push('|---|---|---|---|');
  for (const e of extras) out.push(row(e));
}

// Engines other than the two above are listed so nothing is silently dropped.
const others = unique.filter((r) => !isDatalith(r.engine) && r.engine !== 'datascript');
if (others.length) {
  out.push('');
  out.push('### Other engines');
  out.push('');
  out.push(row(['engine', 'scenario', 'backend', 'median']));
  out.push('|---|---|---|---:|');
  for (const r of others) out.push(row([r.engine, r.scenario, r.backend, fmtMs(r.median_ms)]));
}

process.stdout.write(out.join('\n') + '\n');
