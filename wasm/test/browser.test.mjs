// Browser tests in Debian's headless Chromium, driven by playwright-core: the page at
// wasm/test/support/page.html imports the package from a loopback static server.
// IndexedDB persistence across reloads, lazy loading (node reads counted), errors as
// Errors, an IndexedDB database joined with a memory one, and two tabs writing one
// IndexedDB database without Web Locks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './support/chromium.mjs';
import { serve } from './support/server.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const PEOPLE = 5000;

let server, browser, page;

before(async () => {
  server = await serve(ROOT);
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();  // a context can open more pages (tabs)
  page.on('pageerror', (e) => console.error('page error:', e));
  await load();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

// (Re)loads the test page: a fresh JS heap and WASM module, the same IndexedDB.
async function load() {
  await page.goto(`${server.url}/wasm/test/support/page.html`);
  await page.waitForFunction(() => document.title === 'ready');
}

test('data in IndexedDB survives a page reload', async () => {
  await page.evaluate(async () => {
    const d = await window.datalith.init();
    const cfg = { store: { backend: 'indexeddb', id: 'persist' } };
    await d.deleteDatabase(cfg);
    await d.createDatabase(cfg);
    const conn = await d.connect(cfg);
    await conn.transact([{ 'db/ident': ':note/text', 'db/valueType': ':db.type/string' }]);
    await conn.transact([{ 'note/text': 'first' }, { 'note/text': 'second' }]);
    await conn.close();
  });
  await load();
  const texts = await page.evaluate(async () => {
    const d = await window.datalith.init();
    const cfg = { store: { backend: 'indexeddb', id: 'persist' } };
    const exists = await d.databaseExists(cfg);
    const conn = await d.connect(cfg);
    await conn.transact([{ 'note/text': 'third' }]);
    const texts = await d.q('[:find [?t ...] :where [_ :note/text ?t]]', conn.db());
    await conn.close();
    return { exists, texts: texts.sort() };
  });
  assert.deepEqual(texts, { exists: true, texts: ['first', 'second', 'third'] });
  await load();
  const after = await page.evaluate(async () => {
    const d = await window.datalith.init();
    const conn = await d.connect({ store: { backend: 'indexeddb', id: 'persist' } });
    return (await d.q('[:find [?t ...] :where [_ :note/text ?t]]', conn.db())).length;
  });
  assert.equal(after, 3);
});

test('a cold lookup by a unique attribute reads only a few dozen nodes', async () => {
  const built = await page.evaluate(async (count) => {
    const d = await window.datalith.init();
    const cfg = { store: { backend: 'indexeddb', id: 'lazy' } };
    await d.deleteDatabase(cfg);
    await d.createDatabase(cfg);
    const conn = await d.connect(cfg);
    await conn.transact([
      { 'db/ident': ':person/email', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
      { 'db/ident': ':person/name', 'db/valueType': ':db.type/string' },
      { 'db/ident': ':person/age', 'db/valueType': ':db.type/long' },
      { 'db/ident': ':person/bio', 'db/valueType': ':db.type/string' }]);
    for (let start = 0; start < count; start += 1000) {
      await conn.transact(Array.from({ length: 1000 }, (_, k) => {
        const i = start + k;
        return { 'person/email': `p${i}@example.com`, 'person/name': `Person ${i}`, 'person/age': i % 90,
          'person/bio': `bio of person ${i} `.repeat(4) };
      }));
    }
    await conn.close();
    // Every node in the store, for comparison.
    const idb = await new Promise((ok, fail) => {
      const r = indexedDB.open('datalith:lazy');
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const total = await new Promise((ok) => {
      const r = idb.transaction('nodes').objectStore('nodes').count();
      r.onsuccess = () => ok(r.result);
    });
    idb.close();
    return { total };
  }, PEOPLE);

  await load();
  const cold = await page.evaluate(async () => {
    const d = await window.datalith.init();
    const t0 = performance.now();
    const conn = await d.connect({ store: { backend: 'indexeddb', id: 'lazy' } });
    const opened = conn.stats();
    const t1 = performance.now();
    const name = await d.q('[:find ?n . :in $ ?email :where [?e :person/email ?email] [?e :person/name ?n]]',
      conn.db(), 'p4321@example.com');
    const t2 = performance.now();
    const lookup = conn.stats();
    const again = await d.q('[:find ?n . :in $ ?email :where [?e :person/email ?email] [?e :person/name ?n]]',
      conn.db(), 'p4321@example.com');
    const warm = conn.stats();
    await conn.close();
    return { name, again, opened, lookup, warm, openMs: t1 - t0, lookupMs: t2 - t1 };
  });
  console.log(`lazy loading: ${PEOPLE} people, ${built.total} nodes in IndexedDB; open read ${cold.opened.nodesRead} ` +
    `node(s); cold lookup read ${cold.lookup.nodesRead - cold.opened.nodesRead} nodes in ` +
    `${cold.lookup.batches - cold.opened.batches} batches, ${cold.lookupMs.toFixed(1)} ms`);
  assert.equal(cold.name, 'Person 4321');
  assert.equal(cold.again, 'Person 4321');
  assert.ok(built.total > 200, `the database is big enough to tell (${built.total} nodes)`);
  assert.ok(cold.opened.nodesRead <= 2, `opening reads the commit record only (${cold.opened.nodesRead})`);
  assert.ok(cold.lookup.nodesRead < 50, `a lookup reads a few dozen nodes (${cold.lookup.nodesRead})`);
  assert.ok(cold.lookup.batches - cold.opened.batches <= 10, 'in a handful of batches');
  assert.equal(cold.warm.nodesRead, cold.lookup.nodesRead, 'a second lookup reads nothing');
});

test('errors surface as JS Errors with the core message', async () => {
  const errors = await page.evaluate(async () => {
    const d = await window.datalith.init();
    const cfg = { store: { backend: 'indexeddb', id: 'persist' } };
    const conn = await d.connect(cfg);
    const out = [];
    for (const attempt of [
      () => d.q('[:find ?x :where [?x :note/text ?t] [(nope ?t)]]', conn.db()),
      () => conn.transact('[{:note/text 42}]'),
      () => conn.db().pull('[:note/text', 1),
      () => d.connect({ store: { backend: 'indexeddb', id: 'never-created' } }),
    ]) {
      try {
        await attempt();
        out.push(null);
      } catch (e) {
        out.push({ isError: e instanceof Error, message: e.message });
      }
    }
    await conn.close();
    return out;
  });
  for (const e of errors) assert.equal(e?.isError, true, JSON.stringify(e));
  assert.match(errors[0].message, /line 1, col \d+.*nope/);
  assert.match(errors[1].message, /:note\/text/);
  assert.match(errors[2].message, /line 1, col \d+/);
  assert.match(errors[3].message, /no database "never-created"/);
});

// In a browser, texts up to 1 KB cross the boundary by JS loops, longer ones by
// TextEncoder/TextDecoder, and one beyond 4 KB goes in by encodeInto when it is all ASCII
// (wasm/src/embind_string.js): each way, ASCII or not, at each length, in transaction
// data, query inputs and replies.
test('texts cross the WASM boundary intact in a browser: short and long, ASCII and not', async () => {
  const texts = ['plain', 'é', 'naïve ☃ 😀', 'x'.repeat(1000) + 'é', 'y'.repeat(1030), 'z'.repeat(3000) + '😀',
    'v'.repeat(6000), 'w'.repeat(6000) + 'é', '😀'.repeat(3000), ''];
  const back = await page.evaluate(async (texts) => {
    const d = await window.datalith.init();
    const cfg = { store: { backend: 'memory', id: 'texts' } };
    await d.createDatabase(cfg);
    const conn = await d.connect(cfg);
    await conn.transact([{ 'db/ident': ':t/s', 'db/valueType': ':db.type/string' }, { 'db/ident': ':t/i', 'db/valueType': ':db.type/long' }]);
    const out = [];
    for (const [i, s] of texts.entries()) {
      // As JSON text (an entity map) and as EDN text (a list form); read back by a query
      // whose input is the text, by pull, and from the report.
      const r1 = await conn.transact([{ 't/s': s, 't/i': 2 * i }]);
      const r2 = await conn.transact([[':db/add', 'n', ':t/s', s + '!'], [':db/add', 'n', ':t/i', 2 * i + 1]]);
      const found = await d.q('[:find [?i ...] :in $ ?s :where [?e :t/s ?s] [?e :t/i ?i]]', conn.db(), s);
      const pulled = await conn.db().pull('[:t/s]', r2.tempids.n);
      out.push({ found, pulled: pulled['t/s'], reported: [r1.txData.find((x) => x[1] === ':t/s')?.[2], r2.txData.find((x) => x[1] === ':t/s')?.[2]] });
    }
    await conn.close();
    await d.deleteDatabase(cfg);
    return out;
  }, texts);
  back.forEach((b, i) => {
    assert.deepEqual(b.found, [2 * i], `query by text #${i}`);
    assert.equal(b.pulled, texts[i] + '!', `pull of text #${i}`);
    assert.deepEqual(b.reported, [texts[i], texts[i] + '!'], `report of text #${i}`);
  });
});

test('an IndexedDB database and a memory database join in one query', async () => {
  await load();  // the IndexedDB side starts cold
  const rows = await page.evaluate(async () => {
    const d = await window.datalith.init();
    const people = await d.connect({ store: { backend: 'indexeddb', id: 'lazy' } });
    const cfg = { store: { backend: 'memory', id: 'orders' }, schemaFlexibility: 'read' };
    await d.createDatabase(cfg);
    const orders = await d.connect(cfg);
    await orders.transact([
      { 'order/email': 'p7@example.com', 'order/total': 30 },
      { 'order/email': 'p4999@example.com', 'order/total': 12.5 },
      { 'order/email': 'nobody@example.com', 'order/total': 99 }]);
    const rows = await d.q(`[:find ?name ?total :in $people $orders
                             :where [$orders ?o :order/email ?email] [$orders ?o :order/total ?total]
                                    [$people ?p :person/email ?email] [$people ?p :person/name ?name]]`,
      people.db(), orders.db());
    const read = people.stats().nodesRead;
    await people.close();
    return { rows: rows.sort(), read };
  });
  assert.deepEqual(rows.rows, [['Person 4999', 12.5], ['Person 7', 30]]);
  assert.ok(rows.read < 100, `the join read ${rows.read} nodes`);
});

test('two tabs writing one IndexedDB database without Web Locks (an older page): a commit never overwrites another tab\'s', async () => {
  // A second page of the same browser context shares the origin's IndexedDB: a tab.
  // Without navigator.locks nothing serializes the tabs' commits (tabs.js), so only the
  // head's compare-and-set stands between them: a commit that lost the race is refused
  // with 'conflict', and the stored data is exactly the commits that were accepted, each
  // of which every tab's listeners hear once.
  // (With Web Locks, tabs take turns: tabs-browser.test.mjs.)
  const other = await page.context().newPage();
  const open = async (p, create) => p.evaluate(async (create) => {
    Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
    const d = await window.datalith.init();
    const cfg = { store: { backend: 'indexeddb', id: 'tabs' }, schemaFlexibility: 'read' };
    if (create) {
      await d.deleteDatabase(cfg);
      await d.createDatabase(cfg);
    }
    window.tabConn = await d.connect(cfg);
    window.heard = [];
    window.tabConn.listen((r) => window.heard.push(...(r.reset ? ['reset'] : r.txData.filter((x) => x[1] === ':tab/name').map((x) => x[2]))));
  }, create);
  const writes = (p, tab) => p.evaluate(async (tab) => {
    const out = [];
    for (let i = 0; i < 30; i++) {
      try {
        await window.tabConn.transact([{ 'tab/name': `${tab}${i}` }]);
        out.push(`${tab}${i}`);
      } catch (e) {
        out.push({ code: e.code, message: e.message });
      }
    }
    return out;
  }, tab);
  try {
    await other.goto(`${server.url}/wasm/test/support/page.html`);
    await other.waitForFunction(() => document.title === 'ready');
    await open(page, true);
    await open(other, false);
    const results = (await Promise.all([writes(page, 'a'), writes(other, 'b')])).flat();
    const refused = results.filter((r) => typeof r !== 'string');
    for (const r of refused) {
      assert.equal(r.code, 'conflict');
      assert.match(r.message, /not stored: .*moved by another page or tab.*continues from the stored head/);
    }
    console.log(`two tabs without Web Locks, 30 writes each at once: ${refused.length} refused with 'conflict'`);
    const accepted = results.filter((r) => typeof r === 'string').sort();
    for (const p of [page, other]) {
      await p.waitForFunction((n) => window.heard.length >= n, accepted.length, { timeout: 10000 });
      assert.deepEqual((await p.evaluate(() => window.heard)).sort(), accepted);
    }
    await load();
    const names = await page.evaluate(async () => {
      const d = await window.datalith.init();
      const conn = await d.connect({ store: { backend: 'indexeddb', id: 'tabs' } });
      const names = await d.q('[:find [?n ...] :where [_ :tab/name ?n]]', conn.db());
      await conn.close();
      return names;
    });
    assert.deepEqual(names.sort(), accepted);
  } finally {
    await other.close();
  }
});
