// Several tabs on one local IndexedDB database, in headless Chromium: two pages of one
// browser context (they share the origin's IndexedDB, Web Locks and BroadcastChannels)
// through the test page (wasm/test/support/page.html). Writes made at once in both
// serialize through the database's write lock (none fails with 'conflict'), and each
// tab's listen() and d.subscribe see the other tab's commits with their datoms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './support/chromium.mjs';
import { serve } from './support/server.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const WRITES = 50;

let server, browser, a, b;

before(async () => {
  server = await serve(ROOT);
  browser = await launchChromium();
  const context = await browser.newContext();
  [a, b] = [await context.newPage(), await context.newPage()];
  for (const p of [a, b]) {
    p.on('pageerror', (e) => console.error('page error:', e));
    p.on('console', (m) => m.type() === 'warning' && console.error('page warning:', m.text()));
  }
});

after(async () => {
  await browser?.close();
  await server?.close();
});

// Loads the test page in both tabs and connects each to the database `id` (created
// afresh by tab A): window.conn, and window.reports, every listen() report.
async function open(id) {
  for (const p of [a, b]) {
    await p.goto(`${server.url}/wasm/test/support/page.html`);
    await p.waitForFunction(() => document.title === 'ready');
  }
  for (const [p, create] of [[a, true], [b, false]]) {
    await p.evaluate(async ({ id, create }) => {
      const d = await window.datalith.init();
      const cfg = { store: { backend: 'indexeddb', id }, schemaFlexibility: 'read' };
      if (create) {
        await d.deleteDatabase(cfg);
        await d.createDatabase(cfg);
      }
      window.conn = await d.connect(cfg);
      window.reports = [];
      window.conn.listen((r) => window.reports.push(r));
    }, { id, create });
  }
}

// Waits in page `p` until `check()` (a function source, run in the page) is true.
const until = (p, check) => p.waitForFunction(check, null, { timeout: 10000 });

test('two tabs writing at once: every write is stored, none conflicts, and both tabs see all of them', async () => {
  await open('tabs-race');
  const writes = (p, tab) => p.evaluate(async ({ tab, n }) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      try {
        const r = await window.conn.transact([{ 'w/tab': tab, 'w/i': i }]);
        out.push(r.txId);
      } catch (e) {
        out.push(`${e.code}: ${e.message}`);
      }
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 0));  // let the other tab in
    }
    return out;
  }, { tab, n: WRITES });
  const t0 = performance.now();
  const [fromA, fromB] = await Promise.all([writes(a, 'A'), writes(b, 'B')]);
  const ms = performance.now() - t0;
  const failed = [...fromA, ...fromB].filter((x) => typeof x === 'string');
  assert.deepEqual(failed, [], 'no write failed');
  assert.equal(new Set([...fromA, ...fromB]).size, 2 * WRITES, 'each write is its own transaction');

  // Each tab ends up at the last commit (the one that wrote last follows nobody; the
  // other follows its announcement) and counts every entity.
  const count = '[:find (count ?e) . :where [?e :w/i]]';
  for (const p of [a, b]) {
    await until(p, () => window.reports.length >= 100);
    const seen = await p.evaluate(async (count) => {
      const d = await window.datalith.init();
      const log = await window.conn.log();
      return { count: await d.q(count, window.conn.db()), reports: window.reports.map((r) => r.txId),
        logged: log.filter((t) => t.txData.some((x) => x[1] === ':w/tab')).map((t) => t.txData.find((x) => x[1] === ':w/tab')[2]) };
    }, count);
    assert.equal(seen.count, 2 * WRITES);
    // Every transaction reached this tab's listeners once (its own and the other tab's),
    // in the order they were committed.
    assert.deepEqual(seen.reports, [...fromA, ...fromB].sort((x, y) => x - y));
    // The writes did interleave: the log switches between the tabs more than once.
    const switches = seen.logged.filter((t, i) => i > 0 && t !== seen.logged[i - 1]).length;
    assert.ok(switches >= 2, `the tabs took turns (${switches} switches in the log)`);
    if (p === a) console.log(`two tabs, ${WRITES} one-entity writes each at once: ${ms.toFixed(0)} ms ` +
      `(${(ms / (2 * WRITES)).toFixed(1)} ms a write), ${switches} switches between the tabs in the log`);
  }
  // And the stored database, opened again, holds them all.
  await a.reload();
  await a.waitForFunction(() => document.title === 'ready');
  const stored = await a.evaluate(async (count) => {
    const d = await window.datalith.init();
    const conn = await d.connect({ store: { backend: 'indexeddb', id: 'tabs-race' } });
    const n = await d.q(count, conn.db());
    await conn.close();
    return n;
  }, count);
  assert.equal(stored, 2 * WRITES);
});

test("listen() in one tab reports another tab's transactions with their datoms", async () => {
  await open('tabs-listen');
  await a.evaluate(() => window.conn.transact([{ 'db/ident': ':note/text', 'db/valueType': ':db.type/string' }]));
  await until(b, () => window.reports.length === 1);
  const mark = await b.evaluate(() => window.reports.length);
  const sent = await a.evaluate(async () => {
    const r = await window.conn.transact([{ 'db/id': 'n', 'note/text': 'hello from A' }]);
    return { txId: r.txId, e: r.tempids.n };
  });
  await until(b, () => window.reports.length >= 2);
  const got = await b.evaluate((mark) => window.reports.slice(mark), mark);
  assert.equal(got.length, 1);
  assert.equal(got[0].txId, sent.txId);
  assert.equal(got[0].reset, undefined);
  assert.deepEqual(got[0].tempids, {});
  assert.ok(got[0].txData.some(([e, attr, v, tx, added]) =>
    e === sent.e && attr === ':note/text' && v === 'hello from A' && tx === sent.txId && added === true),
    JSON.stringify(got[0].txData));
  // Tab B's own snapshot moved too, and its next write builds on tab A's.
  const after = await b.evaluate(async () => {
    const d = await window.datalith.init();
    await window.conn.transact([{ 'note/text': 'hello from B' }]);
    return (await d.q('[:find [?t ...] :where [_ :note/text ?t]]', window.conn.db())).sort();
  });
  assert.deepEqual(after, ['hello from A', 'hello from B']);
  await until(a, () => window.reports.some((r) => r.txData.some((x) => x[2] === 'hello from B')));
});

test("d.subscribe in one tab updates after another tab's write, and skips an unrelated one", async () => {
  await open('tabs-live');
  await a.evaluate(() => window.conn.transact([{ 'db/ident': ':item/name', 'db/valueType': ':db.type/string' },
    { 'db/ident': ':other/x', 'db/valueType': ':db.type/long' }]));
  await until(b, () => window.reports.length === 1);
  await b.evaluate(async () => {
    const d = await window.datalith.init();
    window.results = [];
    window.stop = d.subscribe('[:find [?n ...] :where [_ :item/name ?n]]', [window.conn],
      (rows) => window.results.push(rows.sort()), { onError: (e) => window.results.push(`error: ${e.message}`) });
  });
  await until(b, () => window.results.length === 1);
  await a.evaluate(() => window.conn.transact([{ 'item/name': 'first' }]));
  await until(b, () => window.results.length === 2);
  await a.evaluate(() => window.conn.transact([{ 'other/x': 1 }]));
  await until(b, () => window.reports.length === 3);
  await a.evaluate(() => window.conn.transact([{ 'item/name': 'second' }]));
  await until(b, () => window.results.length === 3);
  const seen = await b.evaluate(() => ({ results: window.results, stats: window.stop.stats() }));
  assert.deepEqual(seen.results, [[], ['first'], ['first', 'second']]);
  assert.equal(seen.stats.skipped, 1, `the unrelated write ran nothing (${JSON.stringify(seen.stats)})`);
  await b.evaluate(() => window.stop());
});
