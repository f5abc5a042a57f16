// DataScript's people workload through the npm package's JS API and through
// DataScript, side by side in one JS engine: bulk load, one-entity transactions (also
// with `:db/index false`, the indices DataScript keeps), the query scenarios of
// common.mjs, the recursive rules and pull-many. Shared by wasm-node.mjs (Node) and
// wasm-browser.mjs (a Chromium page); results go out through common.mjs's report sink.
import {
  DS_PEOPLE_SCHEMA, GRAPHS, PULL_ATTRS, QUERIES, RULES, RULE_QUERY, dataScriptReads, followsTx, gc, nowMs,
  read as readScenario, report as reportLine,
} from './common.mjs';

const ATTRS = { name: 'string', 'last-name': 'string', 'full-name': 'string', alias: 'string', sex: 'string', age: 'long', salary: 'long' };
const SCHEMA = Object.entries(ATTRS).map(([a, type]) => ({
  'db/ident': `:${a}`, 'db/valueType': `:db.type/${type}`,
  ...(a === 'alias' ? { 'db/cardinality': ':db.cardinality/many' } : {}),
}));
// The same with `:db/index false`: no AVET entries, the indices DataScript keeps.
const SCHEMA_NO_AVET = SCHEMA.map((attr) => ({ ...attr, 'db/index': false }));
const FOLLOWS_SCHEMA = [{ 'db/ident': ':name', 'db/valueType': ':db.type/string' },
  { 'db/ident': ':follows', 'db/valueType': ':db.type/ref', 'db/cardinality': ':db.cardinality/many' }];
const TX_ONE = 'tx-one-entity';

// `init`: the package's init; `ds`: the datascript module; `people`: the generated
// people; `o`: { runs, only }; `backend`: the label of the results ("node", "chromium").
export async function runWorkload({ init, ds, people, o, backend }) {
  const read = (engine, scenario, fn) => readScenario(o, engine, scenario, backend, fn);

  // A write scenario: `body()` builds a database from scratch and returns
  // { ms, datoms }; one warm-up run, then o.runs timed ones. A failure is reported on
  // stderr (the console) and skips the scenario.
  async function write(engine, scenario, body, label = backend) {
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
      reportLine(engine, scenario, label, samples, last.datoms);
    } catch (e) {
      console.error(`${engine} ${scenario} failed: ${e.message}`);
    }
  }

  // Datalith: string tempids, as query_bench.cpp; DataScript: explicit ids, as its scripts.
  const dlPeople = people.map(({ id, ...attrs }) => ({ 'db/id': String(id), ...attrs }));
  const dsPeople = people.map(({ id, ...attrs }) => ({ ':db/id': id, ...attrs }));

  // ---- Datalith (WASM) ----
  // Memory connections keep their trees in memory and never write blobs, so all
  // 20 000 one-entity transactions fit.

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

  async function timedLoad(txs, schema = SCHEMA) {
    const h = await fresh([schema]);
    try {
      const t0 = nowMs();
      for (const tx of txs) await h.conn.transact(tx);
      const ms = nowMs() - t0;
      return { ms, datoms: await entityDatoms(h.conn.db()) };
    } finally {
      await drop(h);
    }
  }

  const NO_AVET = `${backend}, :db/index false`;
  await write('datalith-wasm', 'bulk-load', () => timedLoad([dlPeople]));
  await write('datalith-wasm', TX_ONE, () => timedLoad(dlPeople.map((p) => [p])));
  await write('datalith-wasm', 'bulk-load', () => timedLoad([dlPeople], SCHEMA_NO_AVET), NO_AVET);
  await write('datalith-wasm', TX_ONE, () => timedLoad(dlPeople.map((p) => [p]), SCHEMA_NO_AVET), NO_AVET);

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
  await read('datalith-wasm', 'pull-many', () => db.pullMany(`[${PULL_ATTRS.map((a) => `:${a}`).join(' ')}]`, eids));
  await drop(main);

  // ---- DataScript ----

  const empty = ds.empty_db(DS_PEOPLE_SCHEMA);
  const dsDatoms = (x) => ds.datoms(x, ':eavt').length;
  const dsLoad = (body) => () => {
    const t0 = nowMs();
    const x = body();
    return { ms: nowMs() - t0, datoms: dsDatoms(x) };
  };
  await write('datascript', 'bulk-load', dsLoad(() => ds.db_with(empty, dsPeople)));
  await write('datascript', TX_ONE, dsLoad(() => dsPeople.reduce((x, p) => ds.db_with(x, [p]), empty)));

  await dataScriptReads(o, ds, ds.db_with(empty, dsPeople), backend);
}
