// Reactive queries (d.subscribe) in headless Chromium on IndexedDB, through the test
// page (wasm/test/support/page.html): a subscription on a database opened cold after a
// reload (its runs load nodes from IndexedDB), joined with a memory database; a new
// result after a relevant transaction, no run after an unrelated one, no callback when
// the result stays, a group commit as one re-run, and unsubscribing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './support/chromium.mjs';
import { serve } from './support/server.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

let server, browser, page;

before(async () => {
  server = await serve(ROOT);
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function load() {
  await page.goto(`${server.url}/wasm/test/support/page.html`);
  await page.waitForFunction(() => document.title === 'ready');
}

test('a subscription over IndexedDB (opened cold) and a memory database', async () => {
  await load();
  await page.evaluate(async () => {
    const d = await window.datalith.init();
    const cfg = { store: { backend: 'indexeddb', id: 'live-orders' } };
    await d.deleteDatabase(cfg);
    await d.createDatabase(cfg);
    const conn = await d.connect(cfg);
    await conn.transact([{ 'db/ident': ':order/id', 'db/valueType': ':db.type/long', 'db/unique': ':db.unique/identity' },
      { 'db/ident': ':order/sku', 'db/valueType': ':db.type/string' },
      { 'db/ident': ':order/qty', 'db/valueType': ':db.type/long' },
      { 'db/ident': ':order/note', 'db/valueType': ':db.type/string' }]);
    await conn.transact(Array.from({ length: 2000 }, (_, i) => ({ 'order/id': i, 'order/sku': `S${i % 50}`, 'order/qty': 1 })));
    await conn.close();
  });
  await load();  // a new page: the database is read from IndexedDB as the runs need it
  const result = await page.evaluate(async () => {
    const d = await window.datalith.init();
    const orders = await d.connect({ store: { backend: 'indexeddb', id: 'live-orders' } });
    const catalog = { store: { backend: 'memory', id: 'live-catalog' } };
    await d.createDatabase(catalog);
    const names = await d.connect(catalog);
    await names.transact([{ 'db/ident': ':sku/code', 'db/valueType': ':db.type/string' },
      { 'db/ident': ':sku/name', 'db/valueType': ':db.type/string' }]);
    await names.transact([{ 'sku/code': 'S7', 'sku/name': 'Widget' }]);

    const calls = [];
    const errors = [];
    const stop = d.subscribe(`[:find ?name (sum ?q) :with ?o :in $o $c :where [$c ?s :sku/code ?sku] [$c ?s :sku/name ?name]
                                 [$o ?o :order/sku ?sku] [$o ?o :order/qty ?q]]`, [orders, names],
    (r) => calls.push(r), { onError: (e) => errors.push(e.message) });
    const waitCalls = async (n) => {
      const deadline = performance.now() + 10000;
      while (calls.length < n && errors.length === 0) {
        if (performance.now() > deadline) throw new Error(`no callback ${n}: ${JSON.stringify(calls)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const settle = () => new Promise((r) => setTimeout(r, 200));
    await waitCalls(1);
    const cold = orders.stats();
    await orders.transact([{ 'order/id': 5000, 'order/sku': 'S7', 'order/qty': 10 }]);
    await waitCalls(2);
    const s1 = stop.stats();
    await orders.transact([{ 'order/id': 7, 'order/note': 'gift wrap' }]);  // unrelated attribute
    await settle();
    const s2 = stop.stats();
    await orders.transact([{ 'order/id': 5001, 'order/sku': 'S8', 'order/qty': 3 }]);  // S8 has no name: same result
    await settle();
    const s3 = stop.stats();
    await Promise.all([1, 2, 3].map((k) => orders.transact([{ 'order/id': 6000 + k, 'order/sku': 'S7', 'order/qty': k }])));
    await waitCalls(3);
    await names.transact([{ 'sku/code': 'S8', 'sku/name': 'Gadget' }]);  // the other database
    await waitCalls(4);
    await settle();
    const s4 = stop.stats();
    stop();
    await orders.transact([{ 'order/id': 5002, 'order/sku': 'S7', 'order/qty': 1 }]);
    await settle();
    await orders.close();
    await names.close();
    return { calls, errors, cold, s1, s2, s3, s4, after: stop.stats() };
  });
  assert.deepEqual(result.errors, []);
  assert.ok(result.cold.nodesRead > 1, `the first run read nodes from IndexedDB (${result.cold.nodesRead})`);
  assert.deepEqual(result.calls.map((r) => [...r].sort()),
    [[['Widget', 40]], [['Widget', 50]], [['Widget', 56]], [['Gadget', 43], ['Widget', 56]]]);
  assert.deepEqual(result.s1, { runs: 2, skipped: 0, callbacks: 2, errors: 0 });
  assert.deepEqual(result.s2, { runs: 2, skipped: 1, callbacks: 2, errors: 0 });   // not even run
  assert.deepEqual(result.s3, { runs: 3, skipped: 1, callbacks: 2, errors: 0 });   // run, no callback
  assert.deepEqual(result.s4, { runs: 5, skipped: 1, callbacks: 4, errors: 0 });   // three transactions, one run
  assert.deepEqual(result.after, result.s4);
});
