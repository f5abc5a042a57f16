// The sync client (wasm/js/sync.js) against a real datalith-server on 127.0.0.1: Node
// replicas on the memory backend, WebSocket from the npm `ws` package. Full sync, small
// pushed diffs, writes through the socket, synced(), fatal errors, the server killed
// (offline reads) and restarted (reconnect, catch up), and probe negotiation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { init } from '../js/node.js';
import WsSocket from 'ws';
import { findServer, TestServer } from './support/sync-server.mjs';
import { waitFor } from './support/wait.mjs';

const { path: BINARY, why } = findServer();
const ITEMS = 10000;
const d = await init();
const servers = [];
let server;
let n = 0;

const cfg = (url, token = 'w', extra = {}) => ({
  store: { backend: 'memory', id: `sync-${++n}` },
  sync: { url, db: 'inv', token, backoff: { initialMs: 100, maxMs: 800 }, ...extra },
});

// Records a connection's onSync events.
function record(conn) {
  const events = [];
  conn.onSync((ev) => events.push({ ...ev, at: performance.now() }));
  return events;
}
const updates = (events) => events.filter((e) => e.type === 'update');

const countItems = (db) => d.q('[:find (count ?e) . :where [?e :item/sku]]', db);
const qtyOf = (db, sku) => d.q('[:find ?q . :in $ ?s :where [?e :item/sku ?s] [?e :item/qty ?q]]', db, sku);

async function startServer(args = []) {
  const s = await new TestServer(BINARY, { args }).start();
  servers.push(s);
  await s.transact('[{:db/ident :item/sku :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :item/qty :db/valueType :db.type/long}]');
  const items = [];
  for (let i = 0; i < ITEMS; i++) items.push(`{:item/sku "sku-${i}" :item/qty ${i % 97}}`);
  await s.transact(`[${items.join(' ')}]`);
  return s;
}

before(async () => {
  if (BINARY) server = await startServer();
});

after(async () => {
  for (const s of servers) await s.stop();
});

const opts = { skip: BINARY ? false : why, timeout: 60000 };

test('two replicas: full sync, then a write through one reaches the other as a small diff', opts, async () => {
  const a = await d.connect(cfg(server.url));
  assert.equal(a.syncState, 'connecting', 'connect does not wait for the server');
  const ae = record(a);
  assert.equal(await countItems(a.db()), null, 'before the first update: an empty database');
  const t0 = performance.now();
  await a.synced();
  const full = updates(ae)[0];
  console.log(`full sync of ${ITEMS} items: ${full.nodes} nodes, ${full.bytes} bytes stored, ` +
    `${full.frameBytes} bytes on the wire in ${full.frames} frame(s), ${(performance.now() - t0).toFixed(0)} ms to live`);
  assert.equal(a.syncState, 'live');
  assert.ok(full.nodes > 40, `a multi-level tree: ${full.nodes} nodes`);
  assert.ok(ae.some((e) => e.type === 'state' && e.state === 'syncing'));
  assert.equal(await countItems(a.db()), ITEMS);
  assert.equal(await qtyOf(a.db(), 'sku-500'), 500 % 97);
  assert.deepEqual(a.syncStats().nodes, full.nodes);

  const b = await d.connect(cfg(server.url));
  const be = record(b);
  const heard = [];
  b.listen((r) => heard.push(r));
  await b.synced();
  assert.equal(heard.length, 1, 'listeners run for the first update');
  assert.equal(heard[0].reset, true, 'a first sync does not say what changed');
  assert.equal(await countItems(b.db()), ITEMS);
  const basis = b.db().basisT;

  // A write through A: resolves with the server's report once A holds its commit.
  const sent = performance.now();
  const report = await a.transact([{ 'db/id': 'new', 'item/sku': 'new-1', 'item/qty': 5 }]);
  assert.ok(report.txId > basis);
  assert.ok(Number.isInteger(report.tempids.new));
  assert.equal(report.tempids['datomic.tx'], report.txId);
  assert.equal(await qtyOf(a.db(), 'new-1'), 5, 'the write is in A when transact resolves');
  assert.ok(a.db().basisT >= report.txId);
  const mine = updates(ae).at(-1);
  assert.ok(mine.tx >= report.txId);

  // ...and reaches B as its log: one segment of datoms, which B replays itself.
  const pushed = await waitFor(() => updates(be).find((u) => u.tx >= report.txId), 'the update in B');
  const latency = pushed.at - sent;
  assert.equal(await qtyOf(b.db(), 'new-1'), 5);
  assert.equal(pushed.apply, 'log');
  assert.equal(pushed.nodes, 1, 'one log segment, not the changed nodes');
  assert.ok(pushed.frameBytes < 512, `${pushed.frameBytes} bytes on the wire`);
  // B's listeners see what changed, as on a local connection.
  const told = heard.at(-1);
  assert.equal(told.txId, report.txId);
  assert.equal(told.commit, pushed.commit);
  assert.equal(told.reset, undefined);
  assert.deepEqual(told.txData.filter((x) => x[0] === report.tempids.new),
    [[report.tempids.new, ':item/sku', 'new-1', report.txId, true], [report.tempids.new, ':item/qty', 5, report.txId, true]]);
  console.log(`one-entity write: ${pushed.nodes} log segment, ${pushed.bytes} bytes (${pushed.frameBytes} on the wire) ` +
    `to the other replica, ${latency.toFixed(1)} ms from transact() to visible there; A resolved after ${mine.nodes} blob(s)`);

  // Commit to visible in the other replica, 30 times.
  const lat = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    const r = await a.transact([{ 'item/sku': `lat-${i}`, 'item/qty': i }]);
    const u = await waitFor(() => updates(be).find((e) => e.tx >= r.txId), 'the update in B', 5000);
    lat.push(u.at - t);
  }
  lat.sort((x, y) => x - y);
  console.log(`transact() in A to visible in B, 30 writes: median ${lat[15].toFixed(1)} ms, max ${lat[29].toFixed(1)} ms` +
    `; server tx latency (submit to durable) p50 ≤ ${JSON.stringify((await server.metrics()).databases?.inv?.tx_latency_ms?.p50 ?? (await server.metrics()))} ms`);

  // Concurrent writes: each answered; a failing one does not affect the others.
  const results = await Promise.allSettled([
    a.transact([{ 'item/sku': 'new-2', 'item/qty': 6 }]),
    a.transact([{ 'item/sku': 'new-3', 'no/such': 1 }]),
    b.transact('[{:item/sku "new-4" :item/qty 8}]'),
  ]);
  assert.equal(results[0].status, 'fulfilled');
  assert.equal(results[1].status, 'rejected');
  assert.equal(results[1].reason.code, 'tx_failed');
  assert.match(results[1].reason.message, /no\/such/);
  assert.equal(results[2].status, 'fulfilled');
  await waitFor(async () => (await qtyOf(a.db(), 'new-4')) === 8 && (await qtyOf(b.db(), 'new-2')) === 6, 'both writes in both');
  await a.close();
  await b.close();
});

// A WebSocket that announces a log update's head under another address the first time
// (as if this build replayed the log to a different commit), and translates the
// client's `resend` back: the client must reject its replay, ask for the nodes, and
// end equal to the server.
function misannouncingSocket(state) {
  return class extends WsSocket {
    set onmessage(fn) {
      super.onmessage = (ev) => {
        if (typeof ev.data === 'string' && !state.done) {
          const m = JSON.parse(ev.data);
          if (m.type === 'head' && m.apply === 'log') {
            state.done = true;
            state.real = m.commit;
            state.fake = m.commit.replace(/^./, (c) => (c === '0' ? '1' : '0'));
            return fn({ data: JSON.stringify({ ...m, commit: state.fake }) });
          }
        }
        return fn(ev);
      };
    }
    send(data) {
      if (typeof data === 'string' && state.fake && data.includes(state.fake)) {
        const m = JSON.parse(data);
        assert.equal(m.type, 'resend');
        state.resent = m;
        return super.send(JSON.stringify({ ...m, commit: state.real }));
      }
      return super.send(data);
    }
  };
}

test('a log that does not rebuild the announced commit: nothing stored, the nodes asked for, equal in the end', opts, async () => {
  const state = {};
  const r = await d.connect(cfg(server.url, 'w', { WebSocket: misannouncingSocket(state) }));
  const events = record(r);
  const heard = [];
  r.listen((x) => heard.push(x));
  await r.synced();
  const report = await r.transact([{ 'item/sku': 'mis-1', 'item/qty': 3 }]);
  await waitFor(() => r.syncStats().resends === 1 && r.syncState === 'live' && r.db().basisT >= report.txId, 'the fallback');
  assert.ok(state.resent, 'the client sent resend');
  assert.match(state.resent.reason, /did not rebuild/);
  const last = updates(events).at(-1);
  assert.equal(last.apply, 'nodes');
  assert.equal(last.commit, state.real);
  assert.equal(await qtyOf(r.db(), 'mis-1'), 3);
  const other = await fresh(server);
  assert.equal(await countItems(r.db()), await countItems(other.db()));
  await other.close();
  // The listener heard the transaction once, from the node update's log.
  const fromServer = heard.filter((x) => x.txId === report.txId && !x.pending && !x.reset);
  assert.equal(fromServer.length, 1);
  assert.ok(fromServer[0].txData.some((x) => x[2] === 'mis-1'));
  assert.equal(heard.filter((x) => x.pending).length, 1, 'and once as the pending write');
  await r.close();
});

// A new replica of `s`, synced.
async function fresh(s) {
  const c = await d.connect(cfg(s.url));
  await c.synced();
  return c;
}

test('synced(), read-only tokens, and fatal errors', opts, async () => {
  const r = await d.connect(cfg(server.url, 'r'));
  await r.synced();
  await r.synced();  // live: resolves at once
  assert.ok((await countItems(r.db())) >= ITEMS);
  await assert.rejects(r.transact([{ 'item/sku': 'x' }]), (e) => e.code === 'forbidden' && /read-only/.test(e.message));
  await r.close();
  await assert.rejects(r.synced(), /closed/);

  const bad = await d.connect(cfg(server.url, 'not-a-token'));
  const events = record(bad);
  await assert.rejects(bad.synced(), (e) => e.code === 'bad_token');
  assert.equal(bad.syncState, 'offline');
  assert.ok(events.some((e) => e.type === 'error' && e.fatal));
  await assert.rejects(bad.transact([{ 'item/sku': 'x' }]), (e) => e.code === 'bad_token');
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(bad.syncStats().reconnects, 0, 'no retry after a fatal close');
  assert.equal(await countItems(bad.db()), null, 'the (empty) replica still answers');
  await bad.close();

  // A name the server does not host is answered as a wrong token (no name enumeration).
  const unknown = await d.connect({ ...cfg(server.url), sync: { url: server.url, db: 'nope', token: 'w' } });
  await assert.rejects(unknown.synced(), (e) => e.code === 'bad_token');
  await unknown.close();

  await assert.rejects(d.connect({ store: { backend: 'memory', id: 'x' }, sync: { url: 'http://x', db: 'inv', token: '' } }),
    /ws:\/\//);
});

test('server killed: offline, queries answer; restarted: reconnect and catch up with the missing nodes', opts, async () => {
  const config = cfg(server.url);
  const a = await d.connect(config);
  await a.synced();
  const events = record(a);
  const before = await countItems(a.db());

  await server.kill();
  await waitFor(() => a.syncState === 'offline', 'offline');
  assert.equal(await countItems(a.db()), before, 'queries answer from the replica');
  assert.equal(await qtyOf(a.db(), 'sku-7'), 7);
  let settled = false;
  const syncedAgain = a.synced().then(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(settled, false, 'synced() waits while offline');

  // A second connect() to the replica while offline opens it at once.
  const again = await d.connect(config);
  assert.equal(await countItems(again.db()), before);
  await again.close();

  const heard = [];
  a.listen((r) => heard.push(r));
  await server.restart();
  // Six commits while the replica is away: its listeners get each transaction once, in
  // order, from the catch-up's logs.
  const away = [];
  for (let i = 0; i < 5; i++) away.push(await server.transact(`[{:item/sku "away-${i}" :item/qty ${i}}]`));
  const written = await server.transact('[{:item/sku "while-away" :item/qty 42}]');
  away.push(written);
  await waitFor(async () => (await qtyOf(a.db(), 'while-away')) === 42, 'the catch-up');
  const heardTx = heard.map((r) => r.txId);
  assert.deepEqual(heardTx.filter((t) => away.some((w) => w.tx === t)), away.map((w) => w.tx), 'each once, in order');
  assert.ok(heard.every((r) => !r.reset), 'no transaction skipped');
  assert.ok(heard.find((r) => r.txId === written.tx).txData.some((x) => x[2] === 'while-away'));
  await syncedAgain;
  assert.equal(a.syncState, 'live');
  const catchUp = updates(events).find((u) => u.tx >= written.tx);
  console.log(`catch-up after a restart: ${catchUp.nodes} nodes, ${catchUp.bytes} bytes, ` +
    `${a.syncStats().reconnects} reconnect attempt(s)`);
  assert.ok(catchUp.nodes <= 40, `${catchUp.nodes} nodes, not the database`);
  assert.ok(a.syncStats().reconnects >= 1);
  assert.deepEqual(events.filter((e) => e.type === 'state').map((e) => e.state).slice(0, 1), ['offline']);
  assert.ok(events.some((e) => e.type === 'state' && e.state === 'offline' && e.retryInMs > 0));
  await a.close();
});

test('a replica whose commit the server does not know: probe negotiation, then the server\'s head', opts, async () => {
  const config = cfg(server.url);
  const a = await d.connect(config);
  await a.synced();
  const had = await countItems(a.db());
  await a.close();

  const other = await startServer();  // another store: none of its commits is known to the replica
  await other.transact('[{:item/sku "elsewhere" :item/qty 1}]');
  const b = await d.connect({ ...config, sync: { ...config.sync, url: other.url } });
  const events = record(b);
  assert.equal(await countItems(b.db()), had, 'opens the old replica at once');
  await b.synced();
  const probes = events.filter((e) => e.type === 'probe');
  assert.ok(probes.length >= 1, 'the server probed');
  assert.equal(await qtyOf(b.db(), 'elsewhere'), 1);
  assert.equal(await countItems(b.db()), ITEMS + 1);
  console.log(`probe negotiation: ${probes.length} round(s), ${probes.reduce((s, p) => s + p.addresses, 0)} addresses asked, ` +
    `${probes.reduce((s, p) => s + p.held, 0)} held; ${updates(events)[0].nodes} nodes sent`);
  await b.close();
});

// A WebSocket (the `ws` package) that corrupts the next `corrupt` raw NODES frames.
class CorruptingSocket {
  static corrupt = 0;
  constructor(url) {
    const ws = (this.ws = new WsSocket(url));
    ws.binaryType = 'arraybuffer';
    ws.onopen = (e) => this.onopen?.(e);
    ws.onclose = (e) => this.onclose?.(e);
    ws.onerror = (e) => this.onerror?.(e);
    ws.onmessage = (e) => {
      let data = e.data;
      if (data instanceof ArrayBuffer && CorruptingSocket.corrupt > 0) {
        const b = new Uint8Array(data.slice(0));
        if (b[0] === 1 && b[1] === 0) {
          b[b.length - 1] ^= 0xff;  // the last byte of the last blob
          CorruptingSocket.corrupt--;
          data = b.buffer;
        }
      }
      this.onmessage?.({ data });
    };
  }
  set binaryType(v) {}
  get readyState() { return this.ws.readyState; }
  send(d) { this.ws.send(d); }
  close(code, reason) { this.ws.close(code, reason); }
}

test('a node that does not match its address: the update is dropped, the client reconnects from its old head', opts, async () => {
  // Uncompressed frames, so the corruption lands in a blob rather than in a zstd frame.
  const server = await startServer(['--no-frame-compression']);
  const a = await d.connect(cfg(server.url, 'w', { WebSocket: CorruptingSocket }));
  // Before its first snapshot a replica has nothing to apply a write to.
  await assert.rejects(a.transact([{ 'item/sku': 'early', 'item/qty': 1 }]), (e) => e.code === 'no_snapshot');
  await a.synced();
  const early = await a.transact([{ 'item/sku': 'early', 'item/qty': 1 }]);
  assert.ok(early.txId > 0);
  const events = record(a);
  const head = updates(events).length;
  CorruptingSocket.corrupt = 1;
  const w = await server.transact('[{:item/sku "checked" :item/qty 77}]');
  await waitFor(async () => (await qtyOf(a.db(), 'checked')) === 77, 'the update after the reconnect');
  const err = events.find((e) => e.type === 'error');
  assert.ok(err && !err.fatal && /does not match its address/.test(err.error.message), JSON.stringify(err));
  assert.equal(CorruptingSocket.corrupt, 0);
  assert.ok(a.syncStats().reconnects >= 1);
  assert.equal(updates(events).length, head + 1, 'the corrupt update was never applied');
  assert.ok(updates(events).at(-1).tx >= w.tx);
  await a.close();
});
