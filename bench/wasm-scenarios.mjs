// DataScript's people workload through the npm package's JS API and through
// DataScript, side by side in one JS engine: bulk load, one-entity transactions awaited
// one by one and made all at once (each also with `:db/index false`, the indices
// DataScript keeps), the query scenarios of common.mjs, the recursive rules and
// pull-many. Shared by wasm-node.mjs (Node) and wasm-browser.mjs (a Chromium page);
// results go out through common.mjs's report sink.
import { DS_PEOPLE_SCHEMA, followsTx, interleaved, nowMs, readScenarios } from './common.mjs';

const ATTRS = { name: 'string', 'last-name': 'string', 'full-name': 'string', alias: 'string', sex: 'string', age: 'long', salary: 'long' };
export const SCHEMA = Object.entries(ATTRS).map(([a, type]) => ({
  'db/ident': `:${a}`, 'db/valueType': `:db.type/${type}`,
  ...(a === 'alias' ? { 'db/cardinality': ':db.cardinality/many' } : {}),
}));
// The same with `:db/index false`: no AVET entries, the indices DataScript keeps.
const SCHEMA_NO_AVET = SCHEMA.map((attr) => ({ ...attr, 'db/index': false }));
export const FOLLOWS_SCHEMA = [{ 'db/ident': ':name', 'db/valueType': ':db.type/string' },
  { 'db/ident': ':follows', 'db/valueType': ':db.type/ref', 'db/cardinality': ':db.cardinality/many' }];
const TX_ONE = 'tx-one-entity';

// Fresh databases of the package `d`, each holding `txs` (transacted in order), and
// their removal. Memory connections keep their trees in memory and never write blobs,
// so all 20 000 one-entity transactions fit.
let stores = 0;
export function memoryDatabases(d) {
  return {
    async fresh(txs = []) {
      const cfg = { store: { backend: 'memory', id: `bench-${++stores}` } };
      await d.createDatabase(cfg);
      const conn = await d.connect(cfg);
      for (const tx of txs) await conn.transact(tx);
      return { cfg, conn };
    },
    async drop({ cfg, conn }) {
      await conn.close();
      await d.deleteDatabase(cfg);
    },
  };
}

// `init`: the package's init; `ds`: the datascript module; `people`: the generated
// people; `o`: { runs, only, warmMs }; `backend`: the label of the results ("node",
// "chromium"). Every scenario runs both engines interleaved (common.mjs, interleaved()).
export async function runWorkload({ init, ds, people, o, backend }) {
  // Datalith: string tempids, as query_bench.cpp; DataScript: explicit ids, as its scripts.
  const dlPeople = people.map(({ id, ...attrs }) => ({ 'db/id': String(id), ...attrs }));
  const dsPeople = people.map(({ id, ...attrs }) => ({ ':db/id': id, ...attrs }));

  const d = await init();
  const { fresh, drop } = memoryDatabases(d);

  async function entityDatoms(db) {
    let n = 0;
    for (const a of Object.keys(ATTRS)) n += (await db.datoms('aevt', a)).length;
    return n;
  }

  // A write sample: `body(conn)` on a fresh database holding `schema`, timed.
  const load = (body, schema = SCHEMA) => async () => {
    const h = await fresh([schema]);
    try {
      const t0 = nowMs();
      await body(h.conn);
      const ms = nowMs() - t0;
      return { ms, datoms: await entityDatoms(h.conn.db()) };
    } finally {
      await drop(h);
    }
  };
  const oneByOne = async (conn) => {
    for (const person of dlPeople) await conn.transact([person]);
  };
  const allAtOnce = (conn) => Promise.all(dlPeople.map((person) => conn.transact([person])));

  const empty = ds.empty_db(DS_PEOPLE_SCHEMA);
  const dsLoad = (body) => async () => {
    const t0 = nowMs();
    const x = body();
    return { ms: nowMs() - t0, datoms: ds.datoms(x, ':eavt').length };
  };
  const dsOneByOne = dsLoad(() => dsPeople.reduce((x, p) => ds.db_with(x, [p]), empty));

  // The like-for-like variant (`:db/index false`: the indices DataScript keeps) is a
  // second Datalith row, compared with the same DataScript samples.
  const NO_AVET = `${backend}, :db/index false`;
  const write = (scenario, body) => interleaved(o, scenario, backend, [
    { engine: 'datalith-wasm', sample: load(body) },
    { engine: 'datalith-wasm', backend: NO_AVET, sample: load(body, SCHEMA_NO_AVET) },
    { engine: 'datascript', sample: scenario === 'bulk-load' ? dsLoad(() => ds.db_with(empty, dsPeople)) : dsOneByOne },
  ]);
  await write('bulk-load', (conn) => conn.transact(dlPeople));
  // An app's loop: each transaction awaited before the next is made.
  await write(TX_ONE, oneByOne);
  // The same 20 000 transactions made without waiting (the connection commits what has
  // queued up as one group); DataScript's side is its same loop (db_with is synchronous).
  await write(`${TX_ONE}-batched`, allAtOnce);

  const main = await fresh([SCHEMA, dlPeople]);
  const datalith = {
    db: main.conn.db(),
    q: (...args) => d.q(...args),
    pullMany: (pattern, eids) => datalith.db.pullMany(pattern, eids),
    async withFollows(edges, fn) {
      const h = await fresh([FOLLOWS_SCHEMA, followsTx(edges.map(([a, b]) => [`n${a}`, `n${b}`]), 'db/id')]);
      try {
        await fn(h.conn.db());
      } finally {
        await drop(h);
      }
    },
  };
  await readScenarios(o, ds, ds.db_with(empty, dsPeople), backend, datalith);
  await drop(main);
}
