#!/usr/bin/env node
// DataScript's people workload (bench/wasm-scenarios.mjs) through the npm package's JS
// API and through DataScript, side by side in one headless Chromium page served from
// 127.0.0.1.
//
// Usage: node bench/wasm-browser.mjs --people people.json [--runs 5] [--warm-ms 1000] [--only NAME]
//
// Prints one JSON object per engine and scenario (backend "chromium"), the format
// bench/compare.mjs reads; the page's progress lines go to stderr.
import { runBenchPage } from './browser-page.mjs';
import { parseArgs } from './common.mjs';

const o = parseArgs('wasm-browser.mjs', process.argv.slice(2));
await runBenchPage({ page: 'browser.html', fn: 'runBench', people: o.people, args: { runs: o.runs, only: o.only, warmMs: o.warmMs } });
