// Reactive queries (d.subscribe) on the people database: 64 and 256 subscriptions,
// each narrowed by an entity id constant to one person, all sharing one attribute
// (:bench/version). Two transactions are timed from transact() to the last callback:
//   live-N-one  a one-datom transaction on one person's :age: exactly 1 of the N
//               subscriptions can change (and does), the others are not even run;
//   live-N-all  a one-datom transaction on :bench/version: all N re-run and call back.
// Anchor: Replicache's published writeSubRead p95, 3.6 ms (1 MB, 64 subscriptions).
// Shared by live-node.mjs (Node) and live-browser.mjs (a Chromium page); results go out
// through common.mjs's report sink, one line per scenario: the median, p95, p99, min,
// max and interquartile range of the samples (all kept in samples_ms).
import { gc, nowMs, report } from './common.mjs';

const ATTRS = { name: 'string', 'last-name': 'string', 'full-name': 'string', alias: 'string', sex: 'string', age: 'long', salary: 'long' };
const SCHEMA = [
  ...Object.entries(ATTRS).map(([a, type]) => ({
    'db/ident': `:${a}`, 'db/valueType': `:db.type/${type}`,
    ...(a === 'alias' ? { 'db/cardinality': ':db.cardinality/many' } : {}),
  })),
  { 'db/ident': ':bench/version', 'db/valueType': ':db.type/long' },
];

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const round3 = (x) => Math.round(x * 1000) / 1000;

// `o`: { samples, warmupMs, counts, only }; `backend`: the results' label.
export async function runLive({ init, people, o, backend }) {
  const d = await init();
  const cfg = { store: { backend: 'memory', id: `live-bench-${Date.now()}` } };
  await d.createDatabase(cfg);
  const conn = await d.connect(cfg);
  await conn.transact(SCHEMA);
  await conn.transact(people.map(({ id, ...attrs }) => ({ 'db/id': String(id), ...attrs })));
  const { tempids } = await conn.transact([{ 'db/id': 'v', 'bench/version': 0 }]);
  const version = tempids.v;
  const ids = (await conn.db().datoms('aevt', 'name')).map(([e]) => e);
  const datoms = (await conn.db().datoms('eavt')).length;
  console.error(`live: ${people.length} people, ${datoms} datoms, ${backend}`);

  let age = 1000, ver = 0;  // values never seen before: every transaction changes a result
  for (const n of o.counts) {
    // Subscription k watches person ids[k * step] and the shared version.
    const step = Math.floor(ids.length / n);
    let waiting = 0, lastAt = 0, wake = null;
    const called = new Array(n).fill(0);
    const subs = [];
    for (let k = 0; k < n; k++) {
      const e = ids[k * step];
      subs.push(d.subscribe(`[:find [?name ?age ?v] :where [${e} :name ?name] [${e} :age ?age] [?x :bench/version ?v]]`,
        [conn], () => {
          called[k]++;
          lastAt = nowMs();
          if (--waiting === 0) wake?.();
        }, { onError: (err) => console.error(`live: subscription ${k}: ${err.message}`) }));
    }
    // Resolves with ms from transact() to the `expect`-th callback.
    async function sample(tx, expect) {
      waiting = expect;
      const done = new Promise((resolve) => { wake = resolve; });
      const t0 = nowMs();
      await conn.transact(tx);
      await done;
      return lastAt - t0;
    }
    const settle = () => new Promise((r) => setTimeout(r, 50));
    waiting = n;
    await new Promise((resolve) => { wake = resolve; });  // every first result
    const one = (i) => [[':db/add', ids[(i % n) * step], 'age', ++age]];
    const all = () => [[':db/add', version, 'bench/version', ++ver]];

    // The claims the figures rest on: (a) calls back one subscription and runs no other,
    // (b) calls back all of them.
    const runs = () => subs.reduce((sum, s) => sum + s.stats().runs, 0);
    const before = { runs: runs(), called: called.reduce((a, b) => a + b, 0) };
    await sample(one(0), 1);
    await settle();
    if (runs() !== before.runs + 1 || called.reduce((a, b) => a + b, 0) !== before.called + 1) {
      throw new Error(`live-${n}-one: expected 1 run and 1 callback, got ${runs() - before.runs} and ${called.reduce((a, b) => a + b, 0) - before.called}`);
    }
    await sample(all(), n);

    for (const [kind, tx, expect] of [['one', one, 1], ['all', all, n]]) {
      const scenario = `live-${n}-${kind}`;
      if (!scenario.includes(o.only)) continue;
      console.error(`datalith-wasm ${scenario} ...`);
      gc();
      const warm = nowMs();
      let i = 0;
      while (nowMs() - warm < o.warmupMs) await sample(tx(i++), expect);
      const samples = [];
      for (let s = 0; s < o.samples; s++) samples.push(await sample(tx(i++), expect));
      const sorted = [...samples].sort((a, b) => a - b);
      report('datalith-wasm', scenario, backend, samples, datoms, {
        subscriptions: n, p95_ms: round3(quantile(sorted, 0.95)), p99_ms: round3(quantile(sorted, 0.99)),
        min_ms: round3(sorted[0]), max_ms: round3(sorted[sorted.length - 1]),
        iqr_ms: [round3(quantile(sorted, 0.25)), round3(quantile(sorted, 0.75))],
        warmup: i - o.samples,
      });
    }
    for (const stop of subs) stop();
  }
  await conn.close();
  await d.deleteDatabase(cfg);
}

export function parseLiveArgs(script, argv) {
  const o = { people: null, samples: 200, warmupMs: 1000, counts: [64, 256], only: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--people') o.people = argv[++i];
    else if (a === '--samples') o.samples = Math.max(1, Number(argv[++i]) | 0);
    else if (a === '--warmup-ms') o.warmupMs = Math.max(1000, Number(argv[++i]) | 0);
    else if (a === '--counts') o.counts = argv[++i].split(',').map(Number);
    else if (a === '--only') o.only = argv[++i];
    else {
      console.error(`usage: node bench/${script} --people FILE [--samples N] [--warmup-ms MS (>= 1000)] [--counts 64,256] [--only live-64-one]`);
      process.exit(2);
    }
  }
  if (!o.people) {
    console.error('--people is required');
    process.exit(2);
  }
  return o;
}
