// Smoke test of the published package: `npm pack`, install the tarball into a fresh
// temporary project, import it from Node and from a page in headless Chromium (served
// from 127.0.0.1, the bare specifier mapped by an import map) and use it. Also reports
// the bundle size.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { launchChromium } from './support/chromium.mjs';
import { serve } from './support/server.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'datalith-pack-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'],
  { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('the bundle stays within the size budget (350 KB gzipped)', () => {
  const gz = (f) => gzipSync(readFileSync(join(ROOT, f)), { level: 9 }).length;
  const wasm = gz('wasm/dist/datalith_wasm.wasm'), loader = gz('wasm/dist/datalith_wasm.mjs');
  const local = ['index.js', 'edn.js', 'idb-store.js', 'live.js'].reduce((sum, f) => sum + gz(`wasm/js/${f}`), 0);
  const sync = gz('wasm/js/sync.js');  // loaded only by a replica (a dynamic import)
  const react = gz('wasm/js/react.js');  // loaded only by `datalith/react`
  const js = local + sync + react;
  const kb = (x) => (x / 1024).toFixed(1);
  console.log(`bundle: wasm ${kb(wasm)} KB + loader ${kb(loader)} KB + JS tier ${kb(js)} KB gzipped = ${kb(wasm + loader + js)} KB` +
    ` (local databases only: ${kb(wasm + loader + local)} KB; the sync client: ${kb(sync)} KB more; the React hook: ${kb(react)} KB)`);
  assert.ok(wasm + loader + js <= 350 * 1024, `${kb(wasm + loader + js)} KB gzipped`);
});

test('the packed tarball installs and runs in a fresh project, in Node and in a page', async () => {
  const [info] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], ROOT));
  const files = info.files.map((f) => f.path).sort();
  for (const f of ['package.json', 'wasm/js/index.js', 'wasm/js/index.d.ts', 'wasm/js/edn.js', 'wasm/js/idb-store.js', 'wasm/js/sync.js',
    'wasm/js/live.js', 'wasm/js/react.js', 'wasm/js/react.d.ts', 'wasm/dist/datalith_wasm.mjs', 'wasm/dist/datalith_wasm.wasm']) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  assert.ok(!files.some((f) => f.startsWith('core/') || f.startsWith('wasm/test/') || f.startsWith('wasm/src/')), files.join(', '));

  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  npm(['install', join(tmp, info.filename)], app);
  writeFileSync(join(app, 'main.mjs'), `
    import { init } from 'datalith';
    const d = await init();
    const cfg = { store: { backend: 'memory', id: 'smoke' }, schemaFlexibility: 'read' };
    await d.createDatabase(cfg);
    const conn = await d.connect(cfg);
    await conn.transact([{ 'product/sku': 'W001', 'product/name': 'Widget' }]);
    const names = await d.q('[:find [?n ...] :where [_ :product/name ?n]]', conn.db());
    console.log(JSON.stringify({ version: d.version, names }));
  `);
  const out = JSON.parse(execFileSync('node', ['main.mjs'], { cwd: app, encoding: 'utf8' }));
  assert.deepEqual(out.names, ['Widget']);
  assert.match(out.version, /^0\.1\.0/);

  // The same from a page of the app, with the installed files only; IndexedDB too.
  writeFileSync(join(app, 'index.html'), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
    <script type="importmap">{"imports": {"datalith": "/node_modules/datalith/wasm/js/index.js"}}</script>
    <script type="module">
      import { init } from 'datalith';
      window.smoke = async () => {
        const d = await init();
        const names = [];
        for (const backend of ['memory', 'indexeddb']) {
          const cfg = { store: { backend, id: 'smoke' }, schemaFlexibility: 'read' };
          await d.deleteDatabase(cfg);
          await d.createDatabase(cfg);
          const conn = await d.connect(cfg);
          await conn.transact([{ 'product/sku': 'W001', 'product/name': backend }]);
          names.push(...await d.q('[:find [?n ...] :where [_ :product/name ?n]]', conn.db()));
          await conn.close();
        }
        return { version: d.version, names };
      };
      document.title = 'ready';
    </script>`);
  const server = await serve(app);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => document.title === 'ready', null, { timeout: 30000 });
    const inPage = await page.evaluate(() => window.smoke());
    assert.deepEqual(inPage.names, ['memory', 'indexeddb']);
    assert.equal(inPage.version, out.version);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
