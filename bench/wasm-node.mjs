#!/usr/bin/env node
// DataScript's people workload through the npm package's JS API (the WASM core under
// Node) and through npm `datascript`, in one Node process: bulk load, one-entity
// transactions, the query scenarios of datascript-query.mjs / query_bench.cpp (same
// data, same timing method) and pull-many.
//
// Usage: node --expose-gc bench/wasm-node.mjs --people people.json [--runs 5] [--only NAME]
//
// Prints one JSON object per engine and scenario (engine "datalith-wasm" or
// "datascript", backend "node"), the format bench/compare.mjs reads; for queries
// `datoms` is the number of result rows, otherwise the datoms about entities.

import ds from 'datascript';
import { readFileSync } from 'node:fs';
import { init } from '../wasm/js/index.js';

function parseArgs(argv) {
  const o = { people: null, runs: 5, only: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--people') o.people = argv[++i];
    else if (a === '--runs') o.runs = Math.max(1, Number(argv[++i]) | 0);
    else if (a === '--only') o.only = argv[++i];
    else {
      console.error('usage: node bench/wasm-node.mjs --people FILE [--runs N] [--only NAME]');
      process.exit(2);
    }
  }
  if (!o.people) {
    console.error('--people is required');
    process.exit(2);
  }
  return o;
}

const o = parseArgs(process.argv.slice(2));
const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const round3 = (x) => Math.round(x * 1000) / 1000;
const rows = (r) => (Array.isArray(r) ? r.length : 1);

function report(engine, scenario, samples, datoms, extra = {}) {
  process.stdout.write(JSON.stringify({
    engine, scenario, backend: 'node', median_ms: round3(median(samples)),
    samples_ms: samples.map(round3), datoms, ...extra,
  }) + '\n');
}

// A write scenario: `body()` builds a database from scratch and returns
// { ms, datoms }; one warm-up run, then o.runs timed ones. A failure is reported on
// stderr and skips the scenario.
async function write(engine, scenario, body) {
  if (!scenario.includes(o.only)) return;
  console.error(`${engine} ${scenario} ...`);
  try {
    gc();
    await body();
    const samples = [];
    let last;
    for (let i = 0; i < o.runs; i++) {
      gc();
      last = await body();
      samples.push(last.ms);
    }
    report(engine, scenario, samples, last.datoms);
  } catch (e) {
    console.error(`${engine} ${scenario} failed: ${e.message}`);
  }
}

// ms per call, repeating until at least 20 ms have passed (as query_bench.cpp does).
async function time(fn) {
  let reps = 0, n = 0;
  const t0 = nowMs();
  let t1 = t0;
  do {
    n = rows(await fn());
    reps++;
    t1 = nowMs();
  } while (t1 - t0 < 20);
  return { ms: (t1 - t0) / reps, rows: n, reps };
}

async function read(engine, scenario, fn) {
  if (!scenario.includes(o.only)) return;
  console.error(`${engine} ${scenario} ...`);
  gc();
  await time(fn);  // warm-up
  const samples = [];
  let last;
  for (let i = 0; i < o.runs; i++) {
    gc();
    last = await time(fn);
    samples.push(last.ms);
  }
  report(engine, scenario, samples, last.rows, { reps: last.reps });
}

// ---- data ----

const ATTRS = { name: 'string', 'last-name': 'string', 'full-name': 'string', alias: 'string', sex: 'string', age: 'long', salary: 'long' };
const SCHEMA = Object.entries(ATTRS).map(([a, type]) => ({
  'db/ident': `:${a}`, 'db/valueType': `:db.type/${type}`,
  ...(a === 'alias' ? { 'db/cardinality': ':db.cardinality/many' } : {}),
}));
const FOLLOWS_SCHEMA = [{ 'db/ident': ':name', 'db/valueType': ':db.type/string' },
  { 'db/ident': ':follows', 'db/valueType': ':db.type/ref', 'db/cardinality': ':db.cardinality/many' }];

const people = JSON.parse(readFileSync(o.people, 'utf8')).people;
// Datalith: string tempids, as query_bench.cpp; DataScript: explicit ids, as its scripts.
const dlPeople = people.map(({ id, ...attrs }) => ({ 'db/id': String(id), ...attrs }));
const dsPeople = people.map(({ id, ...attrs }) => ({ ':db/id': id, ...attrs }));

// DataScript's wide-db and long-db follows graphs as [from, to] pairs (ids from 1).
function wide(id, depth, width, out = []) {
  for (let k = 0; depth > 0 && k < width; k++) {
    out.push([id, id * width + k]);
    wide(id * width + k, depth - 1, width, out);
  }
  return out;
}
function long(depth, width) {
  const out = [];
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < depth; y++) out.push([x * (depth + 1) + y + 1, x * (depth + 1) + y + 2]);
  }
  return out;
}
const GRAPHS = [
  ...[[3, 3], [5, 3], [4, 6]].map(([dp, w]) => [`rules-wide-${dp}x${w}`, wide(1, dp, w)]),
  ...[[10, 3], [30, 3]].map(([dp, w]) => [`rules-long-${dp}x${w}`, long(dp, w)]),
];
const followsTx = (edges, id) => edges.flatMap(([a, b]) => [
  { [id]: a, name: 'Ivan', follows: b }, { [id]: b, name: 'Ivan' }]);

// One-entity transactions: every person in its own transaction (memory connections
// keep their trees in memory and never write blobs, so all 20 000 fit).
const TX_ONE_COUNT = Infinity;
const TX_ONE = 'tx-one-entity';

const QUERIES = [
  ['q1', '[:find ?e :where [?e :name "Ivan"]]'],
  ['q2', '[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a]]'],
  ['q2-switch', '[:find ?e ?a :where [?e :age ?a] [?e :name "Ivan"]]'],
  ['q3', '[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a] [?e :sex "male"]]'],
  ['q4', '[:find ?e ?l ?a :where [?e :name "Ivan"] [?e :last-name ?l] [?e :age ?a] [?e :sex "male"]]'],
  ['q5', '[:find ?e1 ?l ?a :where [?e :name "Ivan"] [?e :age ?a] [?e1 :age ?a] [?e1 :last-name ?l]]'],
  ['qpred1', '[:find ?e ?s :where [?e :salary ?s] [(> ?s 50000)]]'],
  ['qpred2', '[:find ?e ?s :in $ ?min_s :where [?e :salary ?s] [(> ?s ?min_s)]]', 50000],
];
const RULES = '[[(follows ?x ?y) [?x :follows ?y]] [(follows ?x ?y) [?x :follows ?t] (follows ?t ?y)]]';
const RULE_QUERY = '[:find ?e ?e2 :in $ % :where (follows ?e ?e2)]';
// DataScript's JS API names attributes with plain strings.
const dsText = (q) => q.replace(/:(name|last-name|age|sex|salary|follows)\b/g, '"$1"');

// ---- Datalith (WASM) ----

const d = await init();
let stores = 0;

async function fresh(tx = []) {
  const cfg = { store: { backend: 'memory', id: `bench-${++stores}` } };
  await d.createDatabase(cfg);
  const conn = await d.connect(cfg);
  for (const t of tx) await conn.transact(t);
  return { cfg, conn };
}

async function drop({ cfg, conn }) {
  await conn.close();
  await d.deleteDatabase(cfg);
}

async function entityDatoms(db) {
  let n = 0;
  for (const a of Object.keys(ATTRS)) n += (await db.datoms('aevt', a)).length;
  return n;
}

async function timedLoad(txs) {
  const h = await fresh([SCHEMA]);
  try {
    const t0 = nowMs();
    for (const tx of txs) await h.conn.transact(tx);
    const ms = nowMs() - t0;
    return { ms, datoms: await entityDatoms(h.conn.db()) };
  } finally {
    await drop(h);
  }
}

await write('datalith-wasm', 'bulk-load', () => timedLoad([dlPeople]));
await write('datalith-wasm', TX_ONE, () => timedLoad(dlPeople.slice(0, TX_ONE_COUNT).map((p) => [p])));

const main = await fresh([SCHEMA, dlPeople]);
const db = main.conn.db();
for (const [name, q, ...inputs] of QUERIES) await read('datalith-wasm', name, () => d.q(q, db, ...inputs));
for (const [name, edges] of GRAPHS) {
  if (!name.includes(o.only)) continue;
  const h = await fresh([FOLLOWS_SCHEMA, followsTx(edges.map(([a, b]) => [`n${a}`, `n${b}`]), 'db/id')]);
  const rdb = h.conn.db();
  await read('datalith-wasm', name, () => d.q(RULE_QUERY, rdb, RULES));
  await drop(h);
}
const eids = (await db.datoms('aevt', 'name')).map(([e]) => e);
await read('datalith-wasm', 'pull-many', () => db.pullMany('[:name :last-name :age :salary]', eids));
await drop(main);

// ---- DataScript ----

const empty = ds.empty_db({ alias: { ':db/cardinality': ':db.cardinality/many' } });
const dsDatoms = (x) => ds.datoms(x, ':eavt').length;
const dsLoad = (body) => () => {
  const t0 = nowMs();
  const x = body();
  return { ms: nowMs() - t0, datoms: dsDatoms(x) };
};
await write('datascript', 'bulk-load', dsLoad(() => ds.db_with(empty, dsPeople)));
await write('datascript', TX_ONE, dsLoad(() => dsPeople.slice(0, TX_ONE_COUNT).reduce((x, p) => ds.db_with(x, [p]), empty)));

const dsDb = ds.db_with(empty, dsPeople);
for (const [name, q, ...inputs] of QUERIES) await read('datascript', name, () => ds.q(dsText(q), dsDb, ...inputs));
for (const [name, edges] of GRAPHS) {
  const rdb = ds.db_with(ds.empty_db({ follows: { ':db/valueType': ':db.type/ref', ':db/cardinality': ':db.cardinality/many' } }),
    followsTx(edges, ':db/id'));
  await read('datascript', name, () => ds.q(dsText(RULE_QUERY), rdb, dsText(RULES)));
}
const dsEids = ds.datoms(dsDb, ':aevt', 'name').map((x) => x.e);
await read('datascript', 'pull-many', () => ds.pull_many(dsDb, '["name" "last-name" "age" "salary"]', dsEids));
