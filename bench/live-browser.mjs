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
import { runBenchPage } from './browser-page.mjs';
import { parseLiveArgs } from './live-scenarios.mjs';

const { people, ...o } = parseLiveArgs('live-browser.mjs', process.argv.slice(2));
// Cross-origin isolated: performance.now() then has 5 µs resolution (100 µs otherwise).
await runBenchPage({ page: 'live.html', fn: 'runLive', people, args: { o }, headers: {
  'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } });
