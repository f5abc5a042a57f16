// Offline writes at scale (docs/offline.md), in headless Chromium against a real
// datalith-server on 127.0.0.1: N one-entity writes made offline into an IndexedDB
// replica's outbox, then a reload (the time from a fresh page's connect() to the first
// query of the optimistic view), then the server restarted (the time to drain them all).
// Each write is checked on the server: committed exactly once.
//   node bench/outbox-browser.mjs [--writes 20000] [--runs 3]
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../wasm/test/support/chromium.mjs';
import { serve } from '../wasm/test/support/server.mjs';
import { findServer, TestServer } from '../wasm/test/support/sync-server.mjs';
import { median, spread } from './common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const WRITES = arg('writes', 20000);
const RUNS = arg('runs', 3);

const { path: BINARY, why } = findServer();
if (!BINARY) throw new Error(why);

const open = (page, url, id) => page.evaluate(async ([url, id]) => {
  window.d ??= await window.datalith.init();
  const t0 = performance.now();
  window.conn = await window.d.connect({ store: { backend: 'indexeddb', id },
    sync: { url, db: 'inv', token: 'w', backoff: { initialMs: 50, maxMs: 200 } } });
  const count = await window.d.q('[:find (count ?e) . :where [?e :item/n]]', window.conn.db());
  return { ms: performance.now() - t0, count, pending: window.conn.pending };
}, [url, id]);


const web = await serve(ROOT);
const browser = await launchChromium();
const reopen = [], drain = [], write = [];
try {
  for (let run = 0; run < RUNS; run++) {
    const server = await new TestServer(BINARY).start();
    await server.transact('[{:db/ident :item/n :db/valueType :db.type/long :db/index true}]');
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    page.on('crash', () => process.stderr.write('page crashed\n'));
    page.on('console', (m) => m.type() !== 'log' && process.stderr.write(`${m.text()}\n`));
    await page.goto(`${web.url}/wasm/test/support/page.html`);
    await page.waitForFunction(() => document.title === 'ready');
    const id = `outbox-${run}`;
    await open(page, server.url, id);
    await page.evaluate(() => window.conn.synced());
    await server.kill();
    await page.waitForFunction(() => window.conn.syncState === 'offline');
    write.push(await page.evaluate(async (n) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await window.conn.transact(`[{:item/n ${i}}]`, { wait: 'local' });
      return performance.now() - t0;
    }, WRITES));

    await page.reload();
    await page.waitForFunction(() => document.title === 'ready');
    const r = await open(page, server.url, id);
    if (r.count !== WRITES || r.pending !== WRITES) throw new Error(`reopened: ${JSON.stringify(r)}`);
    reopen.push(r.ms);

    await server.restart();
    const t0 = performance.now();
    await page.waitForFunction(() => window.conn.pending === 0, null, { timeout: 600000, polling: 50 });
    drain.push(performance.now() - t0);
    // Exactly once: every write once on the server (a fresh replica of it).
    const check = await (await browser.newContext()).newPage();
    await check.goto(`${web.url}/wasm/test/support/page.html`);
    await check.waitForFunction(() => document.title === 'ready');
    await open(check, server.url, `check-${run}`);
    const seen = await check.evaluate(async () => {
      await window.conn.synced();
      return window.d.q('[:find (count ?e) (count-distinct ?n) :where [?e :item/n ?n]]', window.conn.db());
    });
    if (seen[0][0] !== WRITES || seen[0][1] !== WRITES) throw new Error(`on the server: ${JSON.stringify(seen)}`);
    await page.context().close();
    await check.context().close();
    await server.stop();
    process.stderr.write(`run ${run + 1}: write ${write.at(-1).toFixed(0)} ms, reopen ${r.ms.toFixed(0)} ms, drain ${drain.at(-1).toFixed(0)} ms\n`);
  }
} finally {
  await browser.close();
  await web.close();
}
console.log(`${WRITES} pending one-entity writes, Chromium, IndexedDB replica, ${RUNS} runs (median, range):`);
console.log(`  made offline (awaiting each, wait: 'local'): ${median(write).toFixed(0)} ms (${spread(write)})`);
console.log(`  reload: connect() to the first query of the optimistic view: ${median(reopen).toFixed(0)} ms (${spread(reopen)})`);
console.log(`  server back: drained, every write committed once: ${median(drain).toFixed(0)} ms (${spread(drain)})`);
