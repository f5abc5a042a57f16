// The sync client in headless Chromium (playwright-core): pages served from 127.0.0.1,
// IndexedDB replicas of a real datalith-server's database. Two pages (two browser
// contexts, so two IndexedDB replicas) see each other's writes; with the server down a
// page still answers and shows 'offline', and a reload opens the replica from
// IndexedDB; after a restart both catch up. Also: local IndexedDB transactions made
// together are one group commit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './support/chromium.mjs';
import { serve } from './support/server.mjs';
import { findServer, TestServer } from './support/sync-server.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const ITEMS = 10000;
const BULK = 600;
const { path: BINARY, why } = findServer();

let sync, web, browser, pageA, pageB;

async function load(page) {
  await page.goto(`${web.url}/wasm/test/support/page.html`);
  await page.waitForFunction(() => document.title === 'ready');
}

// Connects the page's replica (IndexedDB database `datalith:inv`); returns the state
// right after connect() and how long connect() took.
function openReplica(page) {
  return page.evaluate(async (url) => {
    const d = await window.datalith.init();
    window.d = d;
    window.events = [];
    const t0 = window.t0 = performance.now();
    const conn = await d.connect({ store: { backend: 'indexeddb', id: 'inv' },
      sync: { url, db: 'inv', token: 'w', backoff: { initialMs: 100, maxMs: 800 } } });
    const ms = performance.now() - t0;
    conn.onSync((ev) => window.events.push({ type: ev.type, state: ev.state, nodes: ev.nodes, bytes: ev.bytes,
      frameBytes: ev.frameBytes, tx: ev.tx, t: performance.now(), wall: Date.now() }));
    window.conn = conn;
    window.count = () => d.q('[:find (count ?e) . :where [?e :item/sku]]', window.conn.db());
    window.qty = (sku) => d.q('[:find ?q . :in $ ?s :where [?e :item/sku ?s] [?e :item/qty ?q]]', window.conn.db(), sku);
    return { state: conn.syncState, ms };
  }, sync.url);
}

const inPage = (page, fn, arg) => page.evaluate(fn, arg);
const waitIn = (page, fn, arg, timeout = 20000) => page.waitForFunction(fn, arg, { timeout, polling: 25 });
// The sync event of the update that brought `tx`. A replica shows the new snapshot
// (connRefresh) a moment before its sync client emits 'update', so wait for the event.
async function updateFor(page, tx) {
  const find = (t) => window.events.find((e) => e.type === 'update' && e.tx >= t);
  return (await waitIn(page, find, tx)).jsonValue();
}

before(async () => {
  if (!BINARY) return;
  sync = await new TestServer(BINARY).start();
  await sync.transact('[{:db/ident :item/sku :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :item/qty :db/valueType :db.type/long}]');
  const items = [];
  for (let i = 0; i < ITEMS; i++) items.push(`{:item/sku "sku-${i}" :item/qty ${i % 97}}`);
  await sync.transact(`[${items.join(' ')}]`);
  web = await serve(ROOT);
  browser = await launchChromium();
  // Two contexts: two users, each with their own IndexedDB.
  pageA = await (await browser.newContext()).newPage();
  pageB = await (await browser.newContext()).newPage();
  for (const p of [pageA, pageB]) {
    p.on('pageerror', (e) => console.error('page error:', e));
    await load(p);
  }
});

after(async () => {
  await browser?.close();
  await web?.close();
  await sync?.stop();
});

const opts = { skip: BINARY ? false : why, timeout: 120000 };

test('two pages with IndexedDB replicas: a write in one appears in the other', opts, async () => {
  for (const page of [pageA, pageB]) {
    const opened = await openReplica(page);
    assert.equal(opened.state, 'connecting');
    const r = await inPage(page, async () => {
      await window.conn.synced();
      const live = performance.now() - window.t0;
      return { live, state: window.conn.syncState, count: await window.count(), first: window.events.find((e) => e.type === 'update') };
    });
    assert.equal(r.state, 'live');
    assert.equal(r.count, ITEMS);
    console.log(`browser full sync into IndexedDB: ${r.first.nodes} nodes, ${r.first.bytes} bytes ` +
      `(${r.first.frameBytes} on the wire), ${r.live.toFixed(0)} ms from connect to live`);
  }
  const r = await inPage(pageA, async () => {
    const t0 = performance.now(), wall = Date.now();
    const report = await window.conn.transact([{ 'db/id': 'n', 'item/sku': 'from-a', 'item/qty': 11 }]);
    return { report, wall, ms: performance.now() - t0, qty: await window.qty('from-a') };
  });
  assert.equal(r.qty, 11, 'in A once transact resolves');
  assert.ok(Number.isInteger(r.report.tempids.n));
  await waitIn(pageB, async () => (await window.qty('from-a')) === 11);
  const u = await updateFor(pageB, r.report.txId);
  console.log(`browser: write in A, ${r.ms.toFixed(0)} ms to resolve; B received ${u.nodes} nodes, ${u.bytes} bytes, ` +
    `visible in B ${u.wall - r.wall} ms after transact() in A`);
  assert.ok(u.nodes <= 40, `${u.nodes} nodes`);
});

test('server down: queries answer, state offline; a reload opens the replica from IndexedDB; restart: catch up', opts, async () => {
  await sync.kill();
  for (const page of [pageA, pageB]) {
    await waitIn(page, () => window.conn.syncState === 'offline');
    assert.equal(await inPage(page, () => window.count()), ITEMS + 1);
  }
  // Offline writes: in the view at once, and in the replica's IndexedDB outbox.
  const local = await inPage(pageB, () => window.conn.transact([{ 'item/sku': 'off-b', 'item/qty': 2 }], { wait: 'local' }));
  assert.equal(local.pending, true);
  assert.equal(await inPage(pageB, () => window.qty('off-b')), 2);
  // More pending writes than a buffer-store connection groups before flushing by itself
  // (512): the view must never flush them into the replica.
  await inPage(pageB, async (n) => {
    for (let i = 0; i < n; i++) await window.conn.transact([{ 'item/sku': `bulk-${i}`, 'item/qty': i }], { wait: 'local' });
  }, BULK);

  await load(pageB);  // a fresh page: the WASM module, no socket, the same IndexedDB
  const opened = await openReplica(pageB);
  assert.ok(opened.ms < 5000, `connect() took ${opened.ms} ms with the server down`);
  const offline = await inPage(pageB, async () => ({
    count: await window.count(), qty: await window.qty('from-a'), stats: window.conn.stats() }));
  assert.equal(offline.count, ITEMS + 2 + BULK, 'with the pending writes, reloaded from the outbox');
  assert.equal(offline.qty, 11);
  assert.ok(offline.stats.nodesRead > 0, 'read lazily from IndexedDB');
  assert.equal(await inPage(pageB, () => window.conn.pending), 1 + BULK);
  assert.equal(await inPage(pageB, () => window.qty('off-b')), 2);
  await waitIn(pageB, () => window.conn.syncState === 'offline');

  await sync.restart();
  // The reloaded page sends the writes it found in the outbox: they reach the other page.
  await waitIn(pageB, () => window.conn.pending === 0, undefined, 60000);
  await waitIn(pageA, async (n) => (await window.qty('off-b')) === 2 && (await window.count()) === n, ITEMS + 2 + BULK);
  const written = await sync.transact('[{:item/sku "after-restart" :item/qty 99}]');
  for (const page of [pageA, pageB]) {
    await waitIn(page, async () => (await window.qty('after-restart')) === 99);
    await inPage(page, () => window.conn.synced());
    const u = await updateFor(page, written.tx);
    assert.ok(u.nodes <= 40, `catch-up: ${u.nodes} nodes`);
    console.log(`browser catch-up after restart: ${u.nodes} nodes, ${u.bytes} bytes`);
  }
  // Writes work again.
  await inPage(pageB, () => window.conn.transact([{ 'item/sku': 'from-b', 'item/qty': 3 }]));
  await waitIn(pageA, async () => (await window.qty('from-b')) === 3);
});

test('local IndexedDB database: transactions made together are one group commit', opts, async () => {
  const r = await inPage(pageA, async () => {
    const d = window.d;
    const nodes = (id) => new Promise((resolve, reject) => {
      const req = indexedDB.open(`datalith:${id}`);
      req.onsuccess = () => {
        const c = req.result.transaction('nodes').objectStore('nodes').count();
        c.onsuccess = () => { req.result.close(); resolve(c.result); };
        c.onerror = reject;
      };
      req.onerror = reject;
    });
    const out = {};
    for (const mode of ['together', 'one-by-one']) {
      const cfg = { store: { backend: 'indexeddb', id: `group-${mode}` }, schemaFlexibility: 'read' };
      await d.deleteDatabase(cfg);
      await d.createDatabase(cfg);
      const conn = await d.connect(cfg);
      await conn.transact([{ 'n/i': -1 }]);
      const before = await nodes(cfg.store.id);
      const heard = [];
      conn.listen((rep) => heard.push(rep.txId));
      const txs = Array.from({ length: 20 }, (_, i) => [{ 'n/i': i }]);
      const t0 = performance.now();
      const reports = mode === 'together' ? await Promise.all(txs.map((t) => conn.transact(t)))
        : await txs.reduce(async (acc, t) => [...(await acc), await conn.transact(t)], []);
      out[mode] = { ms: performance.now() - t0, nodes: (await nodes(cfg.store.id)) - before,
        ordered: reports.every((x, i) => i === 0 || x.txId > reports[i - 1].txId), heard: heard.length,
        count: await d.q('[:find (count ?e) . :where [?e :n/i]]', conn.db()) };
      await conn.close();
    }
    return out;
  });
  console.log(`20 IndexedDB transactions: together ${r.together.ms.toFixed(0)} ms, ${r.together.nodes} new nodes; ` +
    `one by one ${r['one-by-one'].ms.toFixed(0)} ms, ${r['one-by-one'].nodes} new nodes`);
  for (const m of ['together', 'one-by-one']) {
    assert.equal(r[m].count, 21);
    assert.equal(r[m].heard, 20);
    assert.ok(r[m].ordered);
  }
  assert.ok(r.together.nodes * 4 < r['one-by-one'].nodes, 'one commit for the 20 transactions');
});

test('a replica missing nodes under its head (a lost IndexedDB record) heals on its next sync', opts, async () => {
  // Page B's replica: close it, delete every node but the head's commit record from
  // its IndexedDB database, reopen it.
  const r = await inPage(pageB, async () => {
    const expected = await window.count();
    await window.conn.close();
    const idb = await new Promise((resolve, reject) => {
      const req = indexedDB.open('datalith:inv');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const done = (tx) => new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
    const read = idb.transaction(['heads', 'nodes']);
    const headReq = read.objectStore('heads').get('main');
    const keysReq = read.objectStore('nodes').getAllKeys();
    await done(read);
    const head = new TextDecoder().decode(headReq.result);
    const write = idb.transaction('nodes', 'readwrite');
    let deleted = 0;
    for (const k of keysReq.result) if (k !== head) { write.objectStore('nodes').delete(k); deleted++; }
    await done(write);
    idb.close();
    return { expected, deleted };
  });
  assert.ok(r.deleted > 100, `${r.deleted} nodes deleted`);
  await openReplica(pageB);
  const healed = await inPage(pageB, async () => {
    let first;
    try {
      first = `answered ${await window.count()}`;
    } catch (e) {
      first = e.message;
    }
    await window.conn.synced();
    const t0 = performance.now();
    for (;;) {  // the full update lands a moment after the state turns live
      try {
        return { first, count: await window.count(), ms: performance.now() - t0 };
      } catch (e) {
        if (performance.now() - t0 > 10000) return { first, error: e.message };
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  });
  assert.match(healed.first, /is missing from IndexedDB database "datalith:inv": the replica is syncing it again from its server/);
  assert.equal(healed.error, undefined);
  assert.equal(healed.count, r.expected, 'every item again');
});
