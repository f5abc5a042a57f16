// The raw Embind tier against the built module (bash wasm/build.sh first).
// Run: node --test wasm/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import DatalithWasm from '../dist/datalith_wasm.mjs';
import { parsePull } from '../js/edn.js';
import { zstdRawFrame } from './support/zstd.mjs';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
// Node 18+: the 3.1.6 loader cannot fetch() a file path, so hand it the bytes.
const m = await DatalithWasm({ wasmBinary: fs.readFileSync(dist + 'datalith_wasm.wasm') });

const SCHEMA = `[{:db/ident :person/name :db/valueType :db.type/string :db/unique :db.unique/identity}
                {:db/ident :person/age :db/valueType :db.type/long}
                {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]`;

function ok(json) {
  const r = JSON.parse(json);
  assert.ok('ok' in r, `expected ok, got ${json}`);
  return r.ok;
}

function people(from, to) {
  const out = [];
  for (let i = from; i < to; i++) {
    out.push(`{:db/id "p${i}" :person/name "person ${i}" :person/age ${i % 90}` +
             (i > from ? ` :person/friend "p${i - 1}"` : '') + '}');
  }
  return `[${out.join(' ')}]`;
}

test('version names the package and the format', () => {
  assert.match(m.version(), /^\d+\.\d+\.\d+ \(format 1\)$/);
});

test('memory store: transact, q, pull, datoms, asOf, log', () => {
  const store = m.storeCreate('memory');
  assert.equal(ok(m.connExists(store)), false);
  const conn = ok(m.connCreate(store, '{"schemaFlexibility": "write", "keepHistory": true}'));
  assert.equal(ok(m.connExists(store)), true);
  ok(m.connTransact(conn, SCHEMA));
  const report = ok(m.connTransact(conn,
    '[{:db/id "ann" :person/name "Ann" :person/age 31} {:db/id "bob" :person/name ":Bob" :person/friend "ann"}]'));
  assert.ok(report.txId >= 2 ** 42);
  const ann = report.tempids.ann;
  assert.ok(Number.isInteger(ann));
  assert.deepEqual(report.txData.find((d) => d[1] === ':person/age'), [ann, ':person/age', 31, report.txId, true]);
  // A string starting with ':' is escaped so it cannot pass for a keyword.
  assert.ok(report.txData.some((d) => d[2] === '\\:Bob'));
  const t1 = report.txId;
  ok(m.connTransact(conn, `[[:db/add ${ann} :person/age 32]]`));

  const db = m.connDb(conn);
  assert.ok(m.dbBasis(db) > t1);
  const q = '[:find ?n ?a :in $ ?min :where [?e :person/name ?n] [?e :person/age ?a] [(>= ?a ?min)]]';
  assert.deepEqual(ok(m.q(q, JSON.stringify([{ db }, { edn: '30' }]))), [['Ann', 32]]);
  assert.deepEqual(ok(m.q('[:find ?n . :in $ :where [?e :person/age 32] [?e :person/name ?n]]',
                          JSON.stringify([{ db }]))), 'Ann');
  // Collections of inputs mixing data and databases.
  const old = m.dbAsOf(db, t1);
  assert.deepEqual(ok(m.q('[:find ?a . :in [[?t $x]] :where [$x ?e :person/name "Ann"] [$x ?e :person/age ?a]]',
                          JSON.stringify([{ list: [{ list: [{ edn: '"then"' }, { db: old }] }] }]))), 31);

  // Pull replies are rows and shapes (json_writer.h): each entity's map a row of its
  // values and the index of its keys in "k"; nested maps are objects.
  assert.deepEqual(ok(m.dbPull(db, '[:person/name {:person/friend [:person/name]}]', '[:person/name ":Bob"]')),
                   { r: [['\\:Bob', [{ 'person/name': 'Ann' }], 0]], k: [['person/name', 'person/friend']] });
  assert.deepEqual(ok(m.dbPullMany(db, '[:person/name (default :person/age 0)]', `[${ann} [:person/name "nobody"] [:person/name ":Bob"] ${ann}]`)),
                   { r: [['Ann', 32, 0], null, ['\\:Bob', 0, 0], ['Ann', 32, 0]], k: [['person/name', 'person/age']] });
  assert.deepEqual(ok(m.dbPullMany(db, '[:person/friend :person/age]', `[${ann} [:person/name ":Bob"]]`)),
                   { r: [[32, 0], [[{ 'db/id': ann }], 1]], k: [['person/age'], ['person/friend']] });
  const pulled = (reply) => parsePull(reply);
  assert.deepEqual(pulled(m.dbPullMany(db, '[:person/age]', `[${ann} [:person/name "nobody"]]`)),
                   [{ 'person/age': 32 }, null]);
  // Ids with commas and spaces; the reader's errors.
  assert.deepEqual(pulled(m.dbPullMany(db, '[:person/age]', `[ ${ann},${ann} 999999 ]`)),
                   [{ 'person/age': 32 }, { 'person/age': 32 }, null]);
  assert.deepEqual(ok(m.dbPullMany(db, '[:person/age]', '[]')), { r: [], k: [] });
  assert.match(JSON.parse(m.dbPullMany(db, '[:person/age]', '[1 2')).error, /unterminated|expected|end of input/);
  assert.match(JSON.parse(m.dbPullMany(db, '[:person/age]', '[1.5]')).error, /entit/i);
  // Ids as a Float64Array's bytes (pullMany of plain ids): the same answers; bytes that
  // are not whole doubles, or doubles that are not ids, are refused.
  const idBytes = (...ids) => new Uint8Array(Float64Array.from(ids).buffer);
  assert.deepEqual(pulled(m.dbPullManyIds(db, '[:person/age]', idBytes(ann, ann, 999999))),
                   [{ 'person/age': 32 }, { 'person/age': 32 }, null]);
  assert.deepEqual(pulled(m.dbPullManyIds(db, '[:person/age]', new Uint8Array(0))), []);
  for (const bad of [idBytes(ann).subarray(0, 7), idBytes(ann, 1.5), idBytes(-1), idBytes(NaN), idBytes(2 ** 53)]) {
    assert.match(JSON.parse(m.dbPullManyIds(db, '[:person/age]', bad)).error, /entity ids: .*Float64Array/);
  }
  assert.deepEqual(ok(m.dbDatoms(db, 'eavt', `[${ann} :person/age]`)).map((d) => d.slice(0, 3)),
                   [[ann, ':person/age', 32]]);
  assert.deepEqual(ok(m.dbDatoms(old, 'eavt', `[${ann} :person/age]`)).map((d) => d[2]), [31]);
  const hist = m.dbHistory(db);
  assert.deepEqual(ok(m.dbDatoms(hist, 'eavt', `[${ann} :person/age]`)).map((d) => [d[2], d[4]]).sort(),
                   [[31, false], [31, true], [32, true]]);
  const since = m.dbSince(db, t1);
  assert.deepEqual(ok(m.q('[:find [?a ...] :where [_ :person/age ?a]]', JSON.stringify([{ db: since }]))), [32]);

  // A memory store's connection never flushes by itself: the head stays the bootstrap
  // commit until connFlush makes the three transactions one commit.
  const bootstrap = m.connHead(conn);
  assert.match(bootstrap, /^[0-9a-f]{32}$/);
  const flushed = ok(m.connFlush(conn));
  assert.equal(flushed.transactions, 3);
  assert.notEqual(flushed.commit, bootstrap);
  assert.equal(m.connHead(conn), flushed.commit);
  assert.deepEqual(ok(m.connFlush(conn)), { ...flushed, transactions: 0, nodes: 0, bytes: 0 });

  // Values of every type come back in the JSON encoding of docs/wasm.md.
  const vals = ok(m.q(`[:find ?x . :in ?x]`, JSON.stringify([{
    edn: '[nil true 9007199254740993 -5 1.5 ##Inf :kw "s" #inst "2020-01-02T03:04:05.006Z" ' +
         '#uuid "0f8b1c3e-1f2a-4b5c-8d9e-0a1b2c3d4e5f" "\\\\x" [1 [2]]]',
  }])));
  assert.deepEqual(vals, [null, true, { '#long': '9007199254740993' }, -5, 1.5, { '#double': 'Inf' }, ':kw', 's',
    { '#inst': 1577934245006 }, { '#uuid': '0f8b1c3e-1f2a-4b5c-8d9e-0a1b2c3d4e5f' }, '\\\\x', [1, [2]]]);
  // Maps: keyword keys lose their colon.
  assert.deepEqual(ok(m.q('[:find ?a ?b :keys a ns/b :in ?a ?b]', '[{"edn": "1"}, {"edn": ":x"}]')),
                   [{ a: 1, 'ns/b': ':x' }]);

  for (const id of [db, old, hist, since]) m.dbRelease(id);
  m.connRelease(conn);
  m.storeRelease(store);
});

test('strings cross the boundary intact both ways: multi-byte, astral, NUL, short and long texts', () => {
  const conn = ok(m.connCreate(m.storeCreate('memory'), '{}'));
  ok(m.connTransact(conn, '[{:db/ident :t/s :db/valueType :db.type/string :db/cardinality :db.cardinality/many}]'));
  // Short texts are encoded into a block sized for three bytes per UTF-16 unit, texts
  // over 4096 units encoded first: both sizes, with characters of 1 to 4 bytes. Replies
  // of 1 KB or more are read as Latin-1 under Node when all their bytes are ASCII: long
  // ASCII texts, and long texts with one character beyond it at either end.
  const mix = 'a\u0000b é ā 😀 𝄞 "q" \\ ';
  const values = ['', 'é😀', '€あ'.repeat(50), mix, mix.repeat(400), '😀'.repeat(3000),
    'ascii only '.repeat(200), 'x'.repeat(3000) + 'é', 'é' + 'y'.repeat(3001)];
  const e = ok(m.connTransact(conn, '[{:db/id "x" :t/s "first"}]')).tempids.x;
  for (const v of values) {
    const [[, , echoed]] = ok(m.connTransact(conn, `[[:db/add ${e} :t/s ${JSON.stringify(v)}]]`)).txData;
    assert.equal(echoed, v);
  }
  const db = m.connDb(conn);
  const all = ['first', ...values].sort();
  const got = parsePull(m.dbPull(db, '[:t/s]', String(e)))[0]['t/s'];
  assert.deepEqual([...got].sort(), all);
  assert.ok(got.some((v) => v.length > 4096 && v.includes('\u0000')));
  assert.deepEqual(ok(m.dbDatoms(db, 'eavt', `[${e}]`)).map((d) => d[2]).sort(), all);
  for (const bad of [42, {}, null, [1, 2]]) assert.throws(() => m.connTransact(conn, bad), /Cannot pass non-string to std::string/);
});

test('qRows: a relation or collection of plain numbers comes as a Float64Array, anything else as q answers', () => {
  const conn = ok(m.connCreate(m.storeCreate('memory'), '{"schemaFlexibility": "write", "keepHistory": true}'));
  ok(m.connTransact(conn, SCHEMA));
  ok(m.connTransact(conn, people(0, 40)));
  const inputs = JSON.stringify([{ db: m.connDb(conn) }]);
  const rel = '[:find ?e ?a :where [?e :person/age ?a] [(< ?a 3)]]';
  const reply = m.qRows(rel, inputs);
  assert.match(reply, /^\{"ok":\{"#numbers":\[0,2,3\]\}\}$/);
  const cells = Array.from(m.queryNumbers());
  assert.equal(cells.length, 6);
  const rows = [[cells[0], cells[1]], [cells[2], cells[3]], [cells[4], cells[5]]];
  assert.deepEqual(rows.sort(), ok(m.q(rel, inputs)).sort());
  assert.equal(m.qRows('[:find [?a ...] :where [_ :person/age ?a] [(< ?a 2)]]', inputs), '{"ok":{"#numbers":[1,1,2]}}');
  assert.deepEqual(Array.from(m.queryNumbers()).sort(), [0, 1]);
  // Strings, a scalar, :keys: the JSON answer of q.
  for (const query of ['[:find ?n ?a :where [?e :person/name ?n] [?e :person/age ?a] [(< ?a 2)]]',
    '[:find (count ?e) . :where [?e :person/age]]', '[:find ?a :keys a :where [_ :person/age ?a] [(< ?a 2)]]']) {
    assert.equal(m.qRows(query, inputs), m.q(query, inputs), query);
  }
  // Errors and missing inputs answer as q does.
  assert.equal(m.qRows('[:find ?x :where [?x]', inputs), m.q('[:find ?x :where [?x]', inputs));
  m.connRelease(conn);
});

test('queryDeps: the datoms that can change a result, per source, with q\'s inputs', () => {
  const store = m.storeCreate('memory');
  const conn = ok(m.connCreate(store, ''));
  ok(m.connTransact(conn, SCHEMA));
  const db = m.connDb(conn);
  const deps = ok(m.queryDeps('[:find (pull ?f [:person/age]) :in $ % :where [?e :person/name ":Ann"] (friend ?e ?f)' +
    ' [17 :person/name _]]', JSON.stringify([{ db }, { edn: '[[(friend ?a ?b) [?a :person/friend ?b]]]' }])));
  const schema = [':db/ident', ':db/valueType', ':db/cardinality', ':db/unique', ':db/isComponent'].map((a) => ({ a }));
  // Values as txData shows them: the string ":Ann" with its backslash.
  assert.deepEqual(deps, {
    sources: { $: [{ a: ':person/name', v: '\\:Ann' }, { a: ':person/friend' }, { a: ':person/name', e: 17 }, { a: ':person/age' }, ...schema] },
    in: [['$'], []],
  });
  assert.match(JSON.parse(m.queryDeps('[:find ?e :in $ % :where (nope ?e)]', JSON.stringify([{ db }, { edn: '[]' }]))).error,
    /line 1, col \d+: unknown rule `nope`/);
  assert.equal(JSON.parse(m.queryDeps('[:find ?e :where [?e :a]]', '[]')).code, 'InvalidArgument');  // 0 inputs for 1
  m.dbRelease(db);
  m.connRelease(conn);
  m.storeRelease(store);
});

test('errors come back as values with line and column; nothing crosses as a bare number', () => {
  const store = m.storeCreate('memory');
  const conn = ok(m.connCreate(store, ''));
  const db = m.connDb(conn);
  const bad = JSON.parse(m.q('[:find ?e\n :where [?e :a/b] (foo ?e)]', JSON.stringify([{ db }])));
  assert.match(bad.error, /line 2, col \d+/);
  assert.equal(bad.code, 'InvalidArgument');
  const badTx = JSON.parse(m.connTransact(conn, '[{:db/id "x" :no/such 1}]'));
  assert.match(badTx.error, /line 1, col \d+/);
  const badEdn = JSON.parse(m.connTransact(conn, '[{:a 1'));
  assert.match(badEdn.error, /line 1, col \d+/);
  assert.match(JSON.parse(m.q('[:find ?e :where [?e]]', '[{"nope": 1}]')).error, /query input/);
  assert.match(JSON.parse(m.q('[:find ?e :where [?e]]', 'not json')).error, /malformed JSON/);
  assert.match(JSON.parse(m.dbDatoms(12345, 'eavt', '')).error, /unknown db handle/);
  assert.match(JSON.parse(m.dbDatoms(db, 'xyz', '')).error, /unknown index/);
  assert.match(JSON.parse(m.connCreate(store, '{"schemaFlexibility": 1}')).error, /schemaFlexibility/);
  assert.equal(JSON.parse(m.connCreate(store, '{}')).code, 'Conflict');  // already exists
  // Non-R calls throw real Errors, with the same `code` an R call's error has.
  assert.throws(() => m.connDb(987654), { message: /unknown connection handle 987654/, code: 'InvalidArgument' });
  assert.throws(() => m.storeCreate('disk'), { message: /unknown store kind/, code: 'InvalidArgument' });
  assert.throws(() => m.storeProvide(store, 'xyz', new Uint8Array([0])), { code: 'InvalidArgument' });
  assert.throws(() => m.storeTakeMissing(store), /not a buffer store/);
  assert.throws(() => m.dbAsOf(conn, 1), /unknown db handle/);  // a handle of another kind
  // The module still works after all that.
  assert.deepEqual(ok(m.q('[:find ?x . :in ?x]', '[{"edn": "1"}]')), 1);
  m.dbRelease(db);
  m.connRelease(conn);
  m.storeRelease(store);
});

// Serves a BufferStore from `blobs` in rounds, like the JS tier does from IndexedDB.
function drive(store, blobs, fn, stats) {
  for (let round = 0; round < 200; round++) {
    const r = JSON.parse(fn());
    if (!r.missing) {
      stats.rounds += round;
      return r;
    }
    const missing = m.storeTakeMissing(store);
    assert.ok(missing.length > 0, 'a missing result names what is missing');
    stats.fetched += missing.length;
    for (const addr of missing) {
      assert.ok(blobs.has(addr), `unknown address ${addr}`);
      m.storeProvide(store, addr, blobs.get(addr));
    }
  }
  throw new Error('no answer after 200 rounds');
}

test('buffer store: write, drain pending, reopen cold and load in rounds', () => {
  const N = 6000;
  const writer = m.storeCreate('buffer');
  assert.equal(ok(m.connExists(writer)), false);
  const conn = ok(m.connCreate(writer, '{"schemaFlexibility": "write"}'));
  ok(m.connTransact(conn, SCHEMA));
  ok(m.connTransact(conn, people(0, N)));

  const pending = m.storeTakePending(writer);
  const blobs = new Map(pending.blobs);
  assert.ok(blobs.size > 50, `a multi-level tree: ${blobs.size} blobs`);
  for (const [addr, bytes] of pending.blobs) {
    assert.match(addr, /^[0-9a-f]{32}$/);
    assert.ok(bytes instanceof Uint8Array && bytes.length > 0);
    assert.equal(bytes[0], 0, 'the decoder-only build writes raw (codec 0) blobs');
  }
  assert.equal(pending.heads.length, 1);
  const [headName, headBytes] = pending.heads[0];
  assert.equal(headName, 'main');
  assert.equal(m.storeTakePending(writer).blobs.length, 0, 'pending is drained');

  const query = '[:find ?n ?a :in $ ?x :where [?e :person/name ?x] [?e :person/friend ?f] ' +
                '[?f :person/name ?n] [?f :person/age ?a]]';
  const inputs = (db) => JSON.stringify([{ db }, { edn: '"person 4321"' }]);
  const wdb = m.connDb(conn);
  const expected = ok(m.q(query, inputs(wdb)));
  assert.deepEqual(expected, [['person 4320', 4320 % 90]]);
  const countQ = '[:find (count ?e) . :where [?e :person/age]]';
  assert.equal(ok(m.q(countQ, JSON.stringify([{ db: wdb }]))), N);

  // A new store with only the head: everything else arrives on demand.
  const reader = m.storeCreate('buffer');
  m.storeProvideHead(reader, 'main', headBytes);
  assert.equal(ok(m.connExists(reader)), true);
  const stats = { rounds: 0, fetched: 0 };
  const first = JSON.parse(m.connOpen(reader));
  assert.deepEqual(first, { missing: true }, 'opening reads the commit record first');
  const cold = drive(reader, blobs, () => m.connOpen(reader), stats).ok;
  const rdb = m.connDb(cold);

  stats.rounds = 0;
  assert.deepEqual(drive(reader, blobs, () => m.q(query, inputs(rdb)), stats).ok, expected);
  assert.ok(stats.rounds >= 2 && stats.rounds <= 12, `point lookups: ${stats.rounds} rounds`);
  // Asked again, the same query needs nothing: the nodes are cached.
  assert.deepEqual(ok(m.q(query, inputs(rdb))), expected);

  // A scan over every person: sibling leaves come in batches, not one round per leaf.
  const scan = { rounds: 0, fetched: 0 };
  assert.equal(drive(reader, blobs, () => m.q(countQ, JSON.stringify([{ db: rdb }])), scan).ok, N);
  assert.ok(scan.rounds < scan.fetched / 8, `scan: ${scan.rounds} rounds for ${scan.fetched} nodes`);

  assert.deepEqual(drive(reader, blobs, () => m.dbPull(rdb, '[:person/age]', '[:person/name "person 17"]'),
                         stats).ok, { r: [[17, 0]], k: [['person/age']] });

  // Writing through the cold connection: the transaction waits for its nodes too, and
  // a call that stopped for missing nodes changed nothing.
  const tx = drive(reader, blobs, () => m.connTransact(cold, '[{:person/name "person 5" :person/age 99}]'),
                   stats).ok;
  assert.equal(tx.txData.filter((d) => d[1] === ':person/age').length, 2);  // retract 5, add 99
  const more = m.storeTakePending(reader);
  assert.ok(more.blobs.length > 0 && more.blobs.length < 40, `${more.blobs.length} new blobs`);
  assert.equal(more.heads[0][0], 'main');
  assert.notDeepEqual(Array.from(more.heads[0][1]), Array.from(headBytes));

  for (const id of [wdb, rdb]) m.dbRelease(id);
  m.connRelease(conn);
  m.connRelease(cold);
  m.storeRelease(writer);
  m.storeRelease(reader);
});

test('a head provided as empty bytes is absent', () => {
  const s = m.storeCreate('buffer');
  m.storeProvideHead(s, 'main', new Uint8Array());
  assert.equal(ok(m.connExists(s)), false);
  assert.match(JSON.parse(m.connOpen(s)).error, /no database/);
  m.storeRelease(s);
});

test('a buffer store drops a blob once a call has decoded it; a replica store keeps every blob', () => {
  const writer = m.storeCreate('buffer');
  const conn = ok(m.connCreate(writer, ''));
  ok(m.connTransact(conn, SCHEMA));
  const { blobs, heads } = m.storeTakePending(writer);
  assert.equal(m.storeHas(writer, new TextDecoder().decode(heads[0][1])), false, 'taken blobs leave the buffer');
  const commit = new TextDecoder().decode(heads[0][1]);
  for (const kind of ['buffer', 'replica']) {
    const s = m.storeCreate(kind);
    m.storeProvideHead(s, 'main', heads[0][1]);
    for (const [addr, bytes] of blobs) m.storeProvide(s, addr, bytes);
    assert.equal(m.storeHas(s, commit), true);
    const c = ok(m.connOpen(s));  // reads and decodes the commit record
    assert.equal(m.storeHas(s, commit), kind === 'replica', `${kind}: the commit record after open`);
    m.connRelease(c);
    m.storeRelease(s);
  }
  m.connRelease(conn);
  m.storeRelease(writer);
});

test('sync helpers: blobVerify, zstdDecompress, storeHas, connApply + connFlush, connRefresh', () => {
  // A writer on a buffer store; a replica (another buffer store) fed its blobs and head.
  const writer = m.storeCreate('buffer');
  const conn = ok(m.connCreate(writer, ''));
  ok(m.connApply(conn, SCHEMA));
  ok(m.connApply(conn, people(0, 300)));
  const flush = ok(m.connFlush(conn));
  assert.equal(flush.transactions, 2);
  const first = m.storeTakePending(writer);
  assert.equal(new TextDecoder().decode(first.heads[0][1]), flush.commit);

  const [addr, blob] = first.blobs.find(([, b]) => b.length > 300);
  assert.equal(m.blobVerify(addr, blob), true);
  const bad = blob.slice();
  bad[bad.length - 1] ^= 1;
  assert.equal(m.blobVerify(addr, bad), false);
  assert.equal(m.blobVerify(addr, new Uint8Array()), false);
  assert.throws(() => m.blobVerify('xyz', blob), Error);
  // The same node as a zstd (codec 1) blob verifies against the same address.
  const canonical = blob.subarray(1);
  const zblob = Uint8Array.from([1, ...zstdRawFrame(canonical)]);
  assert.equal(m.blobVerify(addr, zblob), true);

  const frame = zstdRawFrame(canonical);
  assert.deepEqual(m.zstdDecompress(frame, canonical.length), canonical);
  assert.throws(() => m.zstdDecompress(frame, canonical.length + 1), /expected/);
  assert.throws(() => m.zstdDecompress(Uint8Array.from([...frame, 0]), canonical.length), /trailing/);
  assert.throws(() => m.zstdDecompress(frame.subarray(0, 20), canonical.length), /zstd/);

  const replica = m.storeCreate('buffer');
  for (const [a, b] of first.blobs) m.storeProvide(replica, a, b);
  m.storeProvideHead(replica, 'main', flush.commit);
  assert.equal(m.storeHas(replica, addr), true);
  assert.equal(m.storeHas(replica, '0'.repeat(32)), false);
  assert.deepEqual(m.storeTakeMissing(replica), [], 'storeHas records no miss');
  const rconn = ok(m.connOpen(replica));
  assert.equal(ok(m.connRefresh(rconn)), false);

  ok(m.connApply(conn, '[{:person/name "person 7" :person/age 70}]'));
  const second = ok(m.connFlush(conn));
  const more = m.storeTakePending(writer);
  assert.ok(more.blobs.length < 30, `${more.blobs.length} blobs for one datom`);
  for (const [a, b] of more.blobs) m.storeProvide(replica, a, b);
  m.storeProvideHead(replica, 'main', second.commit);
  assert.equal(ok(m.connRefresh(rconn)), true);
  assert.equal(m.connHead(rconn), second.commit);
  const rdb = m.connDb(rconn);
  assert.equal(ok(m.q('[:find ?a . :where [?e :person/name "person 7"] [?e :person/age ?a]]',
                      JSON.stringify([{ db: rdb }]))), 70);
  m.dbRelease(rdb);
  m.connRelease(rconn);
  m.connRelease(conn);
  m.storeRelease(replica);
  m.storeRelease(writer);
});

test('connApplyJson: entity maps as JSON text; malformed text, an integer beyond 64 bits, a bad keyword or a lone surrogate is an error that changes nothing', () => {
  const store = m.storeCreate('memory');
  const conn = ok(m.connCreate(store, '{"schemaFlexibility": "read"}'));
  // (In the raw reply a string that starts with ':' is written with a '\\' first.)
  const report = ok(m.connApplyJson(conn, '[{"db/id": "a", "p/name": "x", ":p/tag": ":t/one", "p/esc": "\\\\:s", "p/n": -3, "p/d": 2.5e-3, "p/all": [1, true, null]}]'));
  assert.deepEqual(report.txData.filter(([e]) => e === report.tempids.a).map(([, a, v]) => [a, v]).sort(),
    [[':p/all', [1, true, null]], [':p/d', 0.0025], [':p/esc', '\\:s'], [':p/n', -3], [':p/name', 'x'], [':p/tag', ':t/one']]);
  const db = m.connDb(conn);
  const before = ok(m.q('[:find (count ?e) . :where [?e :p/name]]', JSON.stringify([{ db }])));
  for (const [json, error] of [
    ['[{"a": 1}', /^JSON transaction data, byte 9: expected ',' or ']'/],
    ['{"a": 1}', /expected a JSON array of transaction forms/],
    ['[[":db/add", 1, "a", 2]]', /expected an object \(an entity map\)/],
    ['[{"a": 99999999999999999999}]', /expected an integer within 64 bits/],
    ['[{"a b": 1}]', /expected a valid keyword/],
    ['[{"a": ":"}]', /expected a valid keyword/],
    ['[{"a": "\\ud800"}]', /expected a paired surrogate/],
    ['[{"a": tru}]', /expected a value/],
    ['[{"a": 1, ":a": 2}]', /expected no duplicate key in an object/],
    [`[${'['.repeat(600)}${']'.repeat(600)}]`, /expected an object/],
    [`[{"a": ${'['.repeat(600)}${']'.repeat(600)}}]`, /expected nesting within 512 levels/],
  ]) {
    const r = JSON.parse(m.connApplyJson(conn, json));
    assert.equal(r.code, 'InvalidArgument', json);
    assert.match(r.error, error, json);
  }
  const after = m.connDb(conn);
  assert.equal(ok(m.q('[:find (count ?e) . :where [?e :p/name]]', JSON.stringify([{ db: after }]))), before);
  m.dbRelease(db);
  m.dbRelease(after);
  m.connRelease(conn);
  m.storeRelease(store);
});

test('memory store: 20 000 one-entity transactions fit (no flush, no stored versions)', () => {
  const store = m.storeCreate('memory');
  const conn = ok(m.connCreate(store, ''));
  ok(m.connTransact(conn, SCHEMA));
  const t0 = Date.now();
  for (let i = 0; i < 20000; i++) ok(m.connTransact(conn, `[{:person/name "p${i}" :person/age ${i % 90}}]`));
  const db = m.connDb(conn);
  assert.equal(ok(m.q('[:find (count ?e) . :where [?e :person/age]]', JSON.stringify([{ db }]))), 20000);
  console.log(`20 000 one-entity transactions on a memory store: ${Date.now() - t0} ms`);
  m.dbRelease(db);
  m.connRelease(conn);
  m.storeRelease(store);
});
