// The published package: what `npm run pack` puts in the tarball, that its exports map
// resolves (Node's import and require, browsers, TypeScript), that importing it has no
// side effects (package.json says sideEffects: false), and the tarball installed into a
// fresh project: imported from Node (ES module and CommonJS) and from a page in
// headless Chromium (served from 127.0.0.1, the bare specifier mapped by an import
// map). Also reports the bundle size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import esbuild from 'esbuild';
import { launchChromium } from './support/chromium.mjs';
import { packAndInstall, ROOT } from './support/package.mjs';
import { serve } from './support/server.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'datalith-pack-'));
let app, tarball, installed;
before(() => {
  ({ app, tarball } = packAndInstall(tmp));
  installed = join(app, 'node_modules', 'datalith');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
// Runs node in the app; returns { stdout, stderr }, or throws with its output.
function node(args) {
  const run = spawnSync('node', args, { cwd: app, encoding: 'utf8', timeout: 60000 });
  if (run.status !== 0) throw new Error(`node ${args.join(' ')}: ${run.error ?? run.stdout + run.stderr}`);
  return run;
}

// JS as a page gets it from a production build: minified (esbuild, as Vite does), gzipped.
const jsBytes = (f) => gzipSync(esbuild.transformSync(readFileSync(join(ROOT, 'wasm/js', f), 'utf8'),
  { minify: true, format: 'esm' }).code, { level: 9 }).length;

test('the bundle stays within the size budget (385 KB gzipped), a page with local databases only within 350 KB', () => {
  const gz = (f) => gzipSync(readFileSync(join(ROOT, f)), { level: 9 }).length;
  const wasm = gz('wasm/dist/datalith_wasm.wasm'), loader = gz('wasm/dist/datalith_wasm.mjs');
  // What a page loads (index.js is the browser entry); sync.js only for a replica and
  // http-store.js only for a published database (dynamic imports), react.js only
  // through `datalith/react`.
  const common = ['api.js', 'edn.js', 'idb-store.js', 'live.js', 'tabs.js', 'browser-load.js'];
  const js = (entry) => [entry, ...common].reduce((sum, f) => sum + jsBytes(f), 0);
  const sync = jsBytes('sync.js') + jsBytes('outbox.js') + jsBytes('share.js'), react = jsBytes('react.js');
  const http = jsBytes('http-store.js');
  const inline = gz('wasm/dist/datalith_wasm.inline.mjs');  // instead of the .wasm where bundlers copy no assets
  const all = wasm + loader + js('index.js') + sync + http + react;
  // `datalith/local` (local.js): its own module, without the replicas' calls.
  const localWasm = gz('wasm/dist/datalith_wasm_local.wasm'), localLoader = gz('wasm/dist/datalith_wasm_local.mjs');
  const local = localWasm + localLoader + js('local.js');
  const kb = (x) => (x / 1024).toFixed(1);
  console.log(`bundle: wasm ${kb(wasm)} KB + loader ${kb(loader)} KB + JS ${kb(js('index.js') + sync + http + react)} KB (minified) gzipped = ${kb(all)} KB` +
    ` (local databases only: ${kb(wasm + loader + js('index.js'))} KB; the sync client: ${kb(sync)} KB more; published databases: ${kb(http)} KB; the React hook: ${kb(react)} KB;` +
    ` the inlined .wasm, for esbuild and Rollup: ${kb(inline)} KB instead of ${kb(wasm)} KB);` +
    ` datalith/local: wasm ${kb(localWasm)} KB + loader ${kb(localLoader)} KB + JS ${kb(js('local.js'))} KB = ${kb(local)} KB`);
  assert.ok(all <= 385 * 1024, `${kb(all)} KB gzipped`);
  assert.ok(local <= 350 * 1024, `datalith/local: ${kb(local)} KB gzipped`);
});

test('the tarball holds the API, its types, the WASM build, the inlined .wasm, the JS guide as README.md, LICENSE, and nothing else', () => {
  assert.deepEqual(tarball.files.map((f) => f.path).sort(), [
    'LICENSE', 'README.md', 'package.json', 'wasm/README.md',
    'wasm/dist/datalith_wasm.inline.mjs', 'wasm/dist/datalith_wasm.mjs', 'wasm/dist/datalith_wasm.wasm',
    'wasm/dist/datalith_wasm_local.inline.mjs', 'wasm/dist/datalith_wasm_local.mjs', 'wasm/dist/datalith_wasm_local.wasm',
    'wasm/js/api.js', 'wasm/js/browser-load.js', 'wasm/js/edn.js', 'wasm/js/http-store.js', 'wasm/js/idb-store.js', 'wasm/js/index.cjs', 'wasm/js/index.d.cts',
    'wasm/js/index.d.ts', 'wasm/js/index.js', 'wasm/js/live.js', 'wasm/js/local.cjs', 'wasm/js/local.d.cts', 'wasm/js/local.d.ts', 'wasm/js/local.js', 'wasm/js/node-local.js',
    'wasm/js/node.js', 'wasm/js/outbox.js',
    'wasm/js/react.d.ts', 'wasm/js/react.js', 'wasm/js/share.js', 'wasm/js/sync.js', 'wasm/js/tabs.js',
  ]);
  // The README is the JS guide (wasm/README.md), not the repository's (the C++
  // project's, which `npm pack` at the root would ship); its links into the repository
  // point to files that exist there. The packed wasm/README.md is the same text.
  const readme = readFileSync(join(installed, 'README.md'), 'utf8');
  assert.match(readme, /^# `datalith` on npm: the JS API\n/);
  assert.doesNotMatch(readme, /^# Datalith$/m);
  assert.equal(readFileSync(join(installed, 'wasm/README.md'), 'utf8'), readme);
  const blob = `${pkg.repository.url.replace(/\.git$/, '')}/blob/main/`;
  const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map(([, to]) => to);
  assert.ok(links.some((to) => to.startsWith(blob)));
  for (const to of links) {
    assert.match(to, /^(https:\/\/|#)/, `${to}: not a relative path (the tarball has no docs/)`);
    if (to.startsWith(blob)) assert.ok(existsSync(join(ROOT, to.slice(blob.length).replace(/#.*/, ''))), to);
  }
  // package.json as in the repository, less what only serves working in it.
  const { scripts, devDependencies, ...published } = pkg;
  assert.deepEqual(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')), published);
  assert.match(readFileSync(join(installed, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 the Datalith authors\n/);
  // Each inlined copy is the .wasm built with its loader (wasm/build.sh writes both).
  for (const name of ['datalith_wasm', 'datalith_wasm_local']) {
    const inline = readFileSync(join(installed, `wasm/dist/${name}.inline.mjs`), 'utf8');
    const base64 = inline.match(/^export default '([A-Za-z0-9+/=]+)';$/m)[1];
    assert.ok(gunzipSync(Buffer.from(base64, 'base64')).equals(readFileSync(join(installed, `wasm/dist/${name}.wasm`))), name);
  }
});

// Where `conditions` take the export `subpath` in package.json (Node's algorithm, for
// conditional objects: the first key that is active or "default").
function target(subpath, conditions) {
  let t = pkg.exports[subpath];
  while (typeof t === 'object') t = t[Object.keys(t).find((k) => k === 'default' || conditions.includes(k))];
  return t;
}

test('the exports map resolves, for Node (import, require), browser bundlers and TypeScript, to packed files', () => {
  const packed = new Set(tarball.files.map((f) => `./${f.path}`));
  const expect = {
    'Node import': [['node', 'import'], './wasm/js/node.js'],
    'Node require': [['node', 'require'], './wasm/js/index.cjs'],
    'browser bundlers': [['browser', 'import', 'module', 'production'], './wasm/js/index.js'],
    'TypeScript (nodenext, import)': [['types', 'node', 'import'], './wasm/js/index.d.ts'],
    'TypeScript (nodenext, require)': [['types', 'node', 'require'], './wasm/js/index.d.cts'],
    'TypeScript (bundler)': [['types', 'import'], './wasm/js/index.d.ts'],
  };
  for (const [who, [conditions, file]] of Object.entries(expect)) {
    assert.equal(target('.', conditions), file, who);
    assert.ok(packed.has(file), `${file} is packed`);
  }
  assert.equal(target('./package.json', []), './package.json');
  assert.equal(target('./react', ['import']), './wasm/js/react.js');
  assert.equal(target('./react', ['types']), './wasm/js/react.d.ts');
  assert.equal(target('./local', ['browser', 'import']), './wasm/js/local.js');
  assert.equal(target('./local', ['node', 'import']), './wasm/js/node-local.js');
  assert.equal(target('./local', ['node', 'require']), './wasm/js/local.cjs');
  assert.equal(target('./local', ['types', 'node', 'require']), './wasm/js/local.d.cts');
  assert.equal(target('./local', ['types', 'import']), './wasm/js/local.d.ts');
  assert.equal(target('./local', ['types', 'node', 'import']), './wasm/js/local.d.ts');
  assert.deepEqual(Object.keys(pkg.exports), ['.', './local', './react', './package.json']);
  // Node's own resolution, from the app that installed the tarball.
  const resolved = JSON.parse(node(['--input-type=module', '-e', `
    import { createRequire } from 'node:module';
    const require = createRequire(process.cwd() + '/');
    console.log(JSON.stringify([import.meta.resolve('datalith'), require.resolve('datalith'), require.resolve('datalith/package.json'),
      import.meta.resolve('datalith/local'), require.resolve('datalith/local')]));`]).stdout);
  assert.deepEqual(resolved.map((f) => f.replace(/^file:\/\//, '').replace(`${installed}/`, '')),
    ['wasm/js/node.js', 'wasm/js/index.cjs', 'package.json', 'wasm/js/node-local.js', 'wasm/js/local.cjs']);
});

test('TypeScript finds the types through the exports map: ES module, CommonJS, bundler resolution, datalith/local', () => {
  writeFileSync(join(app, 'esm.mts'), `import { init, Uuid } from 'datalith';
    const d = await init();
    const u: Uuid = d.uuid('5a0c3f1e-0000-4000-8000-00000000000a');
    export const ok: boolean = u instanceof Uuid && d.version.length > 0;\n`);
  writeFileSync(join(app, 'local.mts'), `import { init, Uuid, type Connection } from 'datalith/local';
    const d = await init();
    const conn: Connection = await d.connect({ store: { backend: 'indexeddb', id: 'x' } });
    export const ok: boolean = d.uuid('5a0c3f1e-0000-4000-8000-00000000000a') instanceof Uuid && conn.db().basisT >= 0;\n`);
  writeFileSync(join(app, 'cjs.cts'), `import datalith = require('datalith');
    import type { Connection } from 'datalith';
    export async function open(): Promise<Connection> {
      const d = await datalith.init();
      return d.connect({ store: { backend: 'memory', id: 'x' } });
    }\n`);
  writeFileSync(join(app, 'local-cjs.cts'), `import local = require('datalith/local');
    import type { Connection } from 'datalith/local';
    export async function open(): Promise<Connection> {
      const d = await local.init();
      return d.connect({ store: { backend: 'memory', id: 'x' } });
    }\n`);
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const flags = ['--noEmit', '--strict', '--target', 'es2022'];
  node([tsc, ...flags, '--module', 'nodenext', 'esm.mts', 'local.mts', 'cjs.cts', 'local-cjs.cts']);
  node([tsc, ...flags, '--module', 'esnext', '--moduleResolution', 'bundler', 'esm.mts', 'local.mts']);
});

test('importing any module of the package has no side effects (package.json: sideEffects false)', () => {
  // A fresh process imports every module and compares globals and process listeners;
  // it must then exit on its own (nothing was started).
  // (react.js imports its optional peer `react`, which this app does not install:
  // react.test.mjs imports it in an app that has React.)
  const modules = tarball.files.map((f) => f.path).filter((f) => /\.(m?js|cjs)$/.test(f) && !f.endsWith('/react.js'));
  const out = node(['--input-type=module', '-e', `
    const snapshot = () => JSON.stringify([Object.getOwnPropertyNames(globalThis).sort(),
      ['exit', 'uncaughtException', 'unhandledRejection', 'warning'].map((e) => process.listenerCount(e))]);
    const before = snapshot();
    for (const f of ${JSON.stringify(modules)}) await import(${JSON.stringify(`${installed}/`)} + f);
    console.log(JSON.stringify({ same: snapshot() === before, before, after: snapshot() }));`]).stdout;
  const { same, before: was, after: is } = JSON.parse(out);
  assert.ok(same, `${was}\n${is}`);
});

const USE = `
  const cfg = { store: { backend: 'memory', id: 'smoke' }, schemaFlexibility: 'read' };
  await d.createDatabase(cfg);
  const conn = await d.connect(cfg);
  await conn.transact([{ 'product/sku': 'W001', 'product/name': 'Widget' }]);
  const names = await d.q('[:find [?n ...] :where [_ :product/name ?n]]', conn.db());
  console.log(JSON.stringify({ version: d.version, names }));
`;

test('the installed package runs in Node: import (ES module) and require (CommonJS), datalith and datalith/local, with nothing on stderr', () => {
  for (const entry of ['datalith', 'datalith/local']) {
    const name = entry.replace('/', '-');
    // datalith/local refuses a replica (the full package would open one and sync).
    const use = entry === 'datalith' ? USE : `${USE}
      await d.connect({ store: { backend: 'memory', id: 'r' }, sync: { url: 'ws://127.0.0.1:9', db: 'x' } })
        .then(() => console.log('opened a replica'), (e) => console.log(e.code));`;
    writeFileSync(join(app, `${name}.mjs`), `import { init } from '${entry}';\nconst d = await init();\n${use}`);
    writeFileSync(join(app, `${name}.cjs`), `const { init } = require('${entry}');\ninit().then(async (d) => {\n${use}});\n`);
  }
  for (const script of ['datalith.mjs', 'datalith.cjs', 'datalith-local.mjs', 'datalith-local.cjs']) {
    const { stdout, stderr } = node([script]);
    assert.equal(stderr, '', script);
    const [line, refused] = stdout.trim().split('\n');
    const out = JSON.parse(line);
    assert.deepEqual(out.names, ['Widget'], script);
    assert.match(out.version, /^0\.1\.0/, script);
    assert.equal(refused, script.includes('local') ? 'local_only' : undefined, script);
  }
});

test('the installed package runs in a page (an import map, no bundler): memory and IndexedDB', async () => {
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
    const inline = [];
    page.on('request', (r) => r.url().includes('.inline.') && inline.push(r.url()));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => document.title === 'ready', null, { timeout: 30000 });
    const inPage = await page.evaluate(() => window.smoke());
    assert.deepEqual(inPage.names, ['memory', 'indexeddb']);
    assert.match(inPage.version, /^0\.1\.0/);
    assert.deepEqual(inline, []);  // the .wasm is beside the loader
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
