#!/usr/bin/env node
// DataScript side of the query benchmark (see bench/README.md and bench/query_bench.cpp:
// the same scenarios, data and timing method).
//
// Usage: node --expose-gc bench/datascript-query.mjs --people people.json [--runs 5] [--only NAME]
//
// Prints one JSON object per scenario; `datoms` is the number of result rows.
// DataScript's JS API keeps attribute names as strings, so its queries write "name"
// where Datalith's write :name.

import d from 'datascript';
import { readFileSync } from 'node:fs';

function parseArgs(argv) {
  const o = { people: null, runs: 5, only: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--people') o.people = argv[++i];
    else if (a === '--runs') o.runs = Math.max(1, Number(argv[++i]) | 0);
    else if (a === '--only') o.only = argv[++i];
    else {
      console.error('usage: node bench/datascript-query.mjs --people FILE [--runs N] [--only NAME]');
      process.exit(2);
    }
  }
  if (!o.people) {
    console.error('--people is required');
    process.exit(2);
  }
  return o;
}

const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const round3 = (x) => Math.round(x * 1000) / 1000;
const rows = (r) => (Array.isArray(r) ? r.length : 1);

// ms per call, repeating until at least 20 ms have passed (as query_bench.cpp does).
function time(fn) {
  let reps = 0, n = 0;
  const t0 = nowMs();
  let t1 = t0;
  do {
    n = rows(fn());
    reps++;
    t1 = nowMs();
  } while (t1 - t0 < 20);
  return { ms: (t1 - t0) / reps, rows: n, reps };
}

function run(o, scenario, fn) {
  if (!scenario.includes(o.only)) return;
  console.error(`${scenario} ...`);
  gc();
  time(fn);  // warm-up
  const samples = [];
  let last;
  for (let i = 0; i < o.runs; i++) {
    gc();
    last = time(fn);
    samples.push(last.ms);
  }
  process.stdout.write(JSON.stringify({
    engine: 'datascript', scenario, backend: 'memory', median_ms: round3(median(samples)),
    samples_ms: samples.map(round3), datoms: last.rows, reps: last.reps,
  }) + '\n');
}

const FOLLOWS = { follows: { ':db/valueType': ':db.type/ref', ':db/cardinality': ':db.cardinality/many' } };
const RULES = '[[(follows ?x ?y) [?x "follows" ?y]] [(follows ?x ?y) [?x "follows" ?t] (follows ?t ?y)]]';

// The same trees and chains as query_bench.cpp (DataScript's wide-db and long-db).
function wide(id, depth, width, out) {
  if (depth === 0) {
    out.push({ ':db/id': id, name: 'Ivan' });
    return out;
  }
  for (let k = 0; k < width; k++) {
    const child = id * width + k;
    out.push({ ':db/id': id, name: 'Ivan', follows: child });
    wide(child, depth - 1, width, out);
  }
  return out;
}

function long(depth, width) {
  const out = [];
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < depth; y++) {
      const from = x * (depth + 1) + y + 1;  // ids from 1: DataScript refuses entity 0
      out.push({ ':db/id': from, name: 'Ivan', follows: from + 1 });
      out.push({ ':db/id': from + 1, name: 'Ivan' });
    }
  }
  return out;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const people = JSON.parse(readFileSync(o.people, 'utf8')).people.map(({ id, ...attrs }) => ({ ':db/id': id, ...attrs }));
  const db = d.db_with(d.empty_db({ alias: { ':db/cardinality': ':db.cardinality/many' } }), people);
  const q = (scenario, query, ...inputs) => run(o, scenario, () => d.q(query, db, ...inputs));
  q('q1', '[:find ?e :where [?e "name" "Ivan"]]');
  q('q2', '[:find ?e ?a :where [?e "name" "Ivan"] [?e "age" ?a]]');
  q('q2-switch', '[:find ?e ?a :where [?e "age" ?a] [?e "name" "Ivan"]]');
  q('q3', '[:find ?e ?a :where [?e "name" "Ivan"] [?e "age" ?a] [?e "sex" "male"]]');
  q('q4', '[:find ?e ?l ?a :where [?e "name" "Ivan"] [?e "last-name" ?l] [?e "age" ?a] [?e "sex" "male"]]');
  q('q5', '[:find ?e1 ?l ?a :where [?e "name" "Ivan"] [?e "age" ?a] [?e1 "age" ?a] [?e1 "last-name" ?l]]');
  q('qpred1', '[:find ?e ?s :where [?e "salary" ?s] [(> ?s 50000)]]');
  q('qpred2', '[:find ?e ?s :in $ ?min_s :where [?e "salary" ?s] [(> ?s ?min_s)]]', 50000);

  const rules = (scenario, tx) => {
    if (!scenario.includes(o.only)) return;
    const rdb = d.db_with(d.empty_db(FOLLOWS), tx);
    run(o, scenario, () => d.q('[:find ?e ?e2 :in $ % :where (follows ?e ?e2)]', rdb, RULES));
  };
  for (const [depth, width] of [[3, 3], [5, 3], [4, 6]]) rules(`rules-wide-${depth}x${width}`, wide(1, depth, width, []));
  for (const [depth, width] of [[10, 3], [30, 3]]) rules(`rules-long-${depth}x${width}`, long(depth, width));

  const eids = d.datoms(db, ':aevt', 'name').map((dt) => dt.e);
  run(o, 'pull-many', () => d.pull_many(db, '["name" "last-name" "age" "salary"]', eids));
}

main();
