// Shared by the benchmark drivers (datascript-query.mjs, wasm-node.mjs and, inside a
// Chromium page, wasm-browser.mjs): arguments, the timing method (the same as
// query_bench.cpp's), result lines in the format bench/compare.mjs reads, the query
// scenarios and DataScript's side of them. Runs in Node and in browsers.

export function parseArgs(script, argv) {
  const o = { people: null, runs: 5, only: '', warmMs: 1000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--people') o.people = argv[++i];
    else if (a === '--runs') o.runs = Math.max(1, Number(argv[++i]) | 0);
    else if (a === '--only') o.only = argv[++i];
    else if (a === '--warm-ms') o.warmMs = Math.max(0, Number(argv[++i]));
    else {
      console.error(`usage: node bench/${script} --people FILE [--runs N] [--warm-ms MS] [--only NAME]`);
      process.exit(2);
    }
  }
  if (!o.people) {
    console.error('--people is required');
    process.exit(2);
  }
  return o;
}

// A full collection where the engine exposes one (node --expose-gc,
// chromium --js-flags=--expose-gc).
export const gc = () => globalThis.gc?.();
export const nowMs = globalThis.process?.hrtime
  ? () => Number(process.hrtime.bigint()) / 1e6
  : () => performance.now();
export const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
// The range of samples in whole ms, "min–max".
export const spread = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
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
export async function time(fn) {
  let reps = 0, n = 0;
  const t0 = nowMs();
  let t1 = t0;
  do {
    n = rows(await fn());
    reps++;
    t1 = nowMs();
  } while (t1 - t0 < 20);
  return { ms: (t1 - t0) / reps, datoms: n, reps };
}

// Runs one scenario on each of `sides` ([{ engine, sample, backend? }], `sample()`
// resolving to { ms, datoms, reps? }) on an equal footing:
// - warm-up, time-based: the sides take turns until each has run for o.warmMs (1 s by
//   default) of its own time, and at least once, so the JIT (V8's optimising tiers for
//   JS and for wasm) has compiled what each side runs;
// - then o.runs rounds of one sample per side, interleaved, the order reversed every
//   other round, so a slower or faster stretch of a shared machine falls on every side.
// GC is forced once, before the warm-up, never between samples: a full collection
// before each sample made DataScript's queries 2-3× slower (V8 shrinks the young
// generation after it, so the next allocations collect far more often), and
// interleaving spreads each side's collections over both. One line per side goes to
// the report sink; a side that throws is reported on stderr and the scenario skipped.
export async function interleaved(o, scenario, backend, sides) {
  if (!scenario.includes(o.only)) return;
  console.error(`${sides.map((s) => s.engine).join(' / ')} ${scenario} ...`);
  try {
    const spent = sides.map(() => 0);
    gc();
    do {
      for (const [i, side] of sides.entries()) {
        if (spent[i] >= o.warmMs && spent[i] > 0) continue;
        const t0 = nowMs();
        await side.sample();
        spent[i] += Math.max(nowMs() - t0, 1e-3);
      }
    } while (spent.some((t) => t < o.warmMs));
    const samples = sides.map(() => []);
    const last = [];
    for (let round = 0; round < o.runs; round++) {
      const order = [...sides.keys()];
      if (round % 2) order.reverse();
      for (const i of order) {
        last[i] = await sides[i].sample();
        samples[i].push(last[i].ms);
      }
    }
    sides.forEach((side, i) => report(side.engine, scenario, side.backend ?? backend, samples[i], last[i].datoms,
      last[i].reps ? { reps: last[i].reps, warm_ms: Math.round(spent[i]) } : { warm_ms: Math.round(spent[i]) }));
  } catch (e) {
    console.error(`${scenario} failed: ${e.message}`);
  }
}

// A read scenario: ms per call of each side's `fn` (repeated to fill 20 ms per sample);
// `datoms` reports the number of result rows.
const reader = (engine, fn) => ({ engine, sample: () => time(fn) });

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

// The query scenarios, each with DataScript's side on `dsDb` (the people, loaded) and,
// if `datalith` is given, the package's beside it, interleaved:
// datalith = { db (the people), q(text, db, ...inputs), withFollows(edges, fn) (runs
// fn(db) on a database holding the graph), pullMany(pattern, eids) }.
export async function readScenarios(o, ds, dsDb, backend, datalith = null) {
  const run = (name, dsFn, dlFn) => interleaved(o, name, backend,
    [...(datalith ? [reader('datalith-wasm', dlFn)] : []), reader('datascript', dsFn)]);
  for (const [name, q, ...inputs] of QUERIES) {
    const dq = dsText(q);  // translated once: DataScript's own query cache is keyed by the text
    await run(name, () => ds.q(dq, dsDb, ...inputs), () => datalith.q(q, datalith.db, ...inputs));
  }
  const dsRules = dsText(RULES), dsRuleQuery = dsText(RULE_QUERY);
  for (const [name, edges] of GRAPHS) {
    if (!name.includes(o.only)) continue;
    const rdb = ds.db_with(ds.empty_db({ follows: { ':db/valueType': ':db.type/ref', ':db/cardinality': ':db.cardinality/many' } }),
      followsTx(edges, ':db/id'));
    const dsFn = () => ds.q(dsRuleQuery, rdb, dsRules);
    if (datalith) await datalith.withFollows(edges, (db) => run(name, dsFn, () => datalith.q(RULE_QUERY, db, RULES)));
    else await run(name, dsFn);
  }
  const eids = ds.datoms(dsDb, ':aevt', 'name').map((x) => x.e);
  const pattern = `[${PULL_ATTRS.map((a) => `:${a}`).join(' ')}]`;
  const dsPattern = dsText(pattern);
  await run('pull-many', () => ds.pull_many(dsDb, dsPattern, eids), () => datalith.pullMany(pattern, eids));
}
