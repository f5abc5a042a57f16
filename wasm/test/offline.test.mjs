// Offline writes on replicas (docs/offline.md) against a real datalith-server on
// 127.0.0.1, in Node (memory replicas): the outbox and its optimistic view, sending on
// reconnect, a lost answer resent and committed once, a rejected pending write, discard.
// Every check of the server's database is made through a fresh replica.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { init } from '../js/node.js';
import WsSocket from 'ws';
import { findServer, TestServer } from './support/sync-server.mjs';
import { waitFor } from './support/wait.mjs';

const { path: BINARY, why } = findServer();
const d = await init();
let server;
let n = 0;

const cfg = (extra = {}) => ({
  store: { backend: 'memory', id: `offline-${++n}` },
  sync: { url: server.url, db: 'inv', token: 'w', backoff: { initialMs: 50, maxMs: 400 }, WebSocket: WsSocket, ...extra },
});

const qtyOf = (db, sku) => d.q('[:find ?q . :in $ ?s :where [?e :item/sku ?s] [?e :item/qty ?q]]', db, sku);
const entitiesWith = (db, sku) => d.q('[:find (count ?e) . :in $ ?s :where [?e :item/sku ?s]]', db, sku);

// The server's database as a fresh replica sees it.
async function onServer(fn) {
  const c = await d.connect(cfg());
  try {
    await c.synced();
    return await fn(c.db());
  } finally {
    await c.close();
  }
}

before(async () => {
  if (!BINARY) return;
  server = await new TestServer(BINARY).start();
  // :item/sku is not unique here, so a write sent twice would show as two entities.
  await server.transact('[{:db/ident :item/sku :db/valueType :db.type/string :db/index true}' +
    ' {:db/ident :item/code :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :item/qty :db/valueType :db.type/long}]');
  await server.transact('[{:item/sku "base" :item/qty 1}]');
});

after(async () => {
  await server?.stop();
});

const opts = { skip: BINARY ? false : why, timeout: 60000 };

test('offline: writes apply at once, wait in the outbox, go out on reconnect and commit once', opts, async () => {
  const a = await d.connect(cfg());
  await a.synced();
  const events = [];
  a.onSync((e) => events.push(e));
  const heard = [];
  a.listen((r) => heard.push(r));

  await server.kill();
  await waitFor(() => a.syncState === 'offline', 'offline');
  const first = a.transact([{ 'item/sku': 'off-1', 'item/qty': 1 }]);
  const local = await a.transact([{ 'db/id': 't', 'item/sku': 'off-2', 'item/qty': 2 }], { wait: 'local' });
  assert.equal(local.pending, true);
  assert.ok(Number.isInteger(local.tempids.t), 'a provisional id for the tempid');
  assert.match(local.clientId, /^c-[0-9a-f]{24}$/);
  assert.equal(await qtyOf(a.db(), 'off-1'), 1, 'the view shows the pending write');
  assert.equal(await qtyOf(a.db(), 'off-2'), 2);
  assert.equal(a.pending, 2);
  assert.deepEqual(a.outbox().map((e) => e.state), ['pending', 'pending']);
  assert.deepEqual(heard.filter((r) => r.pending).map((r) => r.clientId).length, 2, 'listeners hear pending writes');
  assert.equal(events.filter((e) => e.type === 'outbox').at(-1).pending, 2);

  // A write that does not apply to the replica is refused at once and stored nowhere.
  await assert.rejects(a.transact([{ 'item/sku': 'x', 'no/such': 1 }]), (e) => e.code === 'tx_failed' && /no\/such/.test(e.message));
  assert.equal(a.pending, 2);

  await server.restart();
  const report = await first;
  assert.ok(!report.pending && Number.isInteger(report.txId));
  await waitFor(() => a.pending === 0, 'the outbox drained');
  assert.equal(await qtyOf(a.db(), 'off-2'), 2, 'now from the server snapshot');
  assert.deepEqual(a.outbox(), []);
  assert.equal(await onServer((db) => entitiesWith(db, 'off-1')), 1);
  assert.equal(await onServer((db) => entitiesWith(db, 'off-2')), 1);
  assert.equal(events.filter((e) => e.type === 'outbox').at(-1).pending, 0);
  await a.close();
});

// A WebSocket that loses the first `tx_ok` it receives and drops the connection with
// it: the server committed the write, the client never heard.
function losingFirstAnswer() {
  let lost = 0;
  return {
    get lost() { return lost; },
    WebSocket: class extends WsSocket {
      set onmessage(fn) {
        super.onmessage = (ev) => {
          if (lost === 0 && typeof ev.data === 'string' && ev.data.includes('"tx_ok"')) {
            lost++;
            this.terminate();
            return;
          }
          fn(ev);
        };
      }
      get onmessage() { return super.onmessage; }
    },
  };
}

test('a lost answer: the write is sent again with its client id and committed once', opts, async () => {
  const sock = losingFirstAnswer();
  const a = await d.connect(cfg({ WebSocket: sock.WebSocket }));
  await a.synced();
  const report = await a.transact([{ 'db/id': 'x', 'item/sku': 'lost-1', 'item/qty': 7 }]);
  assert.equal(sock.lost, 1, 'the first answer was lost');
  assert.ok(a.syncStats().reconnects >= 1);
  assert.equal(report.duplicate, true, 'the resend was answered with the original outcome');
  assert.ok(Number.isInteger(report.tempids.x));
  assert.equal(await qtyOf(a.db(), 'lost-1'), 7);
  assert.equal(await onServer((db) => entitiesWith(db, 'lost-1')), 1, 'committed once');
  const ids = await onServer((db) => d.q('[:find [?e ...] :in $ ?s :where [?e :item/sku ?s]]', db, 'lost-1'));
  assert.deepEqual(ids, [report.tempids.x], 'the tempid maps to the one entity');
  await a.close();
});

test('a pending write the server rejects: out of the view, an event, kept until discarded, told to a reopened replica', opts, async () => {
  await server.transact('[{:item/code "cas-1" :item/qty 1}]');
  const config = cfg();
  const a = await d.connect(config);
  await a.synced();
  await server.kill();
  await waitFor(() => a.syncState === 'offline', 'offline');
  await a.transact('[[:db/cas [:item/code "cas-1"] :item/qty 1 2]]', { wait: 'local' });
  const kept = a.transact('[{:item/sku "kept-1" :item/qty 3}]');
  assert.equal(await d.q('[:find ?q . :where [?e :item/code "cas-1"] [?e :item/qty ?q]]', a.db()), 2);
  await a.close();
  await assert.rejects(kept, /closed/, 'the promise ends with the connection; the write stays in the outbox');

  // Meanwhile someone else changes the value the :db/cas expects.
  await server.restart();
  await server.transact('[{:item/code "cas-1" :item/qty 5}]');

  const b = await d.connect(config);  // the same replica: its outbox is still there
  assert.equal(b.pending, 2);
  const rejected = [];
  b.onSync((e) => { if (e.type === 'rejected') rejected.push(e); });
  await waitFor(() => rejected.length === 1 && b.pending === 0, 'the rejection');
  assert.equal(rejected[0].error.code, 'tx_failed');
  assert.match(rejected[0].tx, /db\/cas/);
  assert.equal(await d.q('[:find ?q . :where [?e :item/code "cas-1"] [?e :item/qty ?q]]', b.db()), 5, 'the server\'s value');
  assert.equal(await qtyOf(b.db(), 'kept-1'), 3, 'the other pending write committed');
  assert.deepEqual(b.outbox().map((e) => e.state), ['rejected']);

  // A page registering later still learns of it, until the app discards it.
  const told = [];
  b.onSync((e) => { if (e.type === 'rejected') told.push(e.clientId); });
  await waitFor(() => told.length === 1, 'the kept rejection told again');
  assert.equal(told[0], rejected[0].clientId);
  await b.discard(told[0]);
  assert.deepEqual(b.outbox(), []);
  await assert.rejects(b.discard(told[0]), (e) => e.code === 'not_found');
  await b.close();
});

test('discard: a pending write not yet sent leaves the view and rejects its promise', opts, async () => {
  const a = await d.connect(cfg());
  await a.synced();
  await server.kill();
  await waitFor(() => a.syncState === 'offline', 'offline');
  const p = a.transact('[{:item/sku "dropped" :item/qty 1}]');
  await waitFor(() => a.pending === 1, 'the write in the outbox');
  const [entry] = a.outbox();
  assert.equal(await qtyOf(a.db(), 'dropped'), 1);
  await a.discard(entry.clientId);
  await assert.rejects(p, (e) => e.code === 'discarded');
  assert.equal(await qtyOf(a.db(), 'dropped'), null);
  assert.equal(a.pending, 0);
  await server.restart();
  await a.synced();
  assert.equal(await onServer((db) => entitiesWith(db, 'dropped')), null, 'never sent');
  await assert.rejects(a.transact('[]', { wait: 'soon' }), /wait must be/);
  await a.close();
});
