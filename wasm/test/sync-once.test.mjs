// Exactly-once writes against a real datalith-server on 127.0.0.1 (docs/sync-protocol.md
// §5.4): a `tx` with a `client` id, resent on the same socket, on a new one, and after
// the server was killed with SIGKILL, is answered with the original tx id and tempids
// and "duplicate": true, and the database holds its entity once; the same through
// POST /db/NAME/transact with an Idempotency-Key header. Raw protocol messages over the
// `ws` package, since the npm client does not send `client` ids itself (yet); a replica of
// the npm package checks what the server's database holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { init } from '../js/node.js';
import WsSocket from 'ws';
import { findServer, TestServer } from './support/sync-server.mjs';
import { waitFor } from './support/wait.mjs';

const { path: BINARY, why } = findServer();
const opts = { skip: BINARY ? false : why, timeout: 60000 };
const d = BINARY ? await init() : null;
let server;
let n = 0;

// One protocol session: hello, then `tx` requests answered by id (heads are acked).
class RawSession {
  static async open(url) {
    const s = new RawSession();
    s.ws = new WsSocket(url);
    s.answers = new Map();
    s.waiters = new Map();
    s.ws.on('message', (data, binary) => {
      if (binary) return;
      const m = JSON.parse(data.toString());
      if (m.type === 'welcome') s.welcome = m;
      if (m.type === 'head') s.ws.send(JSON.stringify({ type: 'ack', commit: m.commit }));
      if ((m.type === 'tx_ok' || m.type === 'error') && m.id !== undefined) {
        s.answers.set(m.id, m);
        s.waiters.get(m.id)?.(m);
      }
    });
    await new Promise((resolve, reject) => { s.ws.once('open', resolve); s.ws.once('error', reject); });
    s.ws.send(JSON.stringify({ type: 'hello', protocol: 2, db: 'inv', token: 'w', have: null }));
    await waitFor(() => s.welcome, 'welcome');
    return s;
  }

  send(id, tx, client) {
    this.ws.send(JSON.stringify(client === undefined ? { type: 'tx', id, tx } : { type: 'tx', id, tx, client }));
  }

  // Sends a tx and resolves with its answer (tx_ok or error).
  tx(id, tx, client) {
    const answer = new Promise((resolve) => this.waiters.set(id, resolve));
    this.send(id, tx, client);
    return answer;
  }

  close() { this.ws.terminate(); }
}

// POST /db/inv/transact with the write token and, if given, an Idempotency-Key.
async function post(edn, key) {
  const headers = { Authorization: 'Bearer w' };
  if (key !== undefined) headers['Idempotency-Key'] = key;
  const res = await fetch(`${server.http}/db/inv/transact`, { method: 'POST', headers, body: edn });
  return { status: res.status, body: await res.json() };
}

// How many entities of the server's database have :order/sku `sku`, read by a fresh
// replica of the npm package once it is live at the server's head (or `tx`).
async function ordersOnServer(sku, tx) {
  const r = await d.connect({
    store: { backend: 'memory', id: `once-${++n}` },
    sync: { url: server.url, db: 'inv', token: 'r', backoff: { initialMs: 100, maxMs: 800 } },
  });
  try {
    await r.synced();
    if (tx) await waitFor(() => r.db().basisT >= tx, `the replica at tx ${tx}`);
    return await d.q('[:find (count ?e) . :in $ ?s :where [?e :order/sku ?s]]', r.db(), sku) ?? 0;
  } finally {
    await r.close();
  }
}

const order = (sku) => `[{:db/id "o" :order/sku "${sku}" :order/qty 2}]`;

before(async () => {
  if (!BINARY) return;
  server = await new TestServer(BINARY).start();
  await server.transact('[{:db/ident :order/sku :db/valueType :db.type/string}' +
    ' {:db/ident :order/qty :db/valueType :db.type/long}]');
});

after(async () => {
  if (server) await server.stop();
});

test('welcome lists the client_ids feature', opts, async () => {
  const s = await RawSession.open(server.url);
  assert.deepEqual(s.welcome.features, ['client_ids']);
  assert.equal(s.welcome.protocol, 2);
  s.close();
});

test('a resent client id, on the same and on a new session, is the original outcome', opts, async () => {
  // A live replica meanwhile: it replays the commit that records the id as a log.
  const live = await d.connect({
    store: { backend: 'memory', id: `once-${++n}` },
    sync: { url: server.url, db: 'inv', token: 'r', backoff: { initialMs: 100, maxMs: 800 } },
  });
  await live.synced();
  const a = await RawSession.open(server.url);
  const first = await a.tx(1, order('once-1'), 'tab-a:1');
  assert.equal(first.type, 'tx_ok', JSON.stringify(first));
  assert.equal(first.duplicate, undefined);
  assert.ok(Number.isInteger(first.tempids.o));
  assert.equal(first.tempids['datomic.tx'], first.tx);
  const headBefore = (await server.metrics()).databases.inv.head;

  const again = await a.tx(2, order('once-1'), 'tab-a:1');
  assert.equal(again.type, 'tx_ok', JSON.stringify(again));
  assert.equal(again.duplicate, true);
  assert.equal(again.tx, first.tx);
  assert.deepEqual(again.tempids, first.tempids);
  assert.equal(again.commit, first.commit, 'no commit since: the durable head holds the original');
  assert.equal((await server.metrics()).databases.inv.head, headBefore, 'a duplicate makes no commit');
  a.close();

  const b = await RawSession.open(server.url);
  const fromB = await b.tx(1, order('once-1'), 'tab-a:1');
  assert.equal(fromB.duplicate, true);
  assert.equal(fromB.tx, first.tx);
  assert.deepEqual(fromB.tempids, first.tempids);
  // Two copies sent back to back (likely one group commit): one applies.
  const [x, y] = await Promise.all([b.tx(2, order('once-2'), 'tab-b:1'), b.tx(3, order('once-2'), 'tab-b:1')]);
  assert.equal(x.tx, y.tx);
  assert.deepEqual(x.tempids, y.tempids);
  assert.equal([x, y].filter((m) => m.duplicate).length, 1);
  b.close();

  assert.equal(await ordersOnServer('once-1'), 1);
  assert.equal(await ordersOnServer('once-2'), 1);
  await waitFor(() => live.db().basisT >= y.tx, 'the live replica at the writes');
  assert.equal(await d.q('[:find (count ?e) . :where [?e :order/sku "once-1"]]', live.db()), 1);
  assert.equal(await d.q('[:find ?tx . :where [?tx :datalith.tx/client "tab-a:1"]]', live.db()), first.tx,
    'the client id replicates with its transaction');
  await live.close();
  assert.equal((await server.metrics()).databases.inv.tx_duplicates, 3);
});

test('a bad client id is tx_failed naming the field, and the session goes on', opts, async () => {
  const s = await RawSession.open(server.url);
  for (const [id, client] of [[1, 'has space'], [2, ''], [3, 'x'.repeat(65)], [4, 17]]) {
    const m = await s.tx(id, order('bad'), client);
    assert.equal(m.type, 'error');
    assert.equal(m.code, 'tx_failed');
    assert.match(m.message, /"client"/);
  }
  const ok = await s.tx(5, order('bad'), 'fine.one');
  assert.equal(ok.type, 'tx_ok');
  s.close();
  assert.equal(await ordersOnServer('bad'), 1, 'rejected ids applied nothing');
});

test('after kill -9 right after a commit, the resend is a duplicate', opts, async () => {
  const s = await RawSession.open(server.url);
  const first = await s.tx(1, order('killed-1'), 'tab-k:1');
  assert.equal(first.type, 'tx_ok');
  await server.kill();  // as soon as the answer is out: it was durable before it
  // Another one whose answer is lost with the server: committed or not, never twice.
  const lost = await RawSession.open(await server.restart().then(() => server.url));
  lost.send(1, order('killed-2'), 'tab-k:2');
  await server.kill();
  await server.restart();

  const t = await RawSession.open(server.url);
  const again = await t.tx(1, order('killed-1'), 'tab-k:1');
  assert.equal(again.duplicate, true);
  assert.equal(again.tx, first.tx);
  assert.deepEqual(again.tempids, first.tempids);
  const second = await t.tx(2, order('killed-2'), 'tab-k:2');
  assert.equal(second.type, 'tx_ok');
  const third = await t.tx(3, order('killed-2'), 'tab-k:2');
  assert.equal(third.duplicate, true);
  assert.equal(third.tx, second.tx);
  t.close();
  assert.equal(await ordersOnServer('killed-1'), 1);
  assert.equal(await ordersOnServer('killed-2'), 1);
});

test('POST /db/NAME/transact with an Idempotency-Key applies once', opts, async () => {
  const first = await post(order('http-1'), 'http:1');
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.duplicate, undefined);
  const again = await post(order('http-1'), 'http:1');
  assert.equal(again.status, 200);
  assert.equal(again.body.duplicate, true);
  assert.equal(again.body.tx, first.body.tx);
  assert.deepEqual(again.body.tempids, first.body.tempids);
  // The key and the `client` field are the same id.
  const s = await RawSession.open(server.url);
  const viaWs = await s.tx(1, order('http-1'), 'http:1');
  assert.equal(viaWs.duplicate, true);
  assert.equal(viaWs.tx, first.body.tx);
  s.close();
  const bad = await post(order('http-1'), 'no spaces');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'tx_failed');
  assert.match(bad.body.message, /Idempotency-Key/);
  const none = await post(order('http-1'));
  assert.equal(none.status, 200, 'without a key every POST applies');
  assert.equal(await ordersOnServer('http-1'), 2);
});
