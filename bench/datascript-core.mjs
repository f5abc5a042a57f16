#!/usr/bin/env node
// DataScript side of the "people" write benchmark (see bench/README.md).
//
// Usage:
//   node --expose-gc bench/datascript-core.mjs --people people.json
//        [--million people-1m.json] [--runs 5] [--only scenario[,scenario]]
//
// Prints one JSON object per scenario on stdout:
//   {"engine":"datascript","scenario":"bulk-load","backend":"memory",
//    "median_ms":..,"samples_ms":[..],"datoms":N}
// Progress goes to stderr.

import d from 'datascript';
import { readFileSync } from 'node:fs';

const SCHEMA = { alias: { ':db/cardinality': ':db.cardinality/many' } };
const TX_ONE_DATOM_COUNT = 100000;

function usage(msg) {
  if (msg) console.error(`datascript-core: ${msg}`);
  console.error('usage: node bench/datascript-core.mjs --people FILE [--million FILE] [--runs N] [--only a,b]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { people: null, million: null, runs: 5, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--people') o.people = val();
    else if (a === '--million') o.million = val();
    else if (a === '--runs') {
      o.runs = Number(val());
      if (!Number.isInteger(o.runs) || o.runs < 1) usage('--runs must be a positive integer');
    } else if (a === '--only') o.only = new Set(val().split(','));
    else if (a === '-h' || a === '--help') usage();
    else if (o.people === null && !a.startsWith('--')) o.people = a;
    else usage(`unknown argument ${a}`);
  }
  if (!o.people) usage('--people FILE is required');
  return o;
}

// JSON person -> DataScript JS entity map: explicit entity id, attribute names
// as plain strings (DataScript's JS API keywordises ":db/..." keys only).
function toEntity(p) {
  const { id, ...attrs } = p;
  return { ':db/id': id, ...attrs };
}

function loadPeople(path) {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(json.people)) throw new Error(`${path}: no "people" array`);
  return json.people.map(toEntity);
}

const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round3 = (x) => Math.round(x * 1000) / 1000;

// Runs `body` once as warm-up, then `runs` timed times. `body` returns the
// resulting db; the datom count of the last one is reported.
function measure(scenario, runs, body) {
  gc();
  let db = body();
  const samples = [];
  for (let i = 0; i < runs; i++) {
    db = null;
    gc();
    const t0 = nowMs();
    db = body();
    samples.push(nowMs() - t0);
    console.error(`  ${scenario} run ${i + 1}/${runs}: ${samples[i].toFixed(1)} ms`);
  }
  const out = {
    engine: 'datascript',
    scenario,
    backend: 'memory',
    median_ms: round3(median(samples)),
    samples_ms: samples.map(round3),
    datoms: d.datoms(db, ':eavt').length,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  return out;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const want = (s) => !o.only || o.only.has(s);
  const empty = d.empty_db(SCHEMA);
  console.error(`datascript-core: DataScript 1.x via npm, node ${process.version}, runs=${o.runs}` +
    (typeof globalThis.gc === 'function' ? '' : ' (no --expose-gc: GC between runs not forced)'));

  const people = loadPeople(o.people);
  console.error(`datascript-core: ${o.people}: ${people.length} people`);

  // bulk-load: all entity maps in one transaction on an empty db.
  if (want('bulk-load')) {
    measure('bulk-load', o.runs, () => d.db_with(empty, people));
  }

  // tx-one-entity: one transaction per entity map, starting from an empty db.
  if (want('tx-one-entity')) {
    measure('tx-one-entity', o.runs, () => {
      let db = empty;
      for (const p of people) db = d.db_with(db, [p]);
      return db;
    });
  }

  // tx-one-datom: 100k single-datom transactions on the bulk-loaded db.
  // Transaction i sets :age of people[i % N] to 100 + i, a value never present
  // before, so every transaction replaces the old (cardinality-one) value.
  if (want('tx-one-datom')) {
    const base = d.db_with(empty, people);
    const txs = new Array(TX_ONE_DATOM_COUNT);
    for (let i = 0; i < TX_ONE_DATOM_COUNT; i++) {
      txs[i] = [[':db/add', people[i % people.length][':db/id'], 'age', 100 + i]];
    }
    measure('tx-one-datom', o.runs, () => {
      let db = base;
      for (const tx of txs) db = d.db_with(db, tx);
      return db;
    });
  }

  // bulk-load-1m: the ~1M-datom file in one transaction on an empty db.
  if (o.million && want('bulk-load-1m')) {
    let million = loadPeople(o.million);
    console.error(`datascript-core: ${o.million}: ${million.length} people`);
    measure('bulk-load-1m', o.runs, () => d.db_with(empty, million));
    million = null;
  }
}

main();
