#!/usr/bin/env node
// A published database read by a fresh page (docs/format.md §6, the http backend): the
// ~1.1M-datom people database (bench/gen-people.mjs --million, plus a unique :email per
// person) made with the CLI, published with `datalith publish`, served by Debian's
// nginx on 127.0.0.1, read in headless Chromium. Reports, for a fresh page (an empty
// IndexedDB cache): opening; the first lookup by the unique attribute (requests,
// batches = round trips, bytes, time); the query scenarios q1-q4 cold (first run in
// that page) and warm (second run). Then the same with 50 ms added to every request
// (Chromium's network emulation, Network.emulateNetworkConditions latency 50: it
// delays each response by 50 ms, as a far CDN would). Medians over --runs fresh pages.
//
// Usage: node bench/published.mjs [--million build/bench/people-1m.json] [--runs 3]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../wasm/test/support/chromium.mjs';
import { serve } from '../wasm/test/support/server.mjs';
import { startNginx } from '../tests/support/nginx.mjs';
import { dl } from '../wasm/test/support/published.mjs';
import { QUERIES, median, spread } from './common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const MILLION = arg('million', join(ROOT, 'build/bench/people-1m.json'));
const RUNS = Number(arg('runs', 3));
const CACHE = arg('cache', 'indexeddb');  // or memory
const CLI = process.env.DATALITH_CLI ?? join(ROOT, 'build/datalith');
const WORK = join(ROOT, 'build/bench/published');

if (!existsSync(MILLION)) execFileSync('node', [join(ROOT, 'bench/gen-people.mjs'), '--million', MILLION], { stdio: 'inherit' });

// The database, made once (the CLI: create, transact in batches, publish).
const db = join(WORK, 'people-db'), out = join(WORK, 'www', 'people');
if (!existsSync(join(out, 'heads', 'main'))) {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  dl(CLI, ['create', db]);
  const types = { email: 'string', name: 'string', 'last-name': 'string', 'full-name': 'string', alias: 'string',
    sex: 'string', age: 'long', salary: 'long' };
  dl(CLI, ['transact', db], `[${Object.entries(types).map(([a, t]) => `{:db/ident :${a} :db/valueType :db.type/${t}` +
    (a === 'alias' ? ' :db/cardinality :db.cardinality/many' : '') + (a === 'email' ? ' :db/unique :db.unique/identity' : '') + '}').join(' ')}]`);
  const people = JSON.parse(readFileSync(MILLION, 'utf8')).people;
  const edn = (v) => (typeof v === 'number' ? String(v) : JSON.stringify(v));
  for (let i = 0; i < people.length; i += 20000) {
    const batch = people.slice(i, i + 20000).map(({ id, alias, ...p }) => `{:email "p${id}@example.com" ` +
      Object.entries(p).map(([k, v]) => `:${k} ${edn(v)}`).join(' ') + (alias?.length ? ` :alias [${alias.map(edn).join(' ')}]` : '') + '}');
    dl(CLI, ['transact', db], `[${batch.join(' ')}]`);
  }
  console.error(`published: ${dl(CLI, ['publish', db, out]).trim()}`);
}

const nginx = await startNginx(join(WORK, 'www'));
const web = await serve(ROOT);
const browser = await launchChromium();

// One fresh page (new context: empty cache): the figures of one run.
async function run(latency) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${web.url}/wasm/test/support/page.html`);
  await page.waitForFunction(() => document.title === 'ready');
  if (latency) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency, downloadThroughput: -1, uploadThroughput: -1 });
  }
  const r = await page.evaluate(async ({ url, queries, cache }) => {
    const d = await window.datalith.init();
    const t0 = performance.now();
    const conn = await d.connect({ store: { backend: 'http', url, cache } });
    const open = { ms: performance.now() - t0, ...conn.stats() };
    const t1 = performance.now();
    const name = await d.q('[:find ?n . :in $ ?m :where [?e :email ?m] [?e :full-name ?n]]', conn.db(), 'p54321@example.com');
    const lookup = { ms: performance.now() - t1, name, ...conn.stats() };
    const qs = {};
    for (const [q, text] of queries) {
      const before = conn.stats();
      const c0 = performance.now();
      await d.q(text, conn.db());
      const cold = performance.now() - c0;
      const w0 = performance.now();
      await d.q(text, conn.db());
      const after = conn.stats();
      qs[q] = { cold, warm: performance.now() - w0, requests: after.requests - before.requests, batches: after.batches - before.batches,
        bytes: after.bytesRead - before.bytesRead };
    }
    await conn.close();
    return { open, lookup, qs };
  }, { url: `${nginx.url}/people/`, queries: QUERIES.filter(([q]) => /^q[1-4]$/.test(q)), cache: CACHE });
  await context.close();
  return r;
}

const blobs = readdirSync(join(out, 'blobs')).length;
console.log(`Published people database: ${blobs} objects (nginx on 127.0.0.1, headless Chromium, fresh page each run, ` +
  `cache ${CACHE}, medians of ${RUNS} runs, range in brackets)\n`);
for (const latency of [0, 50]) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run(latency));
  const l = runs.map((r) => r.lookup);
  console.log(`### ${latency ? `${latency} ms added per request` : 'loopback'}\n`);
  console.log('| step | time (ms) | requests | round trips (batches) | bytes |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(`| open (head + commit record) | ${median(runs.map((r) => r.open.ms)).toFixed(1)} (${spread(runs.map((r) => r.open.ms))}) | ${runs[0].open.requests} | ${runs[0].open.batches + 1} | ${runs[0].open.bytesRead} |`);
  console.log(`| first lookup by :email | ${median(l.map((x) => x.ms)).toFixed(1)} (${spread(l.map((x) => x.ms))}) | ${l[0].requests - runs[0].open.requests} | ${l[0].batches - runs[0].open.batches} | ${l[0].bytesRead - runs[0].open.bytesRead} |`);
  for (const q of Object.keys(runs[0].qs)) {
    const cold = runs.map((r) => r.qs[q].cold), warm = runs.map((r) => r.qs[q].warm);
    const x = runs[0].qs[q];
    console.log(`| ${q} cold / warm | ${median(cold).toFixed(1)} / ${median(warm).toFixed(1)} | ${x.requests} | ${x.batches} | ${x.bytes} |`);
  }
  if (typeof l[0].name !== 'string') throw new Error(`lookup gave ${l[0].name}`);
  console.log('');
}
await browser.close();
await web.close();
await nginx.stop();
