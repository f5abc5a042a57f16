#!/usr/bin/env node
// DataScript's people workload (bench/wasm-scenarios.mjs) through the npm package's JS
// API and through DataScript, side by side in one headless Chromium page served from
// 127.0.0.1.
//
// Usage: node bench/wasm-browser.mjs --people people.json [--runs 5] [--only NAME]
//
// Prints one JSON object per engine and scenario (backend "chromium"), the format
// bench/compare.mjs reads; the page's progress lines go to stderr.
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../wasm/test/support/chromium.mjs';
import { serve } from '../wasm/test/support/server.mjs';
import { parseArgs } from './common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const o = parseArgs('wasm-browser.mjs', process.argv.slice(2));

const server = await serve(ROOT);
// --expose-gc: common.mjs collects garbage before each sample, as under node --expose-gc.
const browser = await launchChromium(['--js-flags=--expose-gc']);
try {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  await page.exposeFunction('benchLine', (line) => process.stdout.write(`${line}\n`));
  await page.goto(`${server.url}/bench/browser.html`);
  await page.waitForFunction(() => document.title === 'ready');
  const peopleUrl = '/' + relative(ROOT, resolve(o.people));
  await page.evaluate((opts) => window.runBench(opts), { peopleUrl, runs: o.runs, only: o.only });
} finally {
  await browser.close();
  await server.close();
}
