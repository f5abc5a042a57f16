// `datalith/local`: the module for pages with local databases only
// (wasm/dist/datalith_wasm_local.*, wasm/js/local.js and node-local.js; docs/wasm.md,
// "Local databases only"). Its raw calls against the full module's, a server's
// compressed blob met by it, and the API on it: local databases work end to end, what
// needs the full package is refused with an error naming it, and nothing is created.
// (Its size: pack.test.mjs; under the four bundlers: bundlers.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import FullWasm from '../dist/datalith_wasm.mjs';
import LocalWasm from '../dist/datalith_wasm_local.mjs';
import { init } from '../js/node-local.js';
import { zstdRawFrame } from './support/zstd.mjs';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const full = await FullWasm({ wasmBinary: fs.readFileSync(dist + 'datalith_wasm.wasm') });
const local = await LocalWasm({ wasmBinary: fs.readFileSync(dist + 'datalith_wasm_local.wasm') });

const ok = (json) => {
  const r = JSON.parse(json);
  assert.ok('ok' in r, `expected ok, got ${json}`);
  return r.ok;
};
// Calls of replicas and the sync client, and connApplyJson (transactions as JSON text:
// datalith/local sends EDN text).
const FULL_ONLY = ['blobRefs', 'blobVerify', 'connApplyJson', 'connApplyLog', 'connOpenView', 'connReadLog', 'connReset', 'zstdDecompress'];
const calls = (m) => Object.keys(m).filter((k) => typeof m[k] === 'function' && /^[a-z]/.test(k)).sort();

test('the local module has every call of the full one but those of replicas, the sync client and JSON transactions', () => {
  const all = calls(full);
  for (const name of FULL_ONLY) assert.ok(all.includes(name), `the full module has ${name}`);
  assert.ok(all.includes('connTransact') && all.includes('q') && all.includes('storeTakeMissing'));
  assert.deepEqual(calls(local), all.filter((k) => !FULL_ONLY.includes(k)));
  assert.equal(local.version(), full.version());
});

test('a store the local module wrote (raw blobs) opens in it again; the same store with zstd-compressed blobs: it says what it lacks and changes nothing, the full module reads it', () => {
  // A database written by the local module: its blobs are raw (codec 0), which it reads.
  const writer = local.storeCreate('buffer');
  const conn = ok(local.connCreate(writer, ''));
  ok(local.connApply(conn, '[{:db/ident :p/name :db/valueType :db.type/string}]'));
  ok(local.connApply(conn, `[${Array.from({ length: 400 }, (_, i) => `{:p/name "person ${i}"}`).join(' ')}]`));
  const { commit } = ok(local.connFlush(conn));
  local.connRelease(conn);
  const { blobs } = local.storeTakePending(writer);
  local.storeRelease(writer);
  assert.ok(blobs.length > 4 && blobs.every(([, b]) => b[0] === 0), 'the local module writes raw blobs');

  const QUERY = '[:find (count ?e) . :where [?e :p/name]]';
  const open = (m, stored) => {
    const s = m.storeCreate('buffer');
    for (const [addr, b] of stored) m.storeProvide(s, addr, b);
    m.storeProvideHead(s, 'main', commit);
    return s;
  };
  const count = (m, stored) => {
    const s = open(m, stored);
    const c = ok(m.connOpen(s));
    const db = m.connDb(c);
    const n = ok(m.q(QUERY, JSON.stringify([{ db }])));
    m.dbRelease(db);
    m.connRelease(c);
    m.storeRelease(s);
    return n;
  };
  assert.equal(count(local, blobs), 400);
  assert.equal(count(full, blobs), 400);  // the same bytes under either module

  // Its larger blobs recompressed as a server would send them (codec 1: one zstd frame
  // of the canonical bytes).
  const compressed = blobs.map(([addr, b]) => [addr, b.length > 257 ? Uint8Array.from([1, ...zstdRawFrame(b.subarray(1))]) : b]);
  assert.ok(compressed.filter(([, b]) => b[0] === 1).length >= 2, 'some blobs are compressed');
  const s = open(local, compressed);
  const reply = JSON.parse(local.connOpen(s));
  assert.equal(reply.code, 'Unsupported', JSON.stringify(reply));
  assert.match(reply.error, /^node [0-9a-f]{32}: a zstd-compressed blob \(a server's\): datalith\/local reads the local databases the package writes; import 'datalith' to read it/);
  assert.deepEqual(local.storeTakePending(s), { blobs: [], heads: [] }, 'nothing written');
  local.storeRelease(s);
  assert.equal(count(full, compressed), 400);
});

test('datalith/local in Node: a local database end to end; a replica and a published database refused, nothing created', async () => {
  const d = await init();
  const cfg = { store: { backend: 'memory', id: 'local-only' }, schemaFlexibility: 'read' };
  await d.createDatabase(cfg);
  const conn = await d.connect(cfg);
  const reports = [];
  conn.listen((r) => reports.push(r));
  const { txId, tempids } = await conn.transact([{ 'db/id': 'w', 'product/sku': 'W001', 'product/name': 'Widget' }]);
  assert.deepEqual(await d.q('[:find [?n ...] :where [_ :product/name ?n]]', conn.db()), ['Widget']);
  assert.deepEqual(await conn.db().pull('[:product/sku]', tempids.w), { 'product/sku': 'W001' });
  assert.equal(reports.length, 1);
  assert.deepEqual((await conn.log()).map((t) => t.txId), [txId]);
  await assert.rejects(d.q('[:find ?n :where [?e :product/name ?n]', conn.db()), /line 1, col \d+/);
  await conn.close();

  const refused = (what) => (e) => {
    assert.equal(e.code, 'local_only');
    assert.equal(e.message, `${what} needs the full package: datalith/local opens local databases only (memory, indexeddb); import { init } from 'datalith'`);
    return true;
  };
  const replica = { store: { backend: 'memory', id: 'replica' }, sync: { url: 'ws://127.0.0.1:9', db: 'x' } };
  await assert.rejects(d.connect(replica), refused('a replica (config.sync)'));
  assert.equal(await d.databaseExists(replica), false);
  const published = { store: { backend: 'http', url: 'http://127.0.0.1:9/db/' } };
  for (const op of ['connect', 'databaseExists', 'deleteDatabase']) {
    await assert.rejects(d[op](published), refused('a published database (the http backend)'), op);
  }
  // What the full package refuses too is refused as there.
  await assert.rejects(d.createDatabase(published), (e) => e.code === 'read_only');
  await assert.rejects(d.connect({ ...published, sync: replica.sync }), /read-only: it takes no config.sync/);
  // The local database is still there, as it was.
  const again = await d.connect(cfg);
  assert.deepEqual(await d.q('[:find [?n ...] :where [_ :product/name ?n]]', again.db()), ['Widget']);
  await again.close();
});
