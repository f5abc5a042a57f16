// The JS API against the built package (wasm/dist), memory backend. The examples of
// wasm/README.md are here verbatim in spirit: if one changes, change the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, Uuid } from '../js/node.js';
import { txToEdn, txToJson } from '../js/edn.js';

const d = await init();
let n = 0;
const fresh = (extra = {}) => ({ store: { backend: 'memory', id: `api-${++n}` }, ...extra });
const sorted = (rows) => [...rows].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

const CATALOG_SCHEMA = [
  { 'db/ident': ':product/sku', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
  { 'db/ident': ':product/name', 'db/valueType': ':db.type/string' },
  { 'db/ident': ':product/price', 'db/valueType': ':db.type/double' },
  { 'db/ident': ':product/parts', 'db/valueType': ':db.type/ref', 'db/cardinality': ':db.cardinality/many' },
];

// A new database (config `extra`) and a connection to it.
async function create(extra = {}) {
  const cfg = fresh(extra);
  await d.createDatabase(cfg);
  return { cfg, conn: await d.connect(cfg) };
}

async function catalog() {
  const h = await create();
  await h.conn.transact(CATALOG_SCHEMA);
  return h;
}

test('init loads the module once', async () => {
  assert.equal(await init(), d);
  assert.match(d.version, /^\d+\.\d+\.\d+/);
});

test('database lifecycle', async () => {
  const cfg = fresh();
  assert.equal(await d.databaseExists(cfg), false);
  await assert.rejects(d.connect(cfg), (e) => e instanceof Error && /no database/.test(e.message));
  await d.createDatabase(cfg);
  assert.equal(await d.databaseExists(cfg), true);
  await assert.rejects(d.createDatabase(cfg), (e) => e instanceof Error && e.code === 'Conflict' &&
    e.message === `database "${cfg.store.id}" already exists (${cfg.store.backend} backend)`);
  const conn = await d.connect(cfg);
  await assert.rejects(d.deleteDatabase(cfg), /open connections/);
  await conn.close();
  await conn.close();  // idempotent
  assert.throws(() => conn.db(), /closed/);
  await assert.rejects(conn.transact([]), /closed/);
  await d.deleteDatabase(cfg);
  assert.equal(await d.databaseExists(cfg), false);
  await assert.rejects(d.connect({ store: { backend: 'disk', id: 'x' } }), /backend/);
  await assert.rejects(d.createDatabase(fresh({ schemaFlexibility: 'loose' })), /schemaFlexibility/);
});

test('README: transact, tempids, lookup refs, pull, datoms', async () => {
  const { conn } = await catalog();
  const report = await conn.transact([
    { 'db/id': 'bolt', 'product/sku': 'B001', 'product/name': 'Bolt', 'product/price': 0.25 },
    { 'product/sku': 'W001', 'product/name': 'Widget', 'product/price': 10, 'product/parts': ['bolt'] },
  ]);
  const bolt = report.tempids.bolt;
  assert.equal(typeof bolt, 'number');
  assert.equal(typeof report.txId, 'number');
  assert.ok(report.txData.some(([e, a, v, tx, added]) =>
    e === bolt && a === ':product/name' && v === 'Bolt' && tx === report.txId && added === true));

  const renamed = await conn.transact([[':db/add', ['product/sku', 'W001'], 'product/name', 'Gizmo']]);
  await conn.transact([{ 'product/sku': 'N001', 'product/name': 'Nut' }]);
  // A report's datoms (parsed on first use) read after later transactions, twice.
  assert.deepEqual(renamed.txData.filter(([, a]) => a === ':product/name').map(([, , v, , added]) => [v, added]).sort(),
    [['Gizmo', true], ['Widget', false]]);
  assert.equal(renamed.txData, renamed.txData);
  const db = conn.db();
  assert.deepEqual(await db.pull('[:product/name :product/price {:product/parts [:product/sku]}]', ['product/sku', 'W001']),
    { 'product/name': 'Gizmo', 'product/price': 10, 'product/parts': [{ 'product/sku': 'B001' }] });
  assert.deepEqual(await db.pullMany('[:product/sku]', [bolt, [':product/sku', 'W001']]),
    [{ 'product/sku': 'B001' }, { 'product/sku': 'W001' }]);
  // Plain ids cross as doubles; BigInt ids as text: the same answers.
  assert.deepEqual(await db.pullMany('[:product/sku]', [bolt, bolt, 123456]),
    [{ 'product/sku': 'B001' }, { 'product/sku': 'B001' }, null]);
  assert.deepEqual(await db.pullMany('[:product/sku]', [BigInt(bolt), 123456]), [{ 'product/sku': 'B001' }, null]);
  assert.equal(await db.pull('[:product/name]', 123456), null);
  // A lookup ref as a query input, bound to an entity variable.
  assert.equal(await d.q('[:find ?n . :in $ ?e :where [?e :product/name ?n]]', db, [':product/sku', 'W001']), 'Gizmo');

  const avet = await db.datoms('avet', 'product/sku', 'B001');
  assert.equal(avet.length, 1);
  assert.deepEqual(avet[0].slice(0, 3), [bolt, ':product/sku', 'B001']);
  const eavt = await db.datoms('eavt', ['product/sku', 'B001']);
  assert.deepEqual(eavt.map((x) => x[1]).sort(), [':product/name', ':product/price', ':product/sku']);
  await assert.rejects(db.datoms('xyz'), /unknown index/);
  assert.ok(db.basisT >= report.txId);
});

test('conn.log(): each transaction with its datoms, as the reports gave them', async () => {
  const { conn } = await catalog();
  const a = await conn.transact([{ 'product/sku': 'L1', 'product/price': 1.5 }]);
  const b = await conn.transact([{ 'product/sku': 'L1', 'product/price': 2.5 }]);
  const log = await conn.log({ from: a.txId });
  assert.deepEqual(log.map((t) => t.txId), [a.txId, b.txId]);
  assert.deepEqual(log[1].txData, b.txData);  // the old price retracted, the new asserted
  assert.ok(log[1].txData.some(([, attr, v, , added]) => attr === ':product/price' && v === 1.5 && !added));
  assert.deepEqual((await conn.log({ to: b.txId })).at(-1).txId, a.txId);
  assert.equal((await conn.log()).length, 3);  // the schema transaction too
  await assert.rejects(conn.log({ from: -1 }), /from must be a tx id/);
});

test('schema-on-read: undeclared attributes are accepted, declared identities upsert', async () => {
  const { conn } = await create({ schemaFlexibility: 'read' });
  await conn.transact([{ 'product/sku': 'W001', 'product/stock': 1 }]);
  await conn.transact([{ 'product/sku': 'W001', 'product/stock': 2 }]);  // no identity: a second entity
  assert.equal(await d.q('[:find (count ?e) . :where [?e :product/sku "W001"]]', conn.db()), 2);
  await assert.rejects(conn.db().pull('[*]', ['product/sku', 'W001']), /:product\/sku is not (:db\/)?unique/);

  const { conn: inv } = await create({ schemaFlexibility: 'read' });
  await inv.transact([{ 'db/ident': ':inventory/sku', 'db/unique': ':db.unique/identity' }]);
  await inv.transact([{ 'inventory/sku': 'W001', 'inventory/stock': 1, 'inventory/bin': 'A3' }]);
  await inv.transact([{ 'inventory/sku': 'W001', 'inventory/stock': 2 }]);  // upserts
  assert.equal(await d.q('[:find (count ?e) . :where [?e :inventory/sku "W001"]]', inv.db()), 1);
  assert.deepEqual(await inv.db().pull('[:inventory/stock :inventory/bin]', ['inventory/sku', 'W001']),
    { 'inventory/stock': 2, 'inventory/bin': 'A3' });
});

test('README: a join across two databases', async () => {
  const { conn: cat } = await catalog();
  await cat.transact([
    { 'product/sku': 'W001', 'product/name': 'Widget', 'product/price': 9.99 },
    { 'product/sku': 'G001', 'product/name': 'Gadget', 'product/price': 24.5 },
    { 'product/sku': 'S001', 'product/name': 'Sprocket', 'product/price': 3.5 }]);
  const { conn: inv } = await create({ schemaFlexibility: 'read' });
  await inv.transact([{ 'db/ident': ':inventory/sku', 'db/unique': ':db.unique/identity' }]);
  await inv.transact([
    { 'inventory/sku': 'W001', 'inventory/stock': 12 },
    { 'inventory/sku': 'G001', 'inventory/stock': 0 },
    { 'inventory/sku': 'S001', 'inventory/stock': 40 }]);

  const rows = await d.q(`[:find ?name ?price ?stock
                           :in $cat $inv ?max
                           :where [$cat ?p :product/sku ?sku]
                                  [$cat ?p :product/name ?name]
                                  [$cat ?p :product/price ?price]
                                  [(<= ?price ?max)]
                                  [$inv ?i :inventory/sku ?sku]
                                  [$inv ?i :inventory/stock ?stock]
                                  [(pos? ?stock)]]`, cat.db(), inv.db(), 20);
  assert.deepEqual(sorted(rows), [['Sprocket', 3.5, 40], ['Widget', 9.99, 12]]);
});

test('README: databases bound inside a collection input', async () => {
  const tenants = [];
  for (const [name, orders] of [['acme', 3], ['globex', 1]]) {
    const { conn } = await create({ schemaFlexibility: 'read' });
    await conn.transact(Array.from({ length: orders }, (_, i) => ({ 'order/id': i, 'order/status': ':completed' })));
    tenants.push([name, conn.db()]);
  }
  const rows = await d.q('[:find ?tenant (count ?o) :in [[?tenant $db] ...] :where [$db ?o :order/status :completed]]', tenants);
  assert.deepEqual(sorted(rows), [['acme', 3], ['globex', 1]]);
});

test('README: time travel with asOf, since and history', async () => {
  const { conn } = await catalog();
  const first = await conn.transact([{ 'product/sku': 'W001', 'product/price': 9.99 }]);
  const before = new Date();
  await new Promise((r) => setTimeout(r, 5));
  await conn.transact([{ 'product/sku': 'W001', 'product/price': 12.5 }]);
  const db = conn.db();
  const price = '[:find ?price . :in $ ?sku :where [?p :product/sku ?sku] [?p :product/price ?price]]';
  assert.equal(await d.q(price, db, 'W001'), 12.5);
  assert.equal(await d.q(price, db.asOf(first.txId), 'W001'), 9.99);
  assert.equal(await d.q(price, db.asOf(before), 'W001'), 9.99);
  assert.equal(db.asOf(before).basisT, db.basisT);
  assert.deepEqual(await d.q('[:find [?price ...] :where [_ :product/price ?price]]', db.since(first.txId)), [12.5]);
  assert.deepEqual(await d.q('[:find [?price ...] :where [_ :product/price ?price]]', db.since(before)), [12.5]);
  const changes = await d.q('[:find ?price ?added :where [_ :product/price ?price _ ?added]]', db.history());
  assert.deepEqual(sorted(changes), [[12.5, true], [9.99, false], [9.99, true]]);
  // The snapshot is a value: later transactions do not change it.
  await conn.transact([{ 'product/sku': 'W001', 'product/price': 1 }]);
  assert.equal(await d.q(price, db, 'W001'), 12.5);
});

test('find specs, rules, :keys and pull in queries', async () => {
  const { conn } = await catalog();
  const { tempids } = await conn.transact([
    { 'db/id': 'a', 'product/sku': 'A', 'product/parts': ['b'] },
    { 'db/id': 'b', 'product/sku': 'B', 'product/parts': ['c'] },
    { 'db/id': 'c', 'product/sku': 'C' }]);
  const db = conn.db();
  assert.deepEqual((await d.q('[:find [?sku ...] :where [_ :product/sku ?sku]]', db)).sort(), ['A', 'B', 'C']);
  assert.deepEqual(await d.q('[:find [?e ?sku] :in $ ?e :where [?e :product/sku ?sku]]', db, tempids.a), [tempids.a, 'A']);
  assert.deepEqual(await d.q('[:find ?sku :keys sku :where [?e :product/sku ?sku] [(= ?sku "C")]]', db), [{ sku: 'C' }]);
  const rules = `[[(part ?a ?b) [?a :product/parts ?b]]
                  [(part ?a ?b) [?a :product/parts ?x] (part ?x ?b)]]`;
  const parts = await d.q('[:find [?sku ...] :in $ % ?root :where (part ?p ?q) [?p :product/sku ?root] [?q :product/sku ?sku]]',
    db, rules, 'A');
  assert.deepEqual(parts.sort(), ['B', 'C']);
  assert.deepEqual(await d.q('[:find (pull ?e ?pattern) . :in $ ?pattern :where [?e :product/sku "A"]]', db, d.edn('[:product/sku]')),
    { 'product/sku': 'A' });
});

test('q answers of plain numbers skip JSON and equal what the JSON path gives', async () => {
  const { conn } = await create({ schemaFlexibility: 'read' });
  await conn.transact([{ 'db/ident': ':n/big', 'db/valueType': ':db.type/long' }]);
  const rows = Array.from({ length: 300 }, (_, i) => ({
    'n/i': i, 'n/half': i / 2, 'n/neg': -i * 1e6, 'n/s': `s${i}`, 'n/big': 2n ** 60n + BigInt(i),
  }));
  await conn.transact(rows);
  const db = conn.db();
  const cases = [
    ['[:find ?e ?i :where [?e :n/i ?i]]', (r) => r.length === 300 && r.every((x) => x.length === 2)],
    ['[:find ?i ?h ?n :where [?e :n/i ?i] [?e :n/half ?h] [?e :n/neg ?n]]', (r) => r.some(([i, h, n]) => i === 7 && h === 3.5 && n === -7e6)],
    ['[:find [?h ...] :where [_ :n/half ?h]]', (r) => r.includes(149.5) && r.length === 300],
    ['[:find ?i :where [?e :n/i ?i] [(< ?i 3)]]', (r) => JSON.stringify(sorted(r)) === '[[0],[1],[2]]'],
    ['[:find ?e ?s :where [?e :n/s ?s]]', (r) => r.every(([e, s]) => typeof e === 'number' && typeof s === 'string')],  // mixed: JSON
    ['[:find ?b :where [_ :n/big ?b]]', (r) => r.every(([b]) => typeof b === 'bigint')],  // beyond 2^53: JSON (#long)
    ['[:find ?i :where [?e :n/i ?i] [(< ?i 0)]]', (r) => Array.isArray(r) && r.length === 0],
    ['[:find (count ?e) . :where [?e :n/i]]', (r) => r === 300],
    ['[:find [?i ?h] :where [?e :n/i 4] [?e :n/i ?i] [?e :n/half ?h]]', (r) => JSON.stringify(r) === '[4,2]'],
  ];
  for (const [query, check] of cases) {
    const got = await d.q(query, db);
    assert.ok(check(got), `${query}: ${JSON.stringify(got, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)).slice(0, 200)}`);
  }
  // The same rows through a subscription (which reads q's JSON text) and through d.q.
  let stop;
  const viaJson = await new Promise((resolve) => {
    stop = d.subscribe('[:find ?e ?i ?h :where [?e :n/i ?i] [?e :n/half ?h]]', [conn], resolve);
  });
  stop();
  const viaNumbers = await d.q('[:find ?e ?i ?h :where [?e :n/i ?i] [?e :n/half ?h]]', conn.db());
  assert.equal(viaNumbers.length, 300);
  assert.deepEqual(sorted(viaNumbers), sorted(viaJson));
  // A query answered from the numbers buffer, then another: the first result is a copy.
  const a = await d.q('[:find ?i :where [_ :n/i ?i] [(< ?i 2)]]', db);
  await d.q('[:find ?n :where [_ :n/neg ?n]]', db);
  assert.deepEqual(sorted(a), [[0], [1]]);
});

// pull and pullMany write JSON straight from the index, each entity a row of values
// beside the list of its keys (json_writer.cpp's JsonPullWriter, edn.js's parsePull);
// a query's pull builds EDN nodes first. Every pattern form gives
// the same answer both ways, including the keys and entities left out as empty.
test('pull and pullMany answer as a query\'s pull does, for every pattern form', async () => {
  const { conn } = await create();
  await conn.transact([
    { 'db/ident': ':p/name', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
    { 'db/ident': ':p/friend', 'db/valueType': ':db.type/ref', 'db/cardinality': ':db.cardinality/many' },
    { 'db/ident': ':p/boss', 'db/valueType': ':db.type/ref' },
    { 'db/ident': ':p/address', 'db/valueType': ':db.type/ref', 'db/isComponent': true },
    { 'db/ident': ':a/city', 'db/valueType': ':db.type/string' },
    { 'db/ident': ':p/tag', 'db/valueType': ':db.type/keyword', 'db/cardinality': ':db.cardinality/many' },
    { 'db/ident': ':p/score', 'db/valueType': ':db.type/double' },
    { 'db/ident': ':p/big', 'db/valueType': ':db.type/long' },
    { 'db/ident': ':p/when', 'db/valueType': ':db.type/instant' },
    { 'db/ident': ':p/id', 'db/valueType': ':db.type/uuid' },
    { 'db/ident': ':p/ok', 'db/valueType': ':db.type/boolean' }]);
  const { tempids } = await conn.transact([
    { 'db/id': 'ann', 'p/name': 'Ann "A" \\ \n é 😀', 'p/friend': ['bob', 'cy'], 'p/tag': [':x', ':y', ':z'],
      'p/address': { 'a/city': '\\:not-a-keyword' }, 'p/score': 0.25, 'p/big': 2n ** 60n, 'p/ok': false,
      'p/when': new Date(Date.UTC(2025, 0, 2)), 'p/id': d.uuid('5a0c3f1e-0000-4000-8000-00000000000b') },
    { 'db/id': 'bob', 'p/name': 'Bob', 'p/friend': ['ann'], 'p/boss': 'ann', 'p/score': -1e300 },
    { 'db/id': 'cy', 'p/name': 'Cy', 'p/friend': ['cy'], 'p/boss': 'bob' }]);
  const db = conn.db();
  const patterns = [
    '[*]', '[* {:p/friend [:p/name]}]', '[:db/id :p/name]', '[:p/name {:p/friend [:p/name]}]',
    '[:p/name {:p/friend ...}]', '[:p/name {:p/boss ...}]', '[:p/name {:p/friend 1}]', '[:p/name {:p/boss 2}]',
    '[:p/name :p/_friend]', '[:p/name {:p/_boss [:p/name {:p/_boss [:p/name]}]}]', '[:p/address]',
    '[{:p/address [:a/city]}]', '[(limit :p/tag 2) (default :p/missing "none")]',
    '[[:p/name :as "who"] [:p/tag :limit 1 :as :tags] [:p/ok :default true]]',
    '[:p/score :p/big :p/when :p/id :p/ok]', '[:unknown/attr]', '[{:p/friend [:unknown/attr]}]',
    '[:p/name {:p/boss [:unknown/attr]}]', '[:p/name (default :p/boss 0)]', '[:p/tag :p/name :p/friend]',
    // More keys than the JSON writer's cache by node holds (64): the rest are found by text.
    `[${Array.from({ length: 70 }, (_, i) => `[:p/name :as "k${i}"]`).join(' ')} {:p/friend [:p/name]}]`,
    // A key JS objects treat specially: an own property, as JSON.parse makes it.
    '[[:p/name :as "__proto__"] {:p/boss [[:p/name :as "__proto__"]]}]',
  ];
  const es = [tempids.ann, tempids.bob, tempids.cy, 987654321, ['p/name', 'Cy'], ['p/name', 'nobody']];
  for (const p of patterns) {
    const viaQuery = [];
    for (const e of es) {
      const alone = await db.pull(p, e);
      const found = typeof e === 'number' ? [e] : await d.q('[:find [?e ...] :in $ ?n :where [?e :p/name ?n]]', db, e[1]);
      const queried = found.length ? await d.q(`[:find (pull ?e ${p}) . :in $ ?e]`, db, found[0]) : null;
      assert.deepEqual(alone, queried, `${p} of ${JSON.stringify(e)}`);
      viaQuery.push(queried);
    }
    assert.deepEqual(await db.pullMany(p, es), viaQuery, `pullMany ${p}`);
  }
  assert.deepEqual(await db.pullMany('[*]', []), []);
  // A sample of what they give, so an empty answer everywhere cannot pass.
  assert.deepEqual(await db.pull('[:p/name {:p/boss ...}]', tempids.cy),
    { 'p/name': 'Cy', 'p/boss': { 'p/name': 'Bob', 'p/boss': { 'p/name': 'Ann "A" \\ \n é 😀' } } });
  assert.deepEqual(await db.pull('[{:p/friend [:unknown/attr]}]', tempids.ann), null);
  assert.deepEqual(await db.pull('[:p/name {:p/boss [:unknown/attr]}]', tempids.bob), { 'p/name': 'Bob' });
  assert.equal((await db.pull('[:p/big]', tempids.ann))['p/big'], 2n ** 60n);
  const proto = await db.pull(patterns.at(-1), tempids.bob);
  assert.deepEqual([Object.keys(proto), Object.getPrototypeOf(proto), proto.__proto__], [['__proto__', 'p/boss'], Object.prototype, 'Bob']);
  const many = await db.pull(patterns.at(-2), tempids.bob);
  assert.equal(Object.keys(many).length, 71);
  assert.deepEqual([many.k0, many.k69, many['p/friend']], ['Bob', 'Bob', [{ 'p/name': 'Ann "A" \\ \n é 😀' }]]);
  // A one-key map named like an Object property, in a reply with tagged values (the
  // BigInt): a map, not taken for a tagged value.
  assert.deepEqual(await db.pullMany('[:p/big {:p/boss [[:p/name :as "constructor"]]} {:p/friend [[:p/name :as "toString"]]}]', [tempids.cy, tempids.ann]),
    [{ 'p/boss': { constructor: 'Bob' }, 'p/friend': [{ toString: 'Cy' }] },
     { 'p/big': 2n ** 60n, 'p/friend': [{ toString: 'Bob' }, { toString: 'Cy' }] }]);
});

test('values round-trip with the JS conventions', async () => {
  const { conn } = await create({ schemaFlexibility: 'read' });
  const when = new Date(Date.UTC(2024, 1, 29, 12, 30, 0, 250));
  const id = d.uuid('5a0c3f1e-0000-4000-8000-00000000000a');
  const values = {
    'v/kw': ':color/red', 'v/colon': '\\:not-a-keyword', 'v/backslash': '\\\\x', 'v/text': 'quote " back \\ nl \n é 😀',
    'v/long': 42, 'v/double': 0.5, 'v/big': 2n ** 62n, 'v/inst': when, 'v/uuid': id, 'v/bool': false, 'v/neg': -7,
  };
  const { tempids } = await conn.transact([{ 'db/id': 'x', ...values }]);
  const got = await conn.db().pull('[*]', tempids.x);
  // Everything comes back as it was written, escapes included.
  const expected = values;
  for (const [k, v] of Object.entries(expected)) {
    if (v instanceof Uuid) assert.ok(v.equals(got[k]), k);
    else assert.deepEqual(got[k], v, k);
  }
  assert.equal(typeof got['v/big'], 'bigint');
  assert.ok(got['v/inst'] instanceof Date);
  assert.equal(await d.q('[:find ?e . :in $ ?u :where [?e :v/uuid ?u]]', conn.db(), id), tempids.x);
  assert.equal(await d.q('[:find ?e . :in $ ?k :where [?e :v/kw ?k]]', conn.db(), ':color/red'), tempids.x);
  // Written back, what was read is the same values: the escaped strings stay strings.
  const { 'db/id': _, ...copy } = got;
  const again = (await conn.transact([{ 'db/id': 'y', ...copy }])).tempids.y;
  const both = [tempids.x, again].sort((a, b) => a - b);
  const having = async (clause) => (await d.q(`[:find [?e ...] :where ${clause}]`, conn.db())).sort((a, b) => a - b);
  assert.deepEqual(await having('[?e :v/colon ":not-a-keyword"]'), both);
  assert.deepEqual(await having('[?e :v/backslash "\\\\x"]'), both);
  assert.deepEqual(await having('[?e :v/kw :color/red]'), both);
});

test('entity maps sent as JSON text give the datoms their EDN text gives, and the same errors', async () => {
  // The same transactions through both paths: arrays of plain maps go as JSON text
  // (raw connApplyJson), the EDN text of the same data as is (connApply).
  const txs = [
    [{ 'db/ident': ':person/email', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
      { 'db/ident': ':person/friend', 'db/valueType': ':db.type/ref', 'db/cardinality': ':db.cardinality/many' },
      { 'db/ident': ':person/address', 'db/valueType': ':db.type/ref', 'db/isComponent': true },
      { 'db/ident': ':color/red' }],
    [{ 'db/id': 'a', 'person/email': 'a@x', 'v/text': 'quote " back \\ nl \n tab \t nul \u0000 é 😀 end',
      'v/kw': ':color/red', 'v/colon': '\\:not-a-keyword', 'v/double': 0.1, 'v/tiny': 1e-7, 'v/huge': 1.5e300,
      'v/neg': -9007199254740991, 'v/zero': -0, 'v/bool': true, 'person/friend': ['b'], skipped: undefined },
     { 'db/id': 'b', ':person/email': 'b@x', 'person/address': { 'v/street': 'Main', 'v/no': 7 } }],
    [{ 'db/id': ['person/email', 'a@x'], 'v/more': [1, 2.5, 'x'] }, { 'db/id': [':person/email', 'b@x'], 'v/flag': false }],
  ];
  const viaJson = await create({ schemaFlexibility: 'read' });
  const viaEdn = await create({ schemaFlexibility: 'read' });
  for (const tx of txs) {
    assert.notEqual(txToJson(tx), null, 'sent as JSON');
    await viaJson.conn.transact(tx);
    await viaEdn.conn.transact(txToEdn(tx));
  }
  const all = async (h) => (await h.conn.db().datoms('eavt')).filter(([, a]) => a !== ':db/txInstant')
    .map(([e, a, v, , added]) => [e, a, v, added]);
  assert.deepEqual(await all(viaJson), await all(viaEdn));
  assert.equal(await viaJson.conn.db().pull('[:v/text]', ['person/email', 'a@x']).then((m) => m['v/text']),
    'quote " back \\ nl \n tab \t nul \u0000 é 😀 end');
  // A failing transaction says where, as the EDN text's does, and changes nothing.
  const before = await all(viaJson);
  const bad = [{ 'person/email': 'c@x' }, { 'person/friend': 'nobody-tempid-only', 'person/email': 'a@x', 'db/id': 'z' },
    { 'db/id': ['person/email', 'missing@x'], 'v/x': 1 }];
  const fromJson = await viaJson.conn.transact(bad).catch((e) => e);
  // The same, with a Date in its first map: not JSON-safe, so it goes as EDN text.
  const asEdn = [{ ...bad[0], 'v/when': new Date(0) }, ...bad.slice(1)];
  assert.equal(txToJson(asEdn), null);
  const fromEdn = await viaEdn.conn.transact(asEdn).catch((e) => e);
  assert.ok(fromJson instanceof Error, 'the bad transaction fails');
  assert.equal(fromJson.message, fromEdn.message);
  assert.match(fromJson.message, /^txData\[2\]/);
  assert.deepEqual(await all(viaJson), before);
  // What the EDN text refuses, the JSON text refuses too: two keys naming one keyword,
  // a lone surrogate.
  await assert.rejects(viaJson.conn.transact([{ 'v/a': 1, ':v/a': 2 }]), (e) => /^txData\[0\].*duplicate key :v\/a/.test(e.message));
  await assert.rejects(viaJson.conn.transact([{ 'v/text': 'lone \ud800' }]),
    (e) => /^txData\[0\], attribute :v\/text: .*unpaired high surrogate/.test(e.message));
  assert.deepEqual(await all(viaJson), before);
});

test('index order is byte order, also for strings that share long prefixes', async () => {
  // Keys differ after 0-20 equal bytes, in ASCII and in multi-byte UTF-8 (bytes >= 0x80
  // must order above ASCII): the WASM build compares keys with its own memcmp.
  const { conn } = await create({ schemaFlexibility: 'read' });
  const words = [];
  for (const prefix of ['', 'abcdefg', 'abcdefgh', 'abcdefghijklmnopqrst']) {
    for (const tail of ['', 'a', 'b', 'ab', 'z', 'é', 'ü', 'ā', 'A', '0', 'aa'.repeat(9)]) words.push(prefix + tail);
  }
  const unique = [...new Set(words)];
  await conn.transact(unique.map((w) => ({ 'w/text': w })));
  const got = (await conn.db().datoms('avet', 'w/text')).map(([, , v]) => v);
  // Below U+D800, JS string order is code point order, which is UTF-8 byte order.
  assert.deepEqual(got, [...unique].sort());
  await conn.close();
});

test('query results: every find shape and value type', async () => {
  const { conn } = await create({ schemaFlexibility: 'read' });
  const when = new Date(Date.UTC(2024, 1, 29, 12, 30, 0, 250));
  const id = d.uuid('5a0c3f1e-0000-4000-8000-00000000000b');
  const values = { 'v/kw': ':color/red', 'v/colon': '\\:x', 'v/text': 'q " \\ é', 'v/double': 0.5,
    'v/big': 2n ** 62n, 'v/inst': when, 'v/uuid': id, 'v/bool': false };
  const { tempids } = await conn.transact([{ 'db/id': 'x', ...values }, { 'db/id': 'y', 'v/n': 1 }, { 'db/id': 'z', 'v/n': 2 }]);
  const db = conn.db();
  const attrs = Object.keys(values);
  const vars = attrs.map((_, i) => `?v${i}`);
  const where = attrs.map((a, i) => `[?e :${a} ${vars[i]}]`).join(' ');
  const [row] = await d.q(`[:find ?e ${vars.join(' ')} :where ${where}]`, db);
  assert.equal(row[0], tempids.x);
  attrs.forEach((a, i) => {
    const v = values[a], got = row[i + 1];
    if (v instanceof Uuid) assert.ok(v.equals(got), a);
    else assert.deepEqual(got, v, a);
  });
  // :strs and :syms name the columns like :keys.
  assert.deepEqual(await d.q('[:find ?n :strs n :where [_ :v/n ?n] [(= ?n 1)]]', db), [{ n: 1 }]);
  assert.deepEqual(await d.q('[:find ?n :syms n :where [_ :v/n ?n] [(= ?n 2)]]', db), [{ n: 2 }]);
  // Nothing found: an empty relation or collection, nil for a scalar or a tuple.
  assert.deepEqual(await d.q('[:find ?n :where [_ :v/n ?n] [(> ?n 5)]]', db), []);
  assert.deepEqual(await d.q('[:find [?n ...] :where [_ :v/n ?n] [(> ?n 5)]]', db), []);
  assert.equal(await d.q('[:find ?n . :where [_ :v/n ?n] [(> ?n 5)]]', db), null);
  assert.equal(await d.q('[:find [?e ?n] :where [?e :v/n ?n] [(> ?n 5)]]', db), null);
  // Aggregates and pull next to plain values in one relation.
  const mixed = await d.q('[:find ?n (count ?e) (pull ?e [:v/n]) :where [?e :v/n ?n]]', db);
  assert.deepEqual(mixed.sort((a, b) => a[0] - b[0]), [[1, 1, { 'v/n': 1 }], [2, 1, { 'v/n': 2 }]]);
  await conn.close();
});

test('listen, and connections to one database share it', async () => {
  const { cfg, conn } = await catalog();
  const other = await d.connect(cfg);
  const seen = [];
  let resolved = false;
  const stop = other.listen((r) => seen.push([r.txId, resolved]));
  const r1 = await conn.transact([{ 'product/sku': 'L1' }]);
  resolved = true;
  assert.deepEqual(seen, [[r1.txId, false]]);  // listeners run before transact resolves
  assert.equal(typeof await d.q('[:find ?e . :where [?e :product/sku "L1"]]', other.db()), 'number');
  stop();
  await conn.transact([{ 'product/sku': 'L2' }]);
  assert.equal(seen.length, 1);
  const thrower = conn.listen(() => { throw new Error('listener bug'); });
  const origError = console.error;
  console.error = () => {};
  try {
    await conn.transact([{ 'product/sku': 'L3' }]);  // a failing listener does not fail the transaction
  } finally {
    console.error = origError;
    thrower();
  }
  await conn.close();
  // The memory store outlives its connections.
  assert.equal((await other.db().datoms('avet', 'product/sku')).length, 3);
  await other.close();
  const again = await d.connect(cfg);
  assert.equal((await again.db().datoms('avet', 'product/sku')).length, 3);
  await again.close();
});

test('concurrent transactions are applied in call order', async () => {
  const { conn } = await catalog();
  const reports = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    conn.transact([{ 'product/sku': 'C', 'product/price': i + 0.5 }])));
  const txs = reports.map((r) => r.txId);
  assert.deepEqual(txs, [...txs].sort((a, b) => a - b));
  assert.equal(await d.q('[:find ?p . :where [_ :product/price ?p]]', conn.db()), 19.5);
});

test('errors are Errors naming what and where, and change nothing', async () => {
  const { conn } = await catalog();
  const basis = conn.db().basisT;
  await assert.rejects(conn.transact('[{:product/sku "A" :product/price "cheap"}]'), (e) =>
    e instanceof Error && /line 1, col \d+/.test(e.message) && /:product\/price/.test(e.message));
  await assert.rejects(conn.transact([{ 'product/nope': 1 }]), /product\/nope/);
  await assert.rejects(conn.transact([{ 'product/sku': () => 1 }]), /cannot convert a function/);
  // Errors in JS data name the item and attribute, not positions in generated EDN.
  await assert.rejects(conn.transact([{ 'product/sku': 'B' }, { 'product/sku': 'C', 'product/price': 'cheap' }]),
    (e) => e instanceof Error && e.message.startsWith('txData[1], attribute :product/price: ') &&
      /"cheap"/.test(e.message) && !/line \d/.test(e.message) && typeof e.code === 'string');
  await assert.rejects(conn.transact([[':db/add', 'x', ':product/sku', 'é𝄞'], [':db/add', 'x', ':product/price', 'no']]),
    (e) => e.message.startsWith('txData[1], attribute :product/price: '));
  await assert.rejects(conn.transact([{ 'product/sku': 'D' }, { 'product/name': 'n', 'product/parts': [() => 1] }]),
    (e) => e.message === 'txData[1], attribute :product/parts: cannot convert a function to EDN');
  await assert.rejects(conn.transact([{ 'product/sku': 'E' }, 7]),
    (e) => e.message === 'txData[1]: transaction forms are entity maps or list forms, got number 7');
  assert.equal(conn.db().basisT, basis);  // nothing changed
  await conn.transact([{ 'product/sku': 'A' }]);
  await assert.rejects(d.q('[:find ?x :where [?x :product/sku ?y] [(frob ?y)]]', conn.db()), (e) =>
    e instanceof Error && /line 1, col \d+/.test(e.message) && /frob/.test(e.message) && typeof e.code === 'string');
  await assert.rejects(d.q('[:find ?x :where [?x', conn.db()), /line 1, col \d+/);
  await assert.rejects(d.q('[:find ?x :in $a :where [$a ?x :product/sku]]'), /takes 1 input \(:in\), got 0/);
  await assert.rejects(conn.db().pull('[:product/sku', 1), /line 1, col \d+/);
  await assert.rejects(d.q(42), /EDN text/);
  assert.throws(() => d.uuid('xyz'), /invalid uuid/);
});
