// Shared by the benchmark drivers (datascript-query.mjs, wasm-node.mjs and, inside a
// Chromium page, wasm-browser.mjs): arguments, the timing method (the same as
// query_bench.cpp's), result lines in the format bench/compare.mjs reads, the query
// scenarios and DataScript's side of them. Runs in Node and in browsers.

export function parseArgs(script, argv) {
  const o = { people: null, runs: 5, only: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--people') o.people = argv[++i];
    else if (a === '--runs') o.runs = Math.max(1, Number(argv[++i]) | 0);
    else if (a === '--only') o.only = argv[++i];
    else {
      console.error(`usage: node bench/${script} --people FILE [--runs N] [--only NAME]`);
      process.exit(2);
    }
  }
  if (!o.people) {
    console.error('--people is required');
    process.exit(2);
  }
  return o;
}

// A full collection before each sample where the engine exposes one (node --expose-gc,
// chromium --js-flags=--expose-gc).
export const gc = () => globalThis.gc?.();
export const nowMs = globalThis.process?.hrtime
  ? () => Number(process.hrtime.bigint()) / 1e6
  : () => performance.now();
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const round3 = (x) => Math.round(x * 1000) / 1000;
const rows = (r) => (Array.isArray(r) ? r.length : 1);

// Where result lines go: stdout in Node; a page sets its own (setReportSink).
let sink = (line) => process.stdout.write(line + '\n');
export function setReportSink(fn) { sink = fn; }

export function report(engine, scenario, backend, samples, datoms, extra = {}) {
  sink(JSON.stringify({
    engine, scenario, backend, median_ms: round3(median(samples)),
    samples_ms: samples.map(round3), datoms, ...extra,
  }));
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

// A read scenario: one warm-up sample, then o.runs timed ones; `datoms` reports the
// number of result rows.
export async function read(o, engine, scenario, backend, fn) {
  if (!scenario.includes(o.only)) return;
  console.error(`${engine} ${scenario} ...`);
  gc();
  await time(fn);
  const samples = [];
  let last;
  for (let i = 0; i < o.runs; i++) {
    gc();
    last = await time(fn);
    samples.push(last.ms);
  }
  report(engine, scenario, backend, samples, last.rows, { reps: last.reps });
}

export const QUERIES = [
  ['q1', '[:find ?e :where [?e :name "Ivan"]]'],
  ['q2', '[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a]]'],
  ['q2-switch', '[:find ?e ?a :where [?e :age ?a] [?e :name "Ivan"]]'],
  ['q3', '[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a] [?e :sex "male"]]'],
  ['q4', '[:find ?e ?l ?a :where [?e :name "Ivan"] [?e :last-name ?l] [?e :age ?a] [?e :sex "male"]]'],
  ['q5', '[:find ?e1 ?l ?a :where [?e :name "Ivan"] [?e :age ?a] [?e1 :age ?a] [?e1 :last-name ?l]]'],
  ['qpred1', '[:find ?e ?s :where [?e :salary ?s] [(> ?s 50000)]]'],
  ['qpred2', '[:find ?e ?s :in $ ?min_s :where [?e :salary ?s] [(> ?s ?min_s)]]', 50000],
];
export const RULES = '[[(follows ?x ?y) [?x :follows ?y]] [(follows ?x ?y) [?x :follows ?t] (follows ?t ?y)]]';
export const RULE_QUERY = '[:find ?e ?e2 :in $ % :where (follows ?e ?e2)]';
export const PULL_ATTRS = ['name', 'last-name', 'age', 'salary'];

// DataScript's wide-db and long-db follows graphs as [from, to] pairs (ids from 1; the
// same trees and chains as query_bench.cpp).
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
export const GRAPHS = [
  ...[[3, 3], [5, 3], [4, 6]].map(([dp, w]) => [`rules-wide-${dp}x${w}`, wide(1, dp, w)]),
  ...[[10, 3], [30, 3]].map(([dp, w]) => [`rules-long-${dp}x${w}`, long(dp, w)]),
];
// Entity maps for a graph: every node named "Ivan", each edge a :follows.
export const followsTx = (edges, id) => edges.flatMap(([a, b]) => [
  { [id]: a, name: 'Ivan', follows: b }, { [id]: b, name: 'Ivan' }]);

// DataScript's JS API names attributes with plain strings.
export const dsText = (q) => q.replace(/:(name|last-name|age|sex|salary|follows)\b/g, '"$1"');
export const DS_PEOPLE_SCHEMA = { alias: { ':db/cardinality': ':db.cardinality/many' } };

// DataScript's side of the query scenarios on `dsDb` (the people, loaded).
export async function dataScriptReads(o, ds, dsDb, backend) {
  for (const [name, q, ...inputs] of QUERIES) await read(o, 'datascript', name, backend, () => ds.q(dsText(q), dsDb, ...inputs));
  for (const [name, edges] of GRAPHS) {
    if (!name.includes(o.only)) continue;
    const rdb = ds.db_with(ds.empty_db({ follows: { ':db/valueType': ':db.type/ref', ':db/cardinality': ':db.cardinality/many' } }),
      followsTx(edges, ':db/id'));
    await read(o, 'datascript', name, backend, () => ds.q(dsText(RULE_QUERY), rdb, dsText(RULES)));
  }
  const eids = ds.datoms(dsDb, ':aevt', 'name').map((x) => x.e);
  await read(o, 'datascript', 'pull-many', backend,
    () => ds.pull_many(dsDb, dsText(`[${PULL_ATTRS.map((a) => `:${a}`).join(' ')}]`), eids));
}
