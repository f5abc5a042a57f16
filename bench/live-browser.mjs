#!/usr/bin/env node
// Reactive queries on the people database (bench/live-scenarios.mjs) in one headless
// Chromium page served from 127.0.0.1: 64 and 256 subscriptions, a transaction that
// changes one of them and one that changes all, timed from transact() to the last
// callback (performance.now(), in a cross-origin isolated page).
//
// Usage: node bench/live-browser.mjs --people people.json [--samples 200]
//          [--warmup-ms 1000] [--counts 64,256] [--only live-64-one]
//
// Prints one JSON object per scenario (engine "datalith-wasm", backend "chromium");
// the page's progress lines go to stderr.
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../wasm/test/support/chromium.mjs';
import { serve } from '../wasm/test/support/server.mjs';
import { parseLiveArgs } from './live-scenarios.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const o = parseLiveArgs('live-browser.mjs', process.argv.slice(2));

// Cross-origin isolated: performance.now() then has 5 µs resolution (100 µs otherwise).
const server = await serve(ROOT, { headers: {
  'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } });
const browser = await launchChromium(['--js-flags=--expose-gc']);
try {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  await page.exposeFunction('benchLine', (line) => process.stdout.write(`${line}\n`));
  await page.goto(`${server.url}/bench/live.html`);
  await page.waitForFunction(() => document.title === 'ready');
  const peopleUrl = '/' + relative(ROOT, resolve(o.people));
  const { people, ...rest } = o;
  await page.evaluate((args) => window.runLive(args), { peopleUrl, o: rest });
} finally {
  await browser.close();
  await server.close();
}
