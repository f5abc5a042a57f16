// Reactive queries (d.subscribe, wasm/js/live.js) in Node on the memory backend: the
// first result, a new one after each transaction that changes it, no run at all after
// a transaction its dependencies do not match, no callback when a run gives the same
// result, bursts coalesced, joins of two live databases, rules, pull, history views,
// errors, unsubscribing; and a replica of a real datalith-server (skipped without one).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WsSocket from 'ws';
import { init } from '../js/index.js';
import { findServer, TestServer } from './support/sync-server.mjs';

const d = await init();
let n = 0;

async function database(schema) {
  const cfg = { store: { backend: 'memory', id: `live-${++n}` } };
  await d.createDatabase(cfg);
  const conn = await d.connect(cfg);
  if (schema) await conn.transact(schema);
  return conn;
}

const PEOPLE = [
  { 'db/ident': ':person/name', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
  { 'db/ident': ':person/age', 'db/valueType': ':db.type/long' },
  { 'db/ident': ':person/email', 'db/valueType': ':db.type/string' },
  { 'db/ident': ':person/friend', 'db/valueType': ':db.type/ref', 'db/cardinality': ':db.cardinality/many' },
];

async function waitFor(fn, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
// Long enough for any run a transaction started to finish (memory: microtasks).
const settle = () => new Promise((r) => setTimeout(r, 30));

// A subscription that records its callbacks and errors; next() resolves with the next
// result (in order).
function watch(query, inputs) {
  const calls = [], errors = [];
  let read = 0;
  const stop = d.subscribe(query, inputs, (r) => calls.push(r), { onError: (e) => errors.push(e) });
  return {
    calls, errors, stop, stats: () => stop.stats(),
    async next() {
      await waitFor(() => calls.length > read || errors.length > 0, `callback ${read + 1} of ${query}`);
      if (errors.length > 0) throw errors[0];
      return calls[read++];
    },
  };
}

const sorted = (xs) => [...xs].sort();

test('called with the result now and after each change; not for an unrelated or unchanging transaction', async () => {
  const conn = await database(PEOPLE);
  await conn.transact([{ 'person/name': 'Ivan', 'person/age': 30 }]);
  const adults = watch('[:find [?n ...] :where [?e :person/name ?n] [?e :person/age ?a] [(>= ?a 18)]]', [conn]);
  assert.deepEqual(await adults.next(), ['Ivan']);
  assert.deepEqual(adults.stats(), { runs: 1, skipped: 0, callbacks: 1, errors: 0 });

  await conn.transact([{ 'person/name': 'Oleg', 'person/age': 40 }]);
  assert.deepEqual(sorted(await adults.next()), ['Ivan', 'Oleg']);
  assert.equal(adults.stats().runs, 2);

  // An attribute the query does not read: not even a run.
  await conn.transact([[':db/add', ['person/name', 'Ivan'], 'person/email', 'ivan@example.com']]);
  await settle();
  assert.deepEqual(adults.stats(), { runs: 2, skipped: 1, callbacks: 2, errors: 0 });

  // An attribute it reads, but the result stays: a run, no callback.
  await conn.transact([{ 'person/name': 'Anna', 'person/age': 12 }]);
  await settle();
  assert.deepEqual(adults.stats(), { runs: 3, skipped: 1, callbacks: 2, errors: 0 });

  // A retraction changes it too.
  await conn.transact([[':db/retract', ['person/name', 'Oleg'], 'person/age', 40]]);
  assert.deepEqual(await adults.next(), ['Ivan']);

  adults.stop();
  await conn.transact([{ 'person/name': 'Petr', 'person/age': 50 }]);
  await settle();
  assert.equal(adults.calls.length, 3);
  assert.equal(adults.stats().runs, 4);
  assert.deepEqual(adults.errors, []);
  await conn.close();
});

test('entity and value constants narrow what re-runs', async () => {
  const conn = await database(PEOPLE);
  const { tempids } = await conn.transact([{ 'db/id': 'a', 'person/name': 'Ivan', 'person/age': 30 },
    { 'db/id': 'b', 'person/name': 'Oleg', 'person/age': 40 }]);
  const ivansAge = watch(`[:find ?a . :where [${tempids.a} :person/age ?a]]`, [conn]);
  const named = watch('[:find ?a . :where [?e :person/name "Oleg"] [?e :person/age ?a]]', [conn]);
  assert.equal(await ivansAge.next(), 30);
  assert.equal(await named.next(), 40);

  await conn.transact([[':db/add', tempids.b, 'person/age', 41]]);  // Oleg's age: not entity a's
  assert.equal(await named.next(), 41);
  assert.deepEqual(ivansAge.stats(), { runs: 1, skipped: 1, callbacks: 1, errors: 0 });

  await conn.transact([{ 'person/name': 'Anna' }]);  // a name that is not "Oleg"
  await settle();
  assert.equal(named.stats().skipped, 1);

  await conn.transact([[':db/add', tempids.a, 'person/age', 31]]);
  assert.equal(await ivansAge.next(), 31);
  ivansAge.stop();
  named.stop();
  await conn.close();
});

test('transactions made together are one re-run', async () => {
  const conn = await database(PEOPLE);
  const count = watch('[:find (count ?e) . :where [?e :person/name]]', [conn]);
  assert.equal(await count.next(), null);
  await Promise.all(Array.from({ length: 10 }, (_, i) => conn.transact([{ 'person/name': `P${i}` }])));
  assert.equal(await count.next(), 10);
  await settle();
  assert.deepEqual(count.stats(), { runs: 2, skipped: 0, callbacks: 2, errors: 0 });
  count.stop();
  await conn.close();
});

test('a join of two live databases updates when either changes', async () => {
  const catalog = await database([
    { 'db/ident': ':product/sku', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
    { 'db/ident': ':product/name', 'db/valueType': ':db.type/string' },
    { 'db/ident': ':product/color', 'db/valueType': ':db.type/string' }]);
  const inventory = await database([
    { 'db/ident': ':inventory/sku', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
    { 'db/ident': ':inventory/stock', 'db/valueType': ':db.type/long' },
    { 'db/ident': ':inventory/shelf', 'db/valueType': ':db.type/string' }]);
  await catalog.transact([{ 'product/sku': 'W001', 'product/name': 'Widget' }, { 'product/sku': 'B001', 'product/name': 'Bolt' }]);
  await inventory.transact([{ 'inventory/sku': 'W001', 'inventory/stock': 12 }]);
  const inStock = watch(`[:find ?name ?stock :in $cat $inv ?min
                          :where [$cat ?p :product/sku ?sku] [$cat ?p :product/name ?name]
                                 [$inv ?i :inventory/sku ?sku] [$inv ?i :inventory/stock ?stock] [(>= ?stock ?min)]]`,
  [catalog, inventory, 1]);
  assert.deepEqual(await inStock.next(), [['Widget', 12]]);

  await inventory.transact([{ 'inventory/sku': 'B001', 'inventory/stock': 3 }]);
  assert.deepEqual(sorted(await inStock.next()), [['Bolt', 3], ['Widget', 12]]);
  await catalog.transact([{ 'product/sku': 'W001', 'product/name': 'Gizmo' }]);
  assert.deepEqual(sorted(await inStock.next()), [['Bolt', 3], ['Gizmo', 12]]);

  // Unrelated attributes of either database: no run.
  await catalog.transact([{ 'product/sku': 'W001', 'product/color': 'red' }]);
  await inventory.transact([{ 'inventory/sku': 'W001', 'inventory/shelf': 'A3' }]);
  await settle();
  assert.deepEqual(inStock.stats(), { runs: 3, skipped: 2, callbacks: 3, errors: 0 });
  inStock.stop();
  await catalog.close();
  await inventory.close();
});

test('databases bound through a collection, next to a fixed snapshot', async () => {
  const acme = await database([{ 'db/ident': ':order/status', 'db/valueType': ':db.type/keyword' }]);
  const globex = await database([{ 'db/ident': ':order/status', 'db/valueType': ':db.type/keyword' }]);
  await acme.transact([{ 'order/status': ':completed' }]);
  const frozen = globex.db();
  const counts = watch('[:find ?tenant (count ?o) :in [[?tenant $db] ...] :where [$db ?o :order/status :completed]]',
    [[['acme', acme], ['globex', globex], ['frozen', frozen]]]);
  assert.deepEqual(await counts.next(), [['acme', 1]]);
  await globex.transact([{ 'order/status': ':completed' }, { 'order/status': ':open' }]);
  assert.deepEqual(sorted(await counts.next()), [['acme', 1], ['globex', 1]]);  // the snapshot stays as it was
  counts.stop();
  await acme.close();
  await globex.close();
});

test('rules reachable from the query are dependencies; others are not', async () => {
  const conn = await database(PEOPLE);
  await conn.transact([{ 'db/id': 'i', 'person/name': 'Ivan', 'person/friend': 'o' }, { 'db/id': 'o', 'person/name': 'Oleg' }]);
  const rules = `[[(knows ?a ?b) [?a :person/friend ?b]]
                  [(knows ?a ?b) [?a :person/friend ?x] (knows ?x ?b)]
                  [(grown ?e) [?e :person/age ?a] [(>= ?a 18)]]]`;
  const knows = watch('[:find ?n2 :in $ % ?n :where [?a :person/name ?n] (knows ?a ?b) [?b :person/name ?n2]]',
    [conn, rules, 'Ivan']);
  assert.deepEqual(await knows.next(), [['Oleg']]);
  await conn.transact([{ 'db/id': 'p', 'person/name': 'Petr' }, [':db/add', ['person/name', 'Oleg'], 'person/friend', 'p']]);
  assert.deepEqual(sorted(await knows.next()), [['Oleg'], ['Petr']]);
  await conn.transact([[':db/add', ['person/name', 'Petr'], 'person/age', 20]]);  // only `grown` reads it
  await settle();
  assert.equal(knows.stats().skipped, 1);
  knows.stop();
  await conn.close();
});

test('pull reads the attributes of its pattern, nested and reversed', async () => {
  const conn = await database(PEOPLE);
  await conn.transact([{ 'db/id': 'i', 'person/name': 'Ivan', 'person/friend': 'o' }, { 'db/id': 'o', 'person/name': 'Oleg' }]);
  const nested = watch('[:find (pull ?e [:person/name {:person/friend [:person/age]}]) . :where [?e :person/name "Ivan"]]', [conn]);
  const reversed = watch('[:find (pull ?e [{:person/_friend [:person/name]}]) . :where [?e :person/name "Oleg"]]', [conn]);
  assert.deepEqual(await nested.next(), { 'person/name': 'Ivan' });
  assert.deepEqual(await reversed.next(), { 'person/_friend': [{ 'person/name': 'Ivan' }] });
  await conn.transact([[':db/add', ['person/name', 'Oleg'], 'person/age', 33]]);
  assert.deepEqual(await nested.next(), { 'person/name': 'Ivan', 'person/friend': [{ 'person/age': 33 }] });
  await conn.transact([{ 'person/name': 'Anna', 'person/friend': [[':person/name', 'Oleg']] }]);
  assert.deepEqual(sorted((await reversed.next())['person/_friend'].map((p) => p['person/name'])), ['Anna', 'Ivan']);
  await conn.transact([[':db/add', ['person/name', 'Oleg'], 'person/email', 'o@example.com']]);
  await settle();
  assert.equal(nested.stats().skipped, 1);
  assert.equal(reversed.stats().skipped, 2);  // the age and the email
  nested.stop();
  reversed.stop();
  await conn.close();
});

test('a live history view: live(conn, db => db.history())', async () => {
  const conn = await database(PEOPLE);
  await conn.transact([{ 'person/name': 'Ivan', 'person/age': 30 }]);
  const changes = watch('[:find ?a ?added :where [_ :person/age ?a _ ?added]]', [d.live(conn, (db) => db.history())]);
  assert.deepEqual(await changes.next(), [[30, true]]);
  await conn.transact([{ 'person/name': 'Ivan', 'person/age': 31 }]);
  assert.deepEqual(sorted(await changes.next()), [[30, false], [30, true], [31, true]]);
  await conn.transact([{ 'person/name': 'Oleg' }]);
  await settle();
  assert.equal(changes.stats().skipped, 1);
  changes.stop();
  assert.throws(() => d.live(conn, 'history'), /view must be a function/);
  assert.throws(() => d.live(conn.db()), /takes a connection/);
  await conn.close();
});

test('errors go to onError, never thrown into nowhere', async () => {
  const conn = await database(PEOPLE);
  // A malformed query: reported once, and the subscription ends.
  const broken = watch('[:find ?n :where [?e :person/name ?n]', [conn]);
  await waitFor(() => broken.errors.length > 0, 'the error');
  assert.match(broken.errors[0].message, /line 1, col \d+/);
  await conn.transact([{ 'person/name': 'Ivan' }]);
  await settle();
  assert.deepEqual(broken.stats(), { runs: 0, skipped: 0, callbacks: 0, errors: 1 });
  // A run that fails (a type error at run time) is reported and the next change runs again.
  await conn.transact([{ 'db/ident': ':person/tag', 'db/valueType': ':db.type/string' }]);
  const failing = watch('[:find ?n :where [?e :person/tag ?t] [(> ?t 5)] [?e :person/name ?n]]', [conn]);
  assert.deepEqual(await failing.next(), []);
  await conn.transact([{ 'person/name': 'Ivan', 'person/tag': 'x' }]);
  await waitFor(() => failing.errors.length > 0, 'the run error');
  assert.match(failing.errors[0].message, /cannot compare a string/);
  await conn.transact([[':db/retract', ['person/name', 'Ivan'], 'person/tag', 'x']]);
  await waitFor(() => failing.calls.length === 2, 'the result after the error');
  assert.deepEqual(failing.calls[1], []);  // the same as before the error, but news after it
  failing.stop();
  // A throwing callback goes to onError too.
  const errors = [];
  const stop = d.subscribe('[:find ?n . :where [_ :person/name ?n]]', [conn], () => { throw new Error('boom'); },
    { onError: (e) => errors.push(e.message) });
  await waitFor(() => errors.length > 0, 'the callback error');
  assert.deepEqual(errors, ['boom']);
  stop();
  assert.throws(() => d.subscribe('[:find ?x]', conn, () => {}), /inputs must be an array/);
  assert.throws(() => d.subscribe('[:find ?x]', [], null), /callback must be a function/);
  await conn.close();
});

// A replica's listen reports may carry no datoms (before its updates carry them):
// every update then re-runs, and only a changed result calls back.
const { path: SERVER, why } = findServer();
const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

test('a replica of a datalith-server database, joined with a local one', { skip: SERVER ? false : why }, async () => {
  const server = await new TestServer(SERVER).start();
  servers.push(server);
  await server.transact('[{:db/ident :item/sku :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :item/qty :db/valueType :db.type/long} {:db/ident :item/note :db/valueType :db.type/string}]');
  await server.transact('[{:item/sku "A" :item/qty 1}]');
  const replica = await d.connect({ store: { backend: 'memory', id: `live-replica-${++n}` },
    sync: { url: server.url, db: 'inv', token: 'w', WebSocket: WsSocket } });
  await replica.synced();
  const prices = await database([{ 'db/ident': ':price/sku', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
    { 'db/ident': ':price/eur', 'db/valueType': ':db.type/double' }]);
  await prices.transact([{ 'price/sku': 'A', 'price/eur': 2.5 }, { 'price/sku': 'B', 'price/eur': 4 }]);
  const value = watch(`[:find ?sku ?qty ?eur :in $inv $p :where [$inv ?i :item/sku ?sku] [$inv ?i :item/qty ?qty]
                        [$p ?x :price/sku ?sku] [$p ?x :price/eur ?eur]]`, [replica, prices]);
  assert.deepEqual(await value.next(), [['A', 1, 2.5]]);
  await replica.transact('[{:item/sku "B" :item/qty 7}]');  // through the server, back as an update
  assert.deepEqual(sorted(await value.next()), [['A', 1, 2.5], ['B', 7, 4]]);
  await server.transact('[{:item/sku "A" :item/qty 2}]');   // another writer's commit
  assert.deepEqual(sorted(await value.next()), [['A', 2, 2.5], ['B', 7, 4]]);
  await prices.transact([{ 'price/sku': 'B', 'price/eur': 5 }]);
  assert.deepEqual(sorted(await value.next()), [['A', 2, 2.5], ['B', 7, 5]]);
  const callbacks = value.stats().callbacks;
  await replica.transact('[{:item/sku "A" :item/note "restocked"}]');  // the result stays
  await settle();
  assert.equal(value.stats().callbacks, callbacks);
  value.stop();
  await replica.close();
  await prices.close();
});
