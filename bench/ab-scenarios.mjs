// A/B of builds of the npm package (wasm-ab.mjs): the same scenarios through each
// build's JS API, all builds in one JS engine (Node, or a Chromium page: ab.html),
// warmed and sampled interleaved (common.mjs, interleaved()). `builds`: [{ name, init }];
// `people`: the generated people; `o`: { runs, only, warmMs }; `backend`: the label of
// the results. Each scenario's result lines go to common.mjs's report sink.
import { GRAPHS, PULL_ATTRS, QUERIES, RULES, RULE_QUERY, followsTx, interleaved, nowMs, time } from './common.mjs';
import { FOLLOWS_SCHEMA, SCHEMA, memoryDatabases } from './wasm-scenarios.mjs';

export async function runAb({ builds, people: generated, o, backend }) {
  const people = generated.map(({ id, ...a }) => ({ 'db/id': String(id), ...a }));
  const pattern = `[${PULL_ATTRS.map((a) => `:${a}`).join(' ')}]`;
  const [, edges] = GRAPHS[GRAPHS.length - 1];
  const [, smallEdges] = GRAPHS[0];

  const sides = [];
  for (const { name, init } of builds) {
    const d = await init();
    const { fresh, drop } = memoryDatabases(d);
    const db = (await fresh([SCHEMA, people])).conn.db();
    const eids = (await db.datoms('aevt', 'name')).map(([e]) => e);
    const follows = async (pairs) => (await fresh([FOLLOWS_SCHEMA, followsTx(pairs.map(([a, b]) => [`n${a}`, `n${b}`]), 'db/id')])).conn.db();
    sides.push({ name, d, fresh, drop, db, eids, graph: await follows(edges), smallGraph: await follows(smallEdges) });
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
    // Per-call costs: the smallest rules graph, and a point query (one entity's value).
    ['rules-small', read((s) => s.d.q(RULE_QUERY, s.smallGraph, RULES))],
    ['q-point', read((s) => s.d.q('[:find ?a . :in $ ?e :where [?e :age ?a]]', s.db, s.eids[7]))],
    ['pull-many', read((s) => s.db.pullMany(pattern, s.eids))],
  ];
  for (const [name, make] of scenarios) {
    await interleaved(o, name, backend, sides.map((s) => ({ engine: s.name, sample: make(s) })));
  }
}
