// The demo page in Debian's headless Chromium (playwright-core) against a real
// datalith-server started here on a free loopback port with a temporary data dir and
// site dir (web-demo/server/serve.mjs, as `npm start` runs it). Screenshots of each
// panel go to build/demo-artifacts/ (DEMO_ARTIFACTS overrides).
//
//   DATALITH_SERVER=build/datalith-server node --test web-demo/test/demo.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, launchChromium } from '../../wasm/test/support/chromium.mjs';
import { startDemo, DEFAULT_TOKEN } from '../server/serve.mjs';
import { seedTransactions } from '../seed-data.js';
import { JOIN } from '../js/queries.js';
import { init } from '../../wasm/js/node.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const SERVER = process.env.DATALITH_SERVER ?? join(ROOT, 'build/datalith-server');
const ARTIFACTS = process.env.DEMO_ARTIFACTS ?? join(ROOT, 'build/demo-artifacts');
const T = { timeout: 60_000 };
const WAIT = 20_000;  // for something to show on a page

const missing = !existsSync(SERVER) ? `${SERVER} is not built` : !existsSync(CHROMIUM) ? `${CHROMIUM} is missing` : null;
let tmp, demo, browser, context, pageA, pageB, port;
const pageErrors = [];

before(async () => {
  if (missing) return;
  tmp = mkdtempSync(join(tmpdir(), 'datalith-demo-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  demo = await startDemo({ server: SERVER, data: join(tmp, 'data'), site: join(tmp, 'site'), port: 0 });
  port = demo.port;
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  pageA = await open();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (pageErrors.length) console.error('page errors:', pageErrors);
});

// Opens the demo at `path` in `page` (a new page of the shared context by default) and
// waits until it has started.
async function open(page, path = '/') {
  page ??= await context.newPage();
  if (!page.tagged) {
    page.tagged = true;
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }
  await page.goto(`http://127.0.0.1:${port}${path}`);
  await page.waitForFunction(() => window.demo?.ready || window.demo?.error, null, { timeout: 45_000, polling: 100 });
  const error = await page.evaluate(() => window.demo.error);
  assert.equal(error, undefined, `the page failed to start: ${error}`);
  return page;
}

const shot = (page, name, selector) => (selector ? page.locator(selector) : page)
  .screenshot({ path: join(ARTIFACTS, `${name}.png`), ...(selector ? {} : { fullPage: true }) });

const rowsOf = (page, selector) => page.$$eval(`${selector} tbody tr`,
  (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));

// The row of `sku` in the join table shows `stock` (waits for it).
const waitForStock = (page, sku, stock, timeout = WAIT) => page.waitForFunction(([s, n]) =>
  [...document.querySelectorAll('#join-result tbody tr')].some((tr) => tr.cells[0].textContent === s && tr.cells[3].textContent === n),
[sku, String(stock)], { timeout, polling: 100 });

// The three write buttons are enabled, with the offline note when offline.
const waitForWrites = (page, offline) => page.waitForFunction((off) => ['stock-form', 'product-form', 'order-form'].every((id) => {
  const form = document.getElementById(id);
  return !form.querySelector('button').disabled &&
    form.querySelector('.why').textContent === (off ? 'offline — saved here, sent when the server returns' : '');
}), offline, { timeout: WAIT, polling: 100 });
const pendingText = (page) => page.textContent('#write-pending');

const fmt = (v) => (typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v));

// The oracle: the join over the sample data in memory, in Node.
let oracle = null;
async function expectedJoin() {
  if (oracle) return oracle;
  const d = await init();
  const dbs = {};
  for (const name of ['catalog', 'inventory']) {
    const cfg = { store: { backend: 'memory', id: `oracle-${name}` } };
    await d.createDatabase(cfg);
    const conn = await d.connect(cfg);
    for (const tx of seedTransactions()[name]) await conn.transact(tx);
    dbs[name] = conn.db();
  }
  oracle = (await d.q(JOIN, dbs.catalog, dbs.inventory, 200)).map((r) => r.map(fmt)).sort((a, b) => a[0].localeCompare(b[0]));
  return oracle;
}

test('the join shows the expected rows', { ...T, skip: missing ?? false }, async () => {
  const expected = await expectedJoin();
  assert.ok(expected.length > 250, `${expected.length} expected rows`);
  assert.deepEqual(await rowsOf(pageA, '#join-result'), expected);
  assert.match(await pageA.textContent('#join-meta'), new RegExp(`${expected.length} products`));
  assert.deepEqual(expected.find((r) => r[0] === 'SKU-0002'), ['SKU-0002', 'Deluxe Lamp 2', '80.05', '37']);
  // The status says live, and the service worker is active for the offline tests.
  await pageA.waitForSelector('#status[data-state=live]', { timeout: WAIT });
  await pageA.evaluate(() => navigator.serviceWorker.ready);
  await pageA.waitForFunction(() => caches.keys().then((k) => k.length > 0), null, { timeout: WAIT, polling: 100 });
  await shot(pageA, 'join', '#join');
  // The other read-only panels (each renders on its own, after the data arrives: wait for their rows).
  await pageA.waitForFunction(() => document.querySelector('#time-result tbody tr') && document.querySelector('#tenants-result tbody tr'),
    null, { timeout: WAIT, polling: 100 });
  assert.match(await pageA.textContent('#time-commit-label'), /January price list/);
  assert.ok((await rowsOf(pageA, '#time-result')).length > 200);
  assert.deepEqual((await rowsOf(pageA, '#tenants-result')).map((r) => r[0]), ['acme', 'globex', 'initech', 'umbrella', 'hooli']);
  await shot(pageA, 'time-travel', '#time');
  await shot(pageA, 'tenants', '#tenants');
  await shot(pageA, 'dashboard', '#dashboard');
  await shot(pageA, 'page');
});

test('no database server (?buckets): two static buckets join, time-travel, and join the page\'s own watchlist',
  { ...T, skip: missing ?? false }, async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await open(await ctx.newPage(), '/?buckets&nosw');
      await page.waitForSelector('#status[data-state=published]', { timeout: WAIT });
      // Two buckets: two other origins, no database server involved.
      const buckets = await page.evaluate(() => window.demo.buckets);
      const origins = new Set(Object.values(buckets).map((u) => new URL(u).origin));
      assert.equal(origins.size, 2);
      assert.ok(![...origins].includes(`http://127.0.0.1:${port}`));
      await page.waitForFunction(() => document.querySelector('#join-result').dataset.state === 'ready', null, { timeout: WAIT, polling: 100 });
      assert.deepEqual(await rowsOf(page, '#join-result'), await expectedJoin());
      await page.waitForFunction(() => document.querySelector('#time-result tbody tr'), null, { timeout: WAIT, polling: 100 });
      assert.match(await page.textContent('#time-commit-label'), /January price list/);
      // Read-only: the write forms say why.
      assert.equal(await page.$eval('#stock-form button', (b) => b.disabled), true);
      assert.match(await page.textContent('#stock-form .why'), /read-only: a published database/);
      // The watchlist is the page's own IndexedDB database, joined with both buckets.
      await page.fill('#watch-sku', 'SKU-0002');
      await page.click('#watch-form button');
      await page.waitForFunction(() => /SKU-0002/.test(document.querySelector('#watch-result').textContent), null, { timeout: WAIT, polling: 100 });
      assert.deepEqual(await rowsOf(page, '#watch-result'), [['SKU-0002', 'Deluxe Lamp 2', '80.05', '37']]);
      const stats = await page.evaluate(() => window.demo.replicas.conns.catalog.stats());
      assert.ok(stats.nodesRead > 0 && stats.requests > stats.nodesRead, JSON.stringify(stats));
      await shot(page, 'buckets');
    } finally {
      await ctx.close();
    }
  });

// The result boxes of the panels (data-state: loading, ready or error).
const BOXES = ['join-result', 'time-result', 'tenants-result', 'tenants-categories', 'chart-stock', 'chart-category',
  'chart-orders', 'console-result'];
const allReady = (page) => page.waitForFunction((ids) => ids.every((id) => document.getElementById(id).dataset.state === 'ready'),
  BOXES, { timeout: WAIT, polling: 100 });

test('a first sync on a slow link shows its progress, and panels show loading until their data arrives',
  { ...T, skip: missing ?? false }, async () => {
    // A new context: no replica in IndexedDB yet. Chromium's DevTools throttling slows
    // WebSockets (measured: 200 KB took 7.9 s at 40 KB/s + 300 ms, 31 ms without); it is
    // applied to the sync socket only, so the page's 0.9 MB of .wasm and modules load at
    // once and the test measures the first sync.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await ctx.newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditionsByRule', { matchedNetworkConditions: [{
        urlPattern: `ws://127.0.0.1:${port}/sync`, latency: 300, downloadThroughput: 40 * 1024, uploadThroughput: 40 * 1024 }] });
      // Samples of what the page shows, every 50 ms from its first script on.
      await page.addInitScript((ids) => {
        window.samples = [];
        setInterval(() => {
          const q = (sel) => document.querySelector(sel);
          const bar = q('#sync-progress');
          const metas = ['#join-meta', '#time-meta', '#tenants-meta', '#time-commit-label', '#console-meta'];
          // Not while the page is still being parsed (the elements sampled are not all there yet).
          if (!bar || ids.some((id) => !document.getElementById(id)) || metas.some((sel) => !q(sel))) return;
          window.samples.push({
            progress: bar.hidden ? null : { nodes: Number(bar.dataset.nodes ?? 0), bytes: Number(bar.dataset.bytes ?? 0) },
            boxes: ids.map((id) => [id, document.getElementById(id).dataset.state, document.getElementById(id).textContent]),
            metas: metas.map((sel) => q(sel).textContent),
          });
        }, 50);
      }, BOXES);
      const t0 = Date.now();
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => Number(document.querySelector('#sync-progress').dataset.bytes) > 0, null,
        { timeout: WAIT, polling: 50 });
      await shot(page, 'first-sync');
      await page.waitForFunction(() => window.demo?.ready || window.demo?.error, null, { timeout: 45_000, polling: 100 });
      const elapsed = Date.now() - t0;
      await allReady(page);
      const samples = await page.evaluate(() => window.samples);
      const frameBytes = await page.evaluate(() => Object.values(window.demo.replicas.conns)
        .reduce((a, c) => a + c.syncStats().frameBytes, 0));
      console.log(`first sync at 40 KB/s + 300 ms: ${(frameBytes / 1024).toFixed(1)} KB of frames, ready after ${elapsed} ms, ` +
        `${samples.length} samples`);
      assert.ok(elapsed > 3000, `the throttled first sync took ${elapsed} ms: is the throttling in effect?`);
      // A progress indicator with increasing nodes and bytes.
      const shown = samples.filter((x) => x.progress).map((x) => x.progress);
      const distinct = [...new Set(shown.map((p) => p.bytes))];
      assert.ok(distinct.length >= 3, `progress values seen: ${JSON.stringify(distinct)}`);
      for (let i = 1; i < shown.length; i++) {
        assert.ok(shown[i].bytes >= shown[i - 1].bytes && shown[i].nodes >= shown[i - 1].nodes, 'progress never goes back');
      }
      assert.ok(shown.at(-1).nodes > 100 && shown.at(-1).bytes > 50_000, JSON.stringify(shown.at(-1)));
      // Until the data arrives every box says it is loading; never an error, never a
      // result computed over an empty replica.
      assert.ok(samples.some((x) => x.boxes.every(([, state]) => state === 'loading')), 'every box loading at first');
      assert.ok(samples.some((x) => x.boxes.some(([, state, text]) => state === 'loading' && /[1-9]\d* nodes, [\d.]+ KB received/.test(text))),
        'the loading boxes count what has arrived');
      for (const x of samples) {
        for (const [id, state, text] of x.boxes) {
          assert.ok(state === 'loading' || state === 'ready', `${id}: ${state} ${text}`);
          if (state === 'loading') assert.match(text, /^(Loading…|Loading .+ received)$/, `${id}: ${text}`);
        }
        for (const m of x.metas) assert.doesNotMatch(m, /\b0 (products|rows|\w+ orders)\b|error/, m);
      }
      // Then the real content, and the indicator goes away.
      assert.match(await page.textContent('#join-meta'), /\b\d{3} products in stock/);
      assert.match(await page.textContent('#time-commit-label'), /January price list/);
      assert.equal(await page.isVisible('#sync-progress'), false);
      assert.deepEqual(await page.evaluate(() => window.demo.errors), []);
    } finally {
      await ctx.close();
    }
  });

test('a write in one tab appears in another; the two tabs share one socket', { ...T, skip: missing ?? false }, async () => {
  pageB = await open();
  await pageB.waitForSelector('#status[data-state=live]', { timeout: WAIT });
  // One browser, one replica: tab A syncs every database, tab B follows it.
  assert.equal(await pageA.getAttribute('#sync-role', 'data-role'), 'leader');
  assert.equal(await pageB.getAttribute('#sync-role', 'data-role'), 'follower');
  assert.match(await pageB.textContent('#sync-role'), /Another tab of this browser holds the connection/);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: `Bearer ${demo.metricsToken}` } })).json();
  for (const [name, m] of Object.entries(metrics.databases)) assert.equal(m.clients, 1, `one socket to ${name} for two tabs`);
  await pageA.fill('#stock-sku', 'SKU-0001');
  await pageA.fill('#stock-value', '4242');
  // Tab B is the visible one; tab A is in the background, where Chromium runs no
  // animation frames (Playwright's click waits for them): click through the DOM.
  const t0 = Date.now();
  await pageA.$eval('#stock-form button', (b) => b.click());
  await waitForStock(pageB, 'SKU-0001', 4242);
  const seen = Date.now() - t0;
  await pageA.waitForFunction(() => /saved stock of SKU-0001/.test(document.querySelector('#write-result').textContent),
    null, { timeout: WAIT, polling: 100 });
  // Tab B logged the update: a live tab gets the commit's datoms, a few hundred bytes
  // (its first sync took nodes: the first-sync test). B showed the write before (from
  // the shared outbox), so wait for the server's commit to reach it.
  await pageB.waitForFunction(() => /inventory #\d+: datoms \(log\), [\d.]+ B on the wire/.test(document.querySelector('#sync-log').textContent),
    null, { timeout: WAIT, polling: 100 });
  assert.equal(await pageB.$eval('#sync-table tr[data-db="inventory"]', (tr) => tr.cells[4].textContent), 'log');
  const wire = await pageB.$$eval('#sync-log li[data-apply="log"]', (lis) => lis.map((li) => Number(li.dataset.wire)));
  assert.ok(wire.length > 0 && wire.every((b) => b < 2048), `log updates: ${wire} bytes`);
  const redrawsBefore = Number(await pageB.getAttribute('#dashboard-meta', 'data-redraws'));
  // A new product, in the catalog and the inventory, reaches tab B's join; the button
  // said it would add one.
  await pageA.fill('#product-sku', 'NEW-0001');
  await pageA.waitForFunction(() => document.querySelector('#product-save').textContent === 'Add product NEW-0001',
    null, { timeout: WAIT, polling: 100 });
  await pageA.fill('#product-name', 'Demo Widget');
  await pageA.fill('#product-price', '12.5');
  await pageA.fill('#product-stock', '7');
  await pageA.$eval('#product-form button', (b) => b.click());
  await waitForStock(pageB, 'NEW-0001', 7);
  const row = (await rowsOf(pageB, '#join-result')).find((r) => r[0] === 'NEW-0001');
  assert.deepEqual(row, ['NEW-0001', 'Demo Widget', '12.50', '7']);
  // The dashboard shows the changed product first.
  await pageB.waitForFunction(() => /NEW-0001/.test(document.querySelector('#chart-stock .label')?.textContent),
    null, { timeout: WAIT, polling: 100 });
  // An order in one tenant's database redraws tab B's orders chart.
  await pageA.selectOption('#order-tenant', 'hooli');
  await pageA.fill('#order-sku', 'SKU-0002');
  await pageA.fill('#order-qty', '3');
  await pageA.$eval('#order-form button', (b) => b.click());
  await pageB.waitForFunction(() => {
    const texts = [...document.querySelectorAll('#chart-orders text')].map((t) => t.textContent);
    return texts[texts.indexOf('hooli') + 1] === '251';
  }, null, { timeout: WAIT, polling: 100 });
  // The dashboard's charts are live queries, redrawn for these writes (wasm/test/live*
  // test that unrelated commits skip them).
  const meta = await pageB.$eval('#dashboard-meta', (m) => ({ redraws: Number(m.dataset.redraws), text: m.textContent }));
  assert.ok(meta.redraws > redrawsBefore, meta.text);
  console.log(`write → visible in the other tab: ${seen} ms; dashboard: ${meta.text}`);
  await shot(pageB, 'live-sync', '#sync');
  await shot(pageB, 'dashboard-after-write', '#dashboard');
});

test('add a product: a bad SKU is refused with a message, an existing SKU says update before saving',
  { ...T, skip: missing ?? false }, async () => {
    await pageA.bringToFront();
    // The pattern attribute compiles under the `v` flag (Chromium's), and the page
    // refuses "bad sku!" itself: a message, nothing sent.
    const tx0 = await pageA.evaluate(() => window.demo.replicas.conns.catalog.db().basisT);
    const result0 = await pageA.textContent('#write-result');
    await pageA.fill('#product-sku', 'bad sku!');
    assert.equal(await pageA.$eval('#product-sku', (el) => el.validity.patternMismatch), true);
    await pageA.fill('#product-name', 'Bad Widget');
    await pageA.click('#product-save');
    assert.match(await pageA.textContent('#product-note'), /Not saved: “bad sku!” is not a valid SKU/);
    assert.equal(await pageA.getAttribute('#product-sku', 'aria-invalid'), 'true');
    await pageA.waitForTimeout(500);
    assert.equal(await pageA.evaluate(() => window.demo.replicas.conns.catalog.db().basisT), tx0, 'nothing was written');
    assert.equal(await pageA.textContent('#write-result'), result0);
    assert.equal(await pageA.evaluate(() => window.demo.d.q('[:find ?p . :in $ ?s :where [?p :product/sku ?s]]',
      window.demo.replicas.conns.catalog.db(), 'bad sku!')), null);
    // An existing SKU: the button says update, the note shows the current values.
    await pageA.fill('#product-sku', 'SKU-0003');
    await pageA.waitForFunction(() => document.querySelector('#product-save').textContent === 'Update product SKU-0003',
      null, { timeout: WAIT, polling: 100 });
    assert.match(await pageA.textContent('#product-note'), /SKU-0003 exists: “Compact Skillet 3”, \d+\.\d\d, kitchen, stock \d+\. Saving replaces these values/);
    await shot(pageA, 'product-update', '#product-form');
    await pageA.fill('#product-name', 'Compact Skillet 3');
    await pageA.fill('#product-price', '99.5');
    await pageA.fill('#product-stock', '5');
    await pageA.click('#product-save');
    await waitForStock(pageA, 'SKU-0003', 5);  // the replica's view shows the write at once
    // The result line says saved once the server's commit is back in the replica.
    await pageA.waitForFunction(() => /saved updated product SKU-0003/.test(document.querySelector('#write-result').textContent),
      null, { timeout: WAIT, polling: 100 });
    assert.deepEqual((await rowsOf(pageA, '#join-result')).find((r) => r[0] === 'SKU-0003'), ['SKU-0003', 'Compact Skillet 3', '99.50', '5']);
    // A new SKU says add.
    await pageA.fill('#product-sku', 'NEW-0002');
    await pageA.waitForFunction(() => document.querySelector('#product-save').textContent === 'Add product NEW-0002',
      null, { timeout: WAIT, polling: 100 });
    assert.match(await pageA.textContent('#product-note'), /NEW-0002 is not in the catalog: saving adds it/);
  });

test('the console runs queries and reports a malformed one as an error', { ...T, skip: missing ?? false }, async () => {
  await pageA.bringToFront();  // background tabs get throttled timers
  await pageA.fill('#console-input', '[:find ?name ?stock\n :in $catalog $inventory\n :where [$catalog ?p :product/sku "NEW-0001"]\n' +
    '        [$catalog ?p :product/name ?name]\n        [$inventory ?i :inventory/sku "NEW-0001"]\n        [$inventory ?i :inventory/stock ?stock]]');
  await pageA.click('#console-run');
  await pageA.waitForFunction(() => /Demo Widget/.test(document.querySelector('#console-result').textContent),
    null, { timeout: WAIT, polling: 100 });
  assert.deepEqual(await rowsOf(pageA, '#console-result'), [['Demo Widget', '7']]);
  // An unbalanced query: an error with its position, no result.
  await pageA.fill('#console-input', '[:find ?sku\n :where [?p :product/sku ?sku]');
  await pageA.click('#console-run');
  await pageA.waitForSelector('#console-error:not([hidden])', { timeout: WAIT });
  assert.match(await pageA.textContent('#console-error'), /line \d+, col \d+/);
  assert.equal(await pageA.$$eval('#console-result tr', (t) => t.length), 0);
  // An unknown function, located at its column.
  await pageA.fill('#console-input', '[:find ?p :where [?p :product/sku ?s] [(frob ?s)]]');
  await pageA.click('#console-run');
  await pageA.waitForFunction(() => /frob/.test(document.querySelector('#console-error').textContent), null, { timeout: WAIT, polling: 100 });
  const pos = await pageA.$eval('#console-error', (e) => [e.dataset.line, e.dataset.col]);
  assert.equal(pos[0], '1');
  assert.ok(Number(pos[1]) > 30, `column ${pos[1]}`);
  await shot(pageA, 'console-error', '#console');
});

test('every built-in console example runs and gives rows', { ...T, skip: missing ?? false }, async () => {
  await pageA.bringToFront();
  const examples = await pageA.$$eval('#console-examples option', (os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(examples.length >= 6, examples.join(', '));
  for (const name of examples) {
    const runs = await pageA.evaluate(() => window.demo.consoleRuns);
    await pageA.selectOption('#console-examples', name);
    await pageA.waitForFunction((n) => window.demo.consoleRuns > n, runs, { timeout: WAIT, polling: 50 });
    const error = await pageA.isVisible('#console-error') ? await pageA.textContent('#console-error') : null;
    assert.equal(error, null, `${name}: ${error}`);
    assert.equal(await pageA.$eval('#console-result', (el) => el.dataset.state), 'ready', name);
    const rows = await rowsOf(pageA, '#console-result');
    assert.ok(rows.length > 0, `${name}: no rows`);
    assert.match(await pageA.textContent('#console-meta'), new RegExp(`^${rows.length} rows? · `), name);
    if (name === 'Biggest orders, all tenants') {
      assert.ok(rows.every(([tenant, id, total]) => id.startsWith(`${tenant}-`) && Number(total) > 1600), JSON.stringify(rows));
    }
  }
});

test('the console explains a source the query does not pass; "$ is" applies to queries that bind $',
  { ...T, skip: missing ?? false }, async () => {
    await pageA.bringToFront();
    // pull without a source reads $, which :in does not pass.
    await pageA.fill('#console-input', '[:find (pull ?p [*]) . :in $catalog :where [$catalog ?p :product/sku "SKU-0001"]]');
    assert.equal(await pageA.isDisabled('#console-default'), true);
    assert.match(await pageA.textContent('#console-default-note'), /not used: this query’s :in does not name \$/);
    await pageA.click('#console-run');
    await pageA.waitForSelector('#console-error:not([hidden])', { timeout: WAIT });
    const pull = await pageA.textContent('#console-error');
    assert.match(pull, /pull: source \$ is not a database passed to the query/);
    assert.match(pull, /The query reads \$, but its :in passes \$catalog\./);
    assert.match(pull, /\(pull \$catalog \?p \[\*\]\), or add \$ to :in/);
    // A source that is not in :in, and one that does not exist.
    await pageA.fill('#console-input', '[:find ?s :in $catalog :where [$inventory _ :inventory/sku ?s]]');
    await pageA.click('#console-run');
    await pageA.waitForFunction(() => /Add \$inventory to :in/.test(document.querySelector('#console-error').textContent),
      null, { timeout: WAIT, polling: 100 });
    await pageA.fill('#console-input', '[:find ?s :in $stock :where [$stock _ :inventory/sku ?s]]');
    await pageA.click('#console-run');
    await pageA.waitForFunction(() => /no database \$stock; use \$catalog, \$inventory/.test(document.querySelector('#console-error').textContent),
      null, { timeout: WAIT, polling: 100 });
    // Without :in, $ is the database chosen under "$ is".
    await pageA.fill('#console-input', '[:find [?a ...] :where [_ ?a]]');
    assert.equal(await pageA.isDisabled('#console-default'), false);
    await pageA.selectOption('#console-default', 'inventory');
    await pageA.waitForFunction(() => /:inventory\/sku/.test(document.querySelector('#console-result').textContent),
      null, { timeout: WAIT, polling: 100 });
    assert.doesNotMatch(await pageA.textContent('#console-result'), /:product\//);
    await pageA.selectOption('#console-default', 'catalog');
    await pageA.waitForFunction(() => /:product\/sku/.test(document.querySelector('#console-result').textContent),
      null, { timeout: WAIT, polling: 100 });
  });

test('transaction ids show as #t with the full id on hover, in every panel', { ...T, skip: missing ?? false }, async () => {
  await pageA.bringToFront();
  const runs = await pageA.evaluate(() => window.demo.consoleRuns);
  await pageA.selectOption('#console-examples', 'Catalog history of one SKU');
  await pageA.waitForFunction((n) => window.demo.consoleRuns > n, runs, { timeout: WAIT, polling: 50 });
  assert.doesNotMatch(await pageA.evaluate(() => document.body.innerText), /\d{13}/);
  const refs = await pageA.$$eval('.tx', (els) => els.map((e) => [e.parentElement.closest('[id]').id, e.textContent, e.title]));
  for (const [where, text, title] of refs) {
    const m = /^tx (\d{13})$/.exec(title);
    assert.ok(m, `${where}: title ${title}`);
    assert.equal(text, `#${Number(m[1]) - 2 ** 42}`, where);
  }
  const places = new Set(refs.map(([where]) => where));
  for (const where of ['join-meta', 'time-commit-label', 'sync-table', 'sync-log', 'write-result', 'console-result']) {
    assert.ok(places.has(where), `no transaction shown in #${where} (${[...places]})`);
  }
});

test('at 390 px wide the page does not scroll sideways', { ...T, skip: missing ?? false }, async () => {
  const page = await context.newPage();
  try {
    await page.setViewportSize({ width: 390, height: 844 });
    await open(page);
    await allReady(page);
    // An error in the console too (the widest text the page shows).
    await page.fill('#console-input', '[:find ?n :in $catalog :where [?p :product/name ?n] [(frobnicate ?n)]]');
    await page.click('#console-run');
    await page.waitForSelector('#console-error:not([hidden])', { timeout: WAIT });
    const wide = () => page.evaluate(() => {
      const root = document.documentElement;
      const out = root.scrollWidth > 390 ? [`page: ${root.scrollWidth}`] : [];
      for (const el of document.querySelectorAll('.panel, .top, .tabs, .progress, .banner')) {
        if (el.scrollWidth > el.clientWidth + 1) out.push(`#${el.id || el.className}: ${el.scrollWidth} > ${el.clientWidth}`);
        if (el.getBoundingClientRect().right > 390) out.push(`#${el.id || el.className} ends at ${el.getBoundingClientRect().right}`);
      }
      return out;
    });
    assert.deepEqual(await wide(), []);
    for (const id of await page.$$eval('.panel', (ps) => ps.map((p) => p.id))) {
      await page.locator(`#${id}`).scrollIntoViewIfNeeded();
      assert.deepEqual(await wide(), [], id);
      await shot(page, `390-${id}`, `#${id}`);
    }
    assert.equal(await page.evaluate(() => window.scrollX), 0);
  } finally {
    await page.close();
  }
});

test('with the server stopped the page keeps working', { ...T, skip: missing ?? false }, async () => {
  await pageB.close();
  await demo.stop();
  await pageA.waitForSelector('#status[data-state=offline]', { timeout: WAIT });
  assert.equal(await pageA.isVisible('#banner'), true);
  // Queries still run on the replicas: the console (2 000 seeded orders and the one
  // placed above) and the join (a new input).
  await pageA.fill('#console-input', '[:find (count ?o) . :in [[?t $db] ...] :where [$db ?o :order/id]]');
  await pageA.click('#console-run');
  await pageA.waitForFunction(() => document.querySelector('#console-result td')?.textContent === '2001', null, { timeout: WAIT, polling: 100 });
  await pageA.$eval('#join-max', (el) => { el.value = '20'; el.dispatchEvent(new Event('input')); });
  await pageA.waitForFunction(() => /in stock at ≤ 20 /.test(document.querySelector('#join-meta').textContent), null, { timeout: WAIT, polling: 100 });
  await pageA.$eval('#join-max', (el) => { el.value = '200'; el.dispatchEvent(new Event('input')); });
  await waitForStock(pageA, 'SKU-0001', 4242);
  // Writes work offline: saved in the replica (shown at once), queued in its outbox
  // (Playwright's context.setOffline does not close an open WebSocket, so the server
  // is stopped instead).
  await waitForWrites(pageA, true);
  await pageA.fill('#stock-sku', 'SKU-0004');
  await pageA.fill('#stock-value', '31');
  await pageA.$eval('#stock-form button', (b) => b.click());
  await waitForStock(pageA, 'SKU-0004', 31);
  await pageA.waitForFunction(() => /saved stock of SKU-0004 → 31 here .*queued offline/.test(document.querySelector('#write-result').textContent),
    null, { timeout: WAIT, polling: 100 });
  // A second one, which another writer will have made stale by the time the server
  // returns (the next test): the server refuses it.
  await pageA.fill('#stock-sku', 'SKU-0005');
  await pageA.fill('#stock-value', '55');
  await pageA.$eval('#stock-form button', (b) => b.click());
  await waitForStock(pageA, 'SKU-0005', 55);
  assert.equal(await pendingText(pageA), '2 writes waiting for the server');
  await shot(pageA, 'offline');
});

test('a reload with the server stopped still shows the data, and it catches up when the server returns',
  { ...T, skip: missing ?? false }, async () => {
    await open(pageA);
    await pageA.waitForSelector('#status[data-state=offline]', { timeout: WAIT });
    await waitForStock(pageA, 'SKU-0001', 4242);
    await waitForStock(pageA, 'SKU-0004', 31);  // the writes made offline, from the outbox
    await waitForStock(pageA, 'SKU-0005', 55);
    await waitForWrites(pageA, true);
    assert.equal(await pendingText(pageA), '2 writes waiting for the server');
    assert.ok((await rowsOf(pageA, '#join-result')).some((r) => r[0] === 'NEW-0001'));
    await shot(pageA, 'offline-reload');
    // Meanwhile another writer (the command-line tool, on the stopped server's files)
    // changed the count the page's SKU-0005 write expects.
    const cli = spawnSync(join(dirname(SERVER), 'datalith'), ['transact', join(demo.data, 'inventory')],
      { input: '[{:inventory/sku "SKU-0005" :inventory/stock 500}]', encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    // The server returns on the same port (the page's origin) with the same data; a
    // write from a non-browser client reaches the page.
    demo = await startDemo({ server: SERVER, data: demo.data, site: join(tmp, 'site'), port });
    const res = await fetch(`${demo.url}db/inventory/transact`, {
      method: 'POST', headers: { authorization: `Bearer ${DEFAULT_TOKEN}` },
      body: '[{:inventory/sku "SKU-0002" :inventory/stock 777}]' });
    assert.equal(res.status, 200, await res.text());
    await pageA.waitForSelector('#status[data-state=live]', { timeout: 45_000 });
    await waitForStock(pageA, 'SKU-0002', 777);
    await waitForWrites(pageA, false);
    // The write made offline went to the server once it returned.
    await pageA.waitForFunction(() => document.querySelector('#write-pending').textContent === '', null, { timeout: WAIT, polling: 100 });
    await waitForStock(pageA, 'SKU-0004', 31);
    // The stale one was refused: the page says so, drops it, and shows the server's count.
    await waitForStock(pageA, 'SKU-0005', 500);
    await pageA.waitForFunction(() => /the server refused a write made offline \(inventory\): .*:db\/cas/
      .test(document.querySelector('#write-result').textContent), null, { timeout: WAIT, polling: 100 });
    assert.equal(await pageA.evaluate(() => window.demo.replicas.conns.inventory.outbox().length), 0);
    await shot(pageA, 'reconnected', '#sync');
  });

test('no uncaught errors on the pages', { skip: missing ?? false }, () => {
  assert.deepEqual(pageErrors, []);
});
