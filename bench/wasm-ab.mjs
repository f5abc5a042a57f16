#!/usr/bin/env node
// A/B of builds of the npm package: the same scenarios through each build's JS API,
// all builds loaded into one Node process (or, with --browser, one headless Chromium
// page), warmed and sampled interleaved as the other drivers do (ab-scenarios.mjs).
// Prints per scenario each build's median (range) and its ratio to the first build.
// How docs/wasm.md's "Size and speed" rows were measured.
//
// Usage: node --expose-gc bench/wasm-ab.mjs --build DIR --build DIR... --people people.json
//          [--browser] [--runs 7] [--warm-ms 1000] [--only NAME]
// DIR: a package tree with js/ and dist/ (wasm/ of a checkout after wasm/build.sh, or a
// copy of wasm/js next to another build's dist/, bench/README.md); with --browser it
// must be inside this repository, which the page is served from.
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runAb } from './ab-scenarios.mjs';
import { runBenchPage } from './browser-page.mjs';
import { parseArgs, setReportSink } from './common.mjs';

const argv = process.argv.slice(2);
const browser = argv.includes('--browser');
if (browser) argv.splice(argv.indexOf('--browser'), 1);
const builds = [];
for (let i = argv.indexOf('--build'); i >= 0; i = argv.indexOf('--build')) builds.push(argv.splice(i, 2)[1]);
const o = parseArgs('wasm-ab.mjs', argv);
if (!argv.includes('--runs')) o.runs = 7;
if (builds.length < 2 || builds.includes(undefined)) {
  console.error('wasm-ab.mjs: give two or more --build DIR');
  process.exit(2);
}
// Each scenario's lines, as one row: every build's median (range) and its ratio to the first's.
const lines = [];
const print = () => {
  if (lines.length === 0) return;
  const base = lines[0].median_ms;
  const ms = (x) => x.toFixed(x < 1 ? 4 : 2);
  console.log(lines[0].scenario.padEnd(20), lines.map((l) => `${l.engine} ${ms(l.median_ms)} ms ` +
    `(${ms(Math.min(...l.samples_ms))}–${ms(Math.max(...l.samples_ms))}) ${(l.median_ms / base).toFixed(3)}`).join(' | '));
  lines.length = 0;
};
const collect = (line) => {
  const l = JSON.parse(line);
  if (lines.length && lines[0].scenario !== l.scenario) print();
  lines.push(l);
};

if (browser) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const urls = builds.map((dir) => {
    const rel = relative(root, resolve(dir));
    if (rel.startsWith('..')) {
      console.error(`wasm-ab.mjs --browser: ${dir} is outside the repository, which the page is served from`);
      process.exit(2);
    }
    return { name: dir, url: `/${rel}/js/index.js` };
  });
  await runBenchPage({ page: 'ab.html', fn: 'runAb', people: o.people, onLine: collect,
                      args: { builds: urls, runs: o.runs, only: o.only, warmMs: o.warmMs } });
} else {
  setReportSink(collect);
  const inits = [];
  for (const dir of builds) {
    const { init } = await import(pathToFileURL(resolve(dir, 'js/node.js')).href);
    inits.push({ name: dir, init });
  }
  await runAb({ builds: inits, people: JSON.parse(readFileSync(o.people, 'utf8')).people, o, backend: 'node' });
}
print();
