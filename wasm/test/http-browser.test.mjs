// The http backend in headless Chromium: a page of one origin reads a database that
// Debian's nginx serves from another (CORS) on 127.0.0.1, lazily, caching the nodes it
// reads in IndexedDB; joins it with the page's own IndexedDB database; and, offline,
// reopens it from that cache after a reload and answers what it read before.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './support/chromium.mjs';
import { serve } from './support/server.mjs';
import { startNginx } from '../../tests/support/nginx.mjs';
import { findCli, publishNew } from './support/published.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const CLI = findCli();
const opts = { skip: !CLI ? 'no build*/datalith (or DATALITH_CLI)' : false, timeout: 90000 };
let work, web, nginx, browser;

before(async () => {
  if (!CLI) return;
  work = mkdtempSync(join(tmpdir(), 'datalith-http-browser-'));
  const txs = ['[{:db/ident :person/email :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :person/name :db/valueType :db.type/string} {:db/ident :person/age :db/valueType :db.type/long}]'];
  for (let k = 0; k < 4; k++) {
    txs.push(`[${Array.from({ length: 5000 }, (_, i) => `{:person/email "p${k * 5000 + i}@x.org" :person/name "Person ${k * 5000 + i}" :person/age ${(k * 5000 + i) % 90}}`).join(' ')}]`);
  }
  publishNew(CLI, join(work, 'people'), join(work, 'www', 'people'), txs);
  nginx = await startNginx(join(work, 'www'));
  web = await serve(ROOT);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await web?.close();
  await nginx?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function openPage(context) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${web.url}/wasm/test/support/page.html`);
  await page.waitForFunction(() => document.title === 'ready');
  await page.evaluate(async () => { window.d = await window.datalith.init(); });
  return page;
}

test('a page reads a published database lazily from another origin and joins it with its own IndexedDB database', opts, async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  const url = `${nginx.url}/people/`;
  const r = await page.evaluate(async (url) => {
    const { d } = window;
    const pub = await d.connect({ store: { backend: 'http', url } });
    const opened = pub.stats();
    const t0 = performance.now();
    const age = await d.q('[:find ?a . :in $ ?m :where [?e :person/email ?m] [?e :person/age ?a]]', pub.db(), 'p12345@x.org');
    const ms = performance.now() - t0;
    const first = pub.stats();
    const cfg = { store: { backend: 'indexeddb', id: 'favourites' } };
    await d.createDatabase(cfg);
    const local = await d.connect(cfg);
    await local.transact('[{:db/ident :fav/email :db/valueType :db.type/string}]');
    await local.transact([{ 'fav/email': 'p3@x.org' }, { 'fav/email': 'p19998@x.org' }]);
    const names = await d.q('[:find [?n ...] :in $l $p :where [$l _ :fav/email ?m] [$p ?e :person/email ?m] [$p ?e :person/name ?n]]',
      local.db(), pub.db());
    await Promise.all([pub.close(), local.close()]);
    return { age, ms, opened, first, names: names.sort() };
  }, url);
  const total = readdirSync(join(work, 'www', 'people', 'blobs')).length;
  console.log(`Chromium, first lookup: ${r.first.nodesRead} of ${total} blobs, ${r.first.bytesRead} bytes, ${r.first.batches} batches, ${r.first.requests} requests, ${r.ms.toFixed(1)} ms`);
  assert.equal(r.age, 12345 % 90);
  assert.equal(r.opened.nodesRead, 1, 'opening reads the head and the commit record');
  assert.ok(r.first.nodesRead < total / 10, `${r.first.nodesRead} nodes`);
  assert.deepEqual(r.names, ['Person 19998', 'Person 3']);
  await context.close();
});

test('offline, a reload opens the published database from its IndexedDB cache and answers what it read', opts, async () => {
  const context = await browser.newContext();
  const url = `${nginx.url}/people/`;
  const lookup = (page, email) => page.evaluate(async ({ url, email }) => {
    const { d } = window;
    const pub = await d.connect({ store: { backend: 'http', url } });
    try {
      return { name: await d.q('[:find ?n . :in $ ?m :where [?e :person/email ?m] [?e :person/name ?n]]', pub.db(), email), stats: pub.stats() };
    } catch (e) {
      return { error: e.message, code: e.code };
    } finally {
      await pub.close();
    }
  }, { url, email });
  let page = await openPage(context);
  assert.equal((await lookup(page, 'p777@x.org')).name, 'Person 777');
  await page.close();
  // The page and the package come from the test server, which stays reachable; the
  // static host does not: requests to its port fail.
  await context.route(`${nginx.url}/**`, (route) => route.abort('internetdisconnected'));
  page = await openPage(context);
  const again = await lookup(page, 'p777@x.org');
  assert.equal(again.name, 'Person 777');
  assert.equal(again.stats.nodesRead, 0, 'every node came from the cache');
  assert.ok(again.stats.cacheHits > 0);
  const other = await lookup(page, 'p4@x.org');
  assert.equal(other.code, 'unreachable');
  assert.ok(other.error.includes(`${url}blobs/`), other.error);
  // Back online: it reads what it lacked.
  await context.unroute(`${nginx.url}/**`);
  assert.equal((await lookup(page, 'p4@x.org')).name, 'Person 4');
  await context.close();
});
