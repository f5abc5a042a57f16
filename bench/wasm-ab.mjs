#!/usr/bin/env node
// A/B of builds of the npm package: the same scenarios through each build's JS API,
// all builds loaded into one Node process, warmed and sampled interleaved as the other
// drivers do (common.mjs, interleaved()). Prints per scenario each build's median
// (range) and its ratio to the first build. How docs/wasm.md's "Size and speed" rows
// were measured.
//
// Usage: node --expose-gc bench/wasm-ab.mjs --build DIR --build DIR... --people people.json
//          [--runs 7] [--warm-ms 1000] [--only NAME]
// DIR: a package tree with js/ and dist/ (wasm/ of a checkout after wasm/build.sh, or a
// copy of wasm/js next to another build's dist/, bench/README.md).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GRAPHS, PULL_ATTRS, QUERIES, RULES, RULE_QUERY, followsTx, interleaved, nowMs, parseArgs, setReportSink, time } from './common.mjs';
import { FOLLOWS_SCHEMA, SCHEMA, memoryDatabases } from './wasm-scenarios.mjs';

const argv = process.argv.slice(2);
const builds = [];
for (let i = argv.indexOf('--build'); i >= 0; i = argv.indexOf('--build')) builds.push(argv.splice(i, 2)[1]);
const o = parseArgs('wasm-ab.mjs', argv);
if (!argv.includes('--runs')) o.runs = 7;
if (builds.length < 2 || builds.includes(undefined)) {
  console.error('wasm-ab.mjs: give two or more --build DIR');
  process.exit(2);
}
const people = JSON.parse(readFileSync(o.people, 'utf8')).people.map(({ id, ...a }) => ({ 'db/id': String(id), ...a }));
const pattern = `[${PULL_ATTRS.map((a) => `:${a}`).join(' ')}]`;
const [, edges] = GRAPHS[GRAPHS.length - 1];

const sides = [];
for (const dir of builds) {
  const { init } = await import(pathToFileURL(resolve(dir, 'js/node.js')).href);
  const d = await init();
  const { fresh, drop } = memoryDatabases(d);
  const db = (await fresh([SCHEMA, people])).conn.db();
  const eids = (await db.datoms('aevt', 'name')).map(([e]) => e);
  const graph = (await fresh([FOLLOWS_SCHEMA, followsTx(edges.map(([a, b]) => [`n${a}`, `n${b}`]), 'db/id')])).conn.db();
  sides.push({ name: dir, d, fresh, drop, db, eids, graph });
}

// A write sample: `body(conn)` on a fresh database with the schema, timed.
const write = (body) => (s) => async () => {
  const h = await s.fresh([SCHEMA]);
  const t0 = nowMs();
  await body(h.conn, s);
  const ms = nowMs() - t0;
  await s.drop(h);
  return { ms, datoms: 0 };
};
// A read sample: ms per call (common.mjs, time()).
const read = (fn) => (s) => () => time(() => fn(s));
const scenarios = [
  ['bulk-load', write((conn) => conn.transact(people))],
  ['tx-one-entity-5000', write(async (conn) => { for (const p of people.slice(0, 5000)) await conn.transact([p]); })],
  ['tx-one-entity', write(async (conn) => { for (const p of people) await conn.transact([p]); })],
  // Each transaction's snapshot read at once: the live index's reads and twins.
  ['tx-then-q-1000', write(async (conn, s) => {
    for (const p of people.slice(0, 1000)) {
      await conn.transact([p]);
      await s.d.q('[:find ?e . :in $ ?n :where [?e :name ?n]]', conn.db(), p.name);
    }
  })],
  ...QUERIES.map(([name, q, ...inputs]) => [name, read((s) => s.d.q(q, s.db, ...inputs))]),
  ['rules', read((s) => s.d.q(RULE_QUERY, s.graph, RULES))],
  ['pull-many', read((s) => s.db.pullMany(pattern, s.eids))],
];

const lines = [];
setReportSink((line) => lines.push(JSON.parse(line)));
for (const [name, make] of scenarios) {
  lines.length = 0;
  await interleaved(o, name, 'node', sides.map((s) => ({ engine: s.name, sample: make(s) })));
  if (lines.length === 0) continue;
  const base = lines[0].median_ms;
  console.log(name.padEnd(20), lines.map((l) => `${l.engine} ${l.median_ms.toFixed(2)} ms ` +
    `(${Math.min(...l.samples_ms).toFixed(2)}–${Math.max(...l.samples_ms).toFixed(2)}) ${(l.median_ms / base).toFixed(3)}`).join(' | '));
}
