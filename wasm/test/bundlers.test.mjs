// The package in a web app built by a real bundler, as a user gets it: `npm pack`, the
// tarball installed into a fresh app, the app built with no bundler config, the output
// served from 127.0.0.1 (or by the bundler's dev server) and run in headless Chromium: it writes to IndexedDB, reloads,
// reads the data back, and sees a malformed query as an Error. (Vite's production build
// copies the .wasm under a hashed name; the loader used to ask for the unhashed one.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './support/chromium.mjs';
import { serve } from './support/server.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'datalith-bundlers-'));
const app = join(tmp, 'app');
after(() => rmSync(tmp, { recursive: true, force: true }));

const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'],
  { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// The app: one page whose script writes on the first visit and reads on the next.
const MAIN = `
import { init } from 'datalith';
const cfg = { store: { backend: 'indexeddb', id: 'bundled-app' }, schemaFlexibility: 'read' };
window.write = async () => {
  const d = await init();
  if (await d.databaseExists(cfg)) await d.deleteDatabase(cfg);
  await d.createDatabase(cfg);
  const conn = await d.connect(cfg);
  await conn.transact([{ 'product/sku': 'W001', 'product/name': 'Widget' }]);
  await conn.close();
  return true;
};
window.read = async () => {
  const d = await init();
  const conn = await d.connect(cfg);
  const names = await d.q('[:find [?n ...] :where [_ :product/name ?n]]', conn.db());
  let error;
  try {
    await d.q('[:find ?n :where [?e :product/name ?n]', conn.db());
  } catch (e) {
    error = { isError: e instanceof Error, message: e.message };
  }
  await conn.close();
  return { names, error };
};
document.title = 'ready';
`;

before(() => {
  const [info] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], ROOT));
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  npm(['install', join(tmp, info.filename)], app);
  writeFileSync(join(app, 'index.html'),
    '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>\n');
  writeFileSync(join(app, 'main.js'), MAIN);
  mkdirSync(join(app, 'src'));
  writeFileSync(join(app, 'src', 'index.js'), MAIN);  // webpack's default entry
});

// Loads the app's page from `server` ({ url, close }), writes, reloads, reads back.
async function runInChromium(server) {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const load = async () => {
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => document.title === 'ready', null, { timeout: 30000 });
    };
    await load();
    assert.equal(await page.evaluate(() => window.write()), true);
    await load();  // a new page: the data comes back from IndexedDB
    const { names, error } = await page.evaluate(() => window.read());
    assert.deepEqual(names, ['Widget']);
    assert.equal(error?.isError, true);
    assert.match(error.message, /line 1, col \d+/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
}

test('a Vite production build of an app that imports datalith runs in Chromium', async () => {
  const { build } = await import('vite');
  const out = join(tmp, 'vite-dist');
  await build({ root: app, logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  const assets = readdirSync(join(out, 'assets'));
  assert.ok(assets.some((f) => /^datalith_wasm-.+\.wasm$/.test(f)), `the .wasm is emitted under a hashed name: ${assets}`);
  await runInChromium(await serve(out));
});

test('a webpack 5 production build (its defaults: src/index.js to dist/main.js) runs in Chromium', async () => {
  const { default: webpack } = await import('webpack');
  const out = join(tmp, 'webpack-dist');
  const stats = await new Promise((resolve, reject) => webpack({ mode: 'production', context: app, output: { path: out } },
    (err, result) => (err ? reject(err) : resolve(result))));
  const info = stats.toJson({ all: false, errors: true, assets: true });
  assert.deepEqual(info.errors.map((e) => e.message), []);
  assert.ok(info.assets.some((a) => a.name.endsWith('.wasm')), 'the .wasm is emitted as an asset');
  writeFileSync(join(out, 'index.html'),
    '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script src="./main.js"></script>\n');
  await runInChromium(await serve(out));
});

test('the same app runs from the Vite dev server', async () => {
  const { createServer } = await import('vite');
  const vite = await createServer({ root: app, logLevel: 'error', server: { host: '127.0.0.1', port: 0 } });
  await vite.listen();
  const url = vite.resolvedUrls.local[0].replace(/\/$/, '');
  await runInChromium({ url, close: () => vite.close() });
});
