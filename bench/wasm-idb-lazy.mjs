#!/usr/bin/env node
// Lazy loading from IndexedDB on the ~1M-datom people database, in headless Chromium:
// loads people-1m.json (plus a unique :email per person) into an IndexedDB database
// through the npm package, reloads the page, and times a fresh page's first lookup by
// the unique attribute, counting the nodes it reads.
//
// Usage: node bench/wasm-idb-lazy.mjs --million build/bench/people-1m.json
// Prints one JSON line (engine "datalith-wasm", backend "indexeddb"), the format
// bench/compare.mjs reads.
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../wasm/test/support/chromium.mjs';
import { serve } from '../wasm/test/support/server.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const at = process.argv.indexOf('--million');
if (at < 0 || !process.argv[at + 1]) {
  console.error('usage: node bench/wasm-idb-lazy.mjs --million people-1m.json');
  process.exit(2);
}
const dataUrl = '/' + relative(ROOT, resolve(process.argv[at + 1]));

const server = await serve(ROOT);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const load = async () => {
    await page.goto(`${server.url}/wasm/test/support/page.html`);
    await page.waitForFunction(() => document.title === 'ready');
  };
  await load();
  console.error('wasm-idb-lazy: loading the 1M-datom database into IndexedDB ...');
  const built = await page.evaluate(async (url) => {
    const d = await window.datalith.init();
    const cfg = { store: { backend: 'indexeddb', id: 'people-1m' } };
    await d.deleteDatabase(cfg);
    await d.createDatabase(cfg);
    const conn = await d.connect(cfg);
    const types = { email: 'string', name: 'string', 'last-name': 'string', 'full-name': 'string', alias: 'string',
      sex: 'string', age: 'long', salary: 'long' };
    await conn.transact(Object.entries(types).map(([a, t]) => ({
      'db/ident': `:${a}`, 'db/valueType': `:db.type/${t}`,
      ...(a === 'alias' ? { 'db/cardinality': ':db.cardinality/many' } : {}),
      ...(a === 'email' ? { 'db/unique': ':db.unique/identity' } : {}),
    })));
    const people = (await (await fetch(url)).json()).people;
    const t0 = performance.now();
    let datoms = 0;
    for (let i = 0; i < people.length; i += 20000) {
      const batch = people.slice(i, i + 20000).map(({ id, ...p }) => ({ email: `p${id}@example.com`, ...p }));
      datoms += (await conn.transact(batch)).txData.length - 1;
    }
    await conn.close();
    return { people: people.length, datoms, loadMs: performance.now() - t0 };
  }, dataUrl);
  console.error(`wasm-idb-lazy: ${built.people} people, ${built.datoms} datoms in ${built.loadMs.toFixed(0)} ms`);

  await load();
  const cold = await page.evaluate(async (email) => {
    const d = await window.datalith.init();
    const t0 = performance.now();
    const conn = await d.connect({ store: { backend: 'indexeddb', id: 'people-1m' } });
    const t1 = performance.now();
    const name = await d.q('[:find ?n . :in $ ?email :where [?e :email ?email] [?e :full-name ?n]]', conn.db(), email);
    const t2 = performance.now();
    return { name, openMs: t1 - t0, lookupMs: t2 - t1, stats: conn.stats() };
  }, `p${Math.floor(built.people / 2)}@example.com`);
  if (!cold.name) throw new Error('the lookup found nothing');
  process.stdout.write(JSON.stringify({
    engine: 'datalith-wasm', scenario: 'idb-cold-lookup-1m', backend: 'indexeddb',
    median_ms: Math.round((cold.openMs + cold.lookupMs) * 1000) / 1000, samples_ms: [cold.openMs + cold.lookupMs],
    datoms: built.datoms, open_ms: Math.round(cold.openMs * 10) / 10, lookup_ms: Math.round(cold.lookupMs * 10) / 10,
    nodes_read: cold.stats.nodesRead, bytes_read: cold.stats.bytesRead, batches: cold.stats.batches,
    load_ms: Math.round(built.loadMs),
  }) + '\n');
} finally {
  await browser.close();
  await server.close();
}
