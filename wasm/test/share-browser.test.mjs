// One replica per browser (docs/offline.md, "Tabs"), in headless Chromium against a real
// datalith-server on 127.0.0.1: pages of one browser context (one origin: one IndexedDB,
// Web Locks, BroadcastChannels) open the same IndexedDB replica. Three tabs keep one
// socket; writes from every tab reach the server exactly once; the leader closed
// mid-stream hands over within a second; the server killed with SIGKILL between a commit
// and its answer (a proxy on loopback withholds the answer and kills it) leaves the
// write committed once; a follower's write the server refuses is told to every tab and
// kept until discarded. Every check of the server's database goes through a fresh
// replica in Node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import WsSocket, { WebSocketServer } from 'ws';
import { init } from '../js/node.js';
import { launchChromium } from './support/chromium.mjs';
import { serve } from './support/server.mjs';
import { findServer, TestServer } from './support/sync-server.mjs';
import { waitFor } from './support/wait.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const { path: BINARY, why } = findServer();
const d = await init();

let server, proxy, web, browser;
let replicas = 0;

// Forwards WebSocket connections to the server. When armed, it withholds the server's
// next `tx_ok`, kills the server with SIGKILL (the commit was durable before the answer
// was sent) and drops the client's socket. While `blocked`, it drops every connection
// (the server stays up: the clients are offline).
class KillingProxy {
  armed = false;
  killed = null;  // resolves once the server died
  blocked = false;
  constructor(target) {
    this.target = target;
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    this.wss.on('connection', (client) => this.#pipe(client));
  }

  get url() { return `ws://127.0.0.1:${this.wss.address().port}/sync`; }

  block() {
    this.blocked = true;
    for (const c of this.wss.clients) c.terminate();
  }

  #pipe(client) {
    if (this.blocked) return client.terminate();
    const upstream = new WsSocket(this.target.url);
    const queued = [];
    upstream.on('open', () => { for (const [m, binary] of queued.splice(0)) upstream.send(m, { binary }); });
    client.on('message', (m, binary) => (upstream.readyState === 1 ? upstream.send(m, { binary }) : queued.push([m, binary])));
    upstream.on('message', (m, binary) => {
      if (this.armed && !binary && JSON.parse(m.toString()).type === 'tx_ok') {
        this.armed = false;
        this.killed = this.target.kill();
        client.terminate();
        return;
      }
      if (client.readyState === 1) client.send(m, { binary });
    });
    const end = () => { client.terminate(); upstream.terminate(); };
    client.on('close', end);
    upstream.on('close', end);
    upstream.on('error', end);
    client.on('error', end);
  }

  close() {
    for (const c of this.wss.clients) c.terminate();
    return new Promise((r) => this.wss.close(r));
  }
}

before(async () => {
  if (!BINARY) return;
  server = await new TestServer(BINARY).start();
  // :w/key is not unique, so a write applied twice shows as two entities.
  await server.transact('[{:db/ident :w/key :db/valueType :db.type/string :db/index true}' +
    ' {:db/ident :w/code :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :w/n :db/valueType :db.type/long}]');
  await server.transact('[{:w/code "cas" :w/n 1}]');
  proxy = new KillingProxy(server);
  web = await serve(ROOT);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await web?.close();
  await proxy?.close();
  await server?.stop();
});

const opts = { skip: BINARY ? false : why, timeout: 120000 };

// The server's database as a fresh replica sees it: key → number of entities.
async function onServer(prefix) {
  const c = await d.connect({ store: { backend: 'memory', id: `share-check-${++replicas}` },
    sync: { url: server.url, db: 'inv', token: 'r', WebSocket: WsSocket } });
  try {
    await c.synced();
    const rows = await d.q('[:find ?k (count ?e) :in $ ?p :where [?e :w/key ?k] [(clojure.string/starts-with? ?k ?p)]]', c.db(), prefix);
    return new Map(rows);
  } finally {
    await c.close();
  }
}

// Sessions to the database on the server, as its /metrics counts them.
const sockets = async () => (await server.metrics()).databases.inv.clients;

// Opens the replica `id` in a new page of `context`: window.conn, window.events (sync
// events with the page's clock), window.keys() (the keys of `prefix` the page shows).
async function openTab(context, id, url = server.url) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  page.on('console', (m) => m.type() === 'warning' && console.error('page warning:', m.text()));
  await page.goto(`${web.url}/wasm/test/support/page.html`);
  await page.waitForFunction(() => document.title === 'ready');
  await page.evaluate(async ({ id, url }) => {
    const d = window.d = await window.datalith.init();
    window.events = [];
    window.conn = await d.connect({ store: { backend: 'indexeddb', id },
      sync: { url, db: 'inv', token: 'w', backoff: { initialMs: 50, maxMs: 300 } } });
    window.conn.onSync((e) => window.events.push({ type: e.type, state: e.state, role: e.role, wall: Date.now() }));
    window.keys = (prefix) => d.q('[:find [?k ...] :in $ ?p :where [?e :w/key ?k] [(clojure.string/starts-with? ?k ?p)]]',
      window.conn.db(), prefix);
  }, { id, url });
  return page;
}

// Writes `n` transactions `<prefix><i>` from page `p`, one after another; returns the
// reports (or error texts). `wait`: the transact option.
const writeFrom = (p, prefix, n, wait = 'server') => p.evaluate(async ({ prefix, n, wait }) => {
  const out = [];
  for (let i = 0; i < n; i++) {
    try {
      const r = await window.conn.transact([{ 'db/id': 'w', 'w/key': `${prefix}${i}`, 'w/n': i }], { wait });
      out.push({ key: `${prefix}${i}`, txId: r.txId, w: r.tempids.w, pending: r.pending === true, dup: r.duplicate === true });
    } catch (e) {
      out.push({ key: `${prefix}${i}`, error: `${e.code}: ${e.message}` });
    }
    if (i % 4 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  return out;
}, { prefix, n, wait });

const roleOf = (p) => p.evaluate(() => window.conn.syncRole);

test('three tabs on one replica: one socket, and every tab\'s writes reach the server once and show in all', opts, async () => {
  const context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < 3; i++) tabs.push(await openTab(context, 'share-3'));
  await Promise.all(tabs.map((p) => p.evaluate(() => window.conn.synced())));
  const roles = await Promise.all(tabs.map(roleOf));
  assert.deepEqual(roles.filter((r) => r === 'leader').length, 1, `one leader: ${roles}`);
  assert.equal(roles[0], 'leader', 'the first tab leads');
  assert.equal(await sockets(), 1, 'one socket for the three tabs');
  for (const p of tabs) assert.equal(await p.evaluate(() => window.conn.syncState), 'live', 'every tab mirrors the state');

  const N = 15;
  const t0 = Date.now();
  const results = await Promise.all(tabs.map((p, i) => writeFrom(p, `t3-${i}-`, N)));
  const ms = Date.now() - t0;
  const all = results.flat();
  assert.deepEqual(all.filter((r) => r.error), [], 'no write failed');
  for (const r of all) assert.ok(Number.isInteger(r.txId) && Number.isInteger(r.w) && !r.pending, `a server report for ${r.key}`);
  assert.equal(new Set(all.map((r) => r.txId)).size, 3 * N, 'each write is its own transaction');

  const keys = all.map((r) => r.key).sort();
  for (const p of tabs) {
    await waitFor(async () => (await p.evaluate(() => window.keys('t3-'))).length === keys.length, 'every write in every tab');
    assert.deepEqual((await p.evaluate(() => window.keys('t3-'))).sort(), keys);
    assert.equal(await p.evaluate(() => window.conn.pending), 0);
  }
  const counts = await onServer('t3-');
  assert.deepEqual([...counts.keys()].sort(), keys, 'every write is on the server');
  assert.ok([...counts.values()].every((c) => c === 1), 'each once');
  // The ids the followers' promises gave are the server's entities.
  const ids = await tabs[0].evaluate(() => window.d.q('[:find ?k ?e :where [?e :w/key ?k]]', window.conn.db()));
  const byKey = new Map(ids);
  for (const r of all) assert.equal(byKey.get(r.key), r.w, `the tempid of ${r.key}`);
  assert.equal(await sockets(), 1, 'still one socket');
  console.log(`3 tabs, ${3 * N} writes awaiting the server's answer: ${ms} ms; one socket`);
  await context.close();
});

test('the leader tab closed mid-stream: another takes over within a second, nothing acknowledged is lost or doubled', opts, async () => {
  const context = await browser.newContext();
  const [a, b, c] = [await openTab(context, 'share-handover'), await openTab(context, 'share-handover'), await openTab(context, 'share-handover')];
  await Promise.all([a, b, c].map((p) => p.evaluate(() => window.conn.synced())));
  assert.equal(await roleOf(a), 'leader');

  const N = 60;
  // Each tab writes without waiting for the server; A closes after some of its writes.
  const fromA = a.evaluate(async (n) => {
    window.acked = [];
    for (let i = 0; i < n; i++) {
      await window.conn.transact([{ 'w/key': `ho-a-${i}`, 'w/n': i }], { wait: 'local' });
      window.acked.push(`ho-a-${i}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }, N).catch(() => {});  // the page closes under it
  const fromB = writeFrom(b, 'ho-b-', N, 'local');
  const fromC = writeFrom(c, 'ho-c-', N, 'local');
  await a.waitForFunction(() => window.acked?.length >= 20);
  const ackedA = await a.evaluate(() => [...window.acked]);
  const closedAt = Date.now();
  await a.close();  // mid-stream: its sent writes may be unanswered
  await fromA;

  const leader = await waitFor(async () => {
    for (const p of [b, c]) if (await roleOf(p) === 'leader') return p;
    return null;
  }, 'a new leader', 5000);
  const tookOver = await leader.evaluate(() => window.events.find((e) => e.type === 'role').wall);
  const live = await leader.evaluate(() => window.conn.synced().then(() => Date.now()));
  console.log(`leader closed: another tab led ${tookOver - closedAt} ms later, live again ${live - closedAt} ms later`);
  assert.ok(tookOver - closedAt <= 1000, `took over in ${tookOver - closedAt} ms`);

  const acked = [...ackedA];
  for (const r of [...await fromB, ...await fromC]) {
    assert.equal(r.error, undefined, `${r.key} was taken`);
    acked.push(r.key);
  }
  for (const p of [b, c]) await waitFor(() => p.evaluate(() => window.conn.pending === 0), 'the outbox drained', 30000);
  const counts = await onServer('ho-');
  for (const k of acked) assert.equal(counts.get(k), 1, `${k} is on the server once`);
  assert.ok([...counts.values()].every((n) => n === 1), 'nothing doubled (writes A made after its last ack included)');
  for (const p of [b, c]) {
    const shown = new Set(await p.evaluate(() => window.keys('ho-')));
    for (const k of acked) assert.ok(shown.has(k), `${k} shows in every tab`);
  }
  assert.equal(await sockets(), 1, 'one socket again');
  await context.close();
});

test('server killed with SIGKILL between a commit and its answer: the write is committed once', opts, async () => {
  const context = await browser.newContext();
  const lead = await openTab(context, 'share-kill', proxy.url);
  const follow = await openTab(context, 'share-kill', proxy.url);
  await Promise.all([lead, follow].map((p) => p.evaluate(() => window.conn.synced())));
  assert.equal(await roleOf(follow), 'follower');

  proxy.armed = true;
  const mine = writeFrom(lead, 'kill-lead-', 1);
  await waitFor(() => proxy.killed !== null, 'the kill');
  await proxy.killed;
  // While the server is down, the follower writes too (into the shared outbox).
  const [theirs] = await writeFrom(follow, 'kill-follow-', 1, 'local');
  assert.equal(theirs.pending, true);
  await server.restart();
  const [m] = await mine;
  assert.equal(m.error, undefined);
  assert.equal(m.dup, true, 'the resend was answered with the original outcome');
  await waitFor(() => follow.evaluate(() => window.conn.pending === 0), 'the follower\'s write sent');
  const counts = await onServer('kill-');
  assert.equal(counts.get('kill-lead-0'), 1, 'the leader\'s write once');
  assert.equal(counts.get('kill-follow-0'), 1, 'the follower\'s write once');
  const byKey = new Map(await follow.evaluate(() => window.d.q('[:find ?k ?e :where [?e :w/key ?k]]', window.conn.db())));
  assert.equal(byKey.get('kill-lead-0'), m.w, 'the original tempid');
  await context.close();
});

test('a follower\'s write the server rejects: its promise rejects, every tab hears it, the shared outbox keeps it until discarded', opts, async () => {
  const context = await browser.newContext();
  const lead = await openTab(context, 'share-reject', proxy.url);
  const follow = await openTab(context, 'share-reject', proxy.url);
  await Promise.all([lead, follow].map((p) => p.evaluate(() => window.conn.synced())));
  assert.equal(await roleOf(follow), 'follower');
  const casValue = (p) => p.evaluate(() => window.d.q('[:find ?n . :where [?e :w/code "cas"] [?e :w/n ?n]]', window.conn.db()));

  proxy.block();
  for (const p of [lead, follow]) await waitFor(() => p.evaluate(() => window.conn.syncState === 'offline'), 'offline');
  await follow.evaluate(() => {
    window.rej = window.conn.transact('[[:db/cas [:w/code "cas"] :w/n 1 2]]').then(() => 'resolved', (e) => e.code);
  });
  // A pending write discarded from the follower: the leader (which alone knows it was
  // not sent) drops it, and it leaves every tab.
  const extra = await follow.evaluate(() => window.conn.transact([{ 'w/key': 'rj-discard' }], { wait: 'local' }).then((r) => r.clientId));
  await waitFor(async () => (await lead.evaluate(() => window.conn.pending)) === 2, 'the leader holds both writes');
  assert.deepEqual(await lead.evaluate(() => window.keys('rj-')), ['rj-discard'], 'the leader shows the follower\'s pending write');
  await follow.evaluate((id) => window.conn.discard(id), extra);
  for (const p of [lead, follow]) {
    await waitFor(async () => (await p.evaluate(() => window.keys('rj-'))).length === 0, 'the discarded write left the view');
    assert.equal(await p.evaluate(() => window.conn.pending), 1);
  }
  assert.equal(await casValue(lead), 2, 'the pending :db/cas shows in the leader\'s view');

  // Someone else changes the value the :db/cas expects; then the tabs reconnect.
  await server.transact('[{:w/code "cas" :w/n 5}]');
  proxy.blocked = false;
  assert.equal(await follow.evaluate(() => window.rej), 'tx_failed', 'the promise of the tab that made it rejects');
  for (const p of [lead, follow]) {
    await waitFor(() => p.evaluate(() => window.events.some((e) => e.type === 'rejected')), 'a rejected event in every tab');
    await waitFor(async () => (await casValue(p)) === 5, 'the server\'s value in every tab');
    assert.deepEqual(await p.evaluate(() => window.conn.outbox().map((e) => e.state)), ['rejected']);
    assert.equal(await p.evaluate(() => window.conn.pending), 0);
  }
  // A tab opened later is told of the kept rejection; its discard empties every tab's outbox.
  const late = await openTab(context, 'share-reject', proxy.url);
  await waitFor(() => late.evaluate(() => window.events.some((e) => e.type === 'rejected')), 'the kept rejection told to a new tab');
  const kept = await late.evaluate(() => window.conn.outbox()[0].clientId);
  await late.evaluate((id) => window.conn.discard(id), kept);
  for (const p of [lead, follow, late]) await waitFor(() => p.evaluate(() => window.conn.outbox().length === 0), 'every outbox empty');
  assert.equal((await onServer('rj-')).size, 0, 'the discarded write never reached the server');
  await context.close();
});
