// Runs a bench page in headless Chromium (Node side of wasm-browser.mjs,
// live-browser.mjs and wasm-ab.mjs --browser): serves the repository from 127.0.0.1 (with `headers`), opens
// bench/`page`, forwards its console to stderr and its report lines (window.benchLine)
// to stdout (or to `onLine`), waits for `document.title === 'ready'`, then calls window[`fn`](`args`)
// with `peopleUrl`, the people file's URL, added to the arguments.
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../wasm/test/support/chromium.mjs';
import { serve } from '../wasm/test/support/server.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

export async function runBenchPage({ page: html, fn, people, args, headers, onLine = (line) => process.stdout.write(`${line}\n`) }) {
  const server = await serve(ROOT, headers ? { headers } : undefined);
  // --expose-gc: common.mjs collects garbage before each sample, as under node --expose-gc.
  const browser = await launchChromium(['--js-flags=--expose-gc']);
  try {
    const page = await browser.newPage();
    page.on('console', (m) => process.stderr.write(`${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    await page.exposeFunction('benchLine', onLine);
    await page.goto(`${server.url}/bench/${html}`);
    await page.waitForFunction(() => document.title === 'ready');
    const peopleUrl = '/' + relative(ROOT, resolve(people));
    await page.evaluate(([name, a]) => window[name](a), [fn, { peopleUrl, ...args }]);
  } finally {
    await browser.close();
    await server.close();
  }
}
