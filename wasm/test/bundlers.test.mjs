// The package in a web app built by a real bundler, as a user gets it: `npm run pack`,
// the tarball installed into a fresh app, the app built with no bundler config (Vite,
// webpack 5, esbuild, Rollup with @rollup/plugin-node-resolve; and a module Web Worker
// built by Vite), the output served from 127.0.0.1 (or by Vite's dev server) and run in
// headless Chromium: it writes to IndexedDB, reloads, reads the data back, and sees a
// malformed query as an Error. Each test also checks where the .wasm came from: the
// file the bundler emitted (Vite, webpack), or the inlined copy
// (wasm/dist/datalith_wasm.inline.mjs) for bundlers that copy no assets (esbuild,
// Rollup), which pages that found the file never download; and logs what a page
// downloads, gzipped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { launchChromium } from './support/chromium.mjs';
import { packAndInstall, ROOT } from './support/package.mjs';
import { serve } from './support/server.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'datalith-bundlers-'));
let app, browser;
after(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

// The app: a module that writes on the first visit and reads on the next, imported by
// a page (main.js; src/index.js, webpack's default entry) or by a module Web Worker.
const APP = (entry = 'datalith') => `
import { init } from '${entry}';
const cfg = { store: { backend: 'indexeddb', id: 'bundled-app' }, schemaFlexibility: 'read' };
export async function write() {
  const d = await init();
  if (await d.databaseExists(cfg)) await d.deleteDatabase(cfg);
  await d.createDatabase(cfg);
  const conn = await d.connect(cfg);
  await conn.transact([{ 'product/sku': 'W001', 'product/name': 'Widget' }]);
  await conn.close();
  return true;
}
export async function read() {
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
  return { names, error, where: typeof WorkerGlobalScope === 'function' ? 'worker' : 'page' };
}
`;
const PAGE = `import { write, read } from './app.js';
Object.assign(window, { write, read });
document.title = 'ready';
`;
const html = (script) => `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">${script}\n`;

// The worker app (worker/): the page hands write and read to a module worker.
const WORKER_PAGE = `const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const call = (op) => new Promise((resolve) => {
  worker.onmessage = ({ data }) => resolve(data);
  worker.postMessage(op);
});
Object.assign(window, { write: () => call('write'), read: () => call('read') });
document.title = 'ready';
`;
const WORKER = `import { write, read } from './app.js';
const ops = { write, read };
self.onmessage = ({ data }) => ops[data]().then((r) => self.postMessage(r), (e) => self.postMessage({ failed: String(e) }));
`;

// A piece of the inlined .wasm's text: a response that holds it downloaded the copy.
const probe = (name) => {
  const inline = readFileSync(join(ROOT, `wasm/dist/${name}.inline.mjs`), 'utf8');
  return inline.slice(inline.length / 2, inline.length / 2 + 64);
};
const PROBE = probe('datalith_wasm'), LOCAL_PROBE = probe('datalith_wasm_local');
const LOCAL_WASM = readFileSync(join(ROOT, 'wasm/dist/datalith_wasm_local.wasm'));

before(async () => {
  ({ app } = packAndInstall(tmp));
  const script = html('<script type="module" src="./main.js"></script>');
  for (const dir of ['.', 'src', 'worker']) {
    mkdirSync(join(app, dir), { recursive: true });
    writeFileSync(join(app, dir, 'app.js'), APP());
  }
  // The same app on `datalith/local` (local/): webpack's default entry, and the page.
  mkdirSync(join(app, 'local', 'src'), { recursive: true });
  for (const dir of ['local', 'local/src']) writeFileSync(join(app, dir, 'app.js'), APP('datalith/local'));
  writeFileSync(join(app, 'local', 'index.html'), script);
  writeFileSync(join(app, 'local', 'main.js'), PAGE);
  writeFileSync(join(app, 'local', 'src', 'index.js'), PAGE);
  writeFileSync(join(app, 'index.html'), script);
  writeFileSync(join(app, 'main.js'), PAGE);
  writeFileSync(join(app, 'src', 'index.js'), PAGE);
  writeFileSync(join(app, 'worker', 'index.html'), script);
  writeFileSync(join(app, 'worker', 'main.js'), WORKER_PAGE);
  writeFileSync(join(app, 'worker', 'worker.js'), WORKER);
  browser = await launchChromium();
});

const kb = (x) => `${(x / 1024).toFixed(1)} KB`;
const bounded = { timeout: 120000 };  // per test: a build and two page loads

// Loads index.html from `server` ({ url, close }), writes, reloads, reads back (in the
// page, or where: 'worker'), and logs as `label` what the page downloads. Returns what the
// first load downloaded: { wasm: the status of the .wasm request (undefined: none),
// wasmBody, inline: whether the inlined copy came, localInline: whether the local
// module's did, gzipped: the total, gzipped, of the bodies }.
async function runInChromium(server, { where = 'page', label }) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    let loads = 0;
    const downloads = [];
    page.on('response', (r) => {
      if (loads === 1) downloads.push(r.body().then((body) => ({ url: r.url(), status: r.status(), body }), () => null));
    });
    const load = async () => {
      loads++;
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => document.title === 'ready', null, { timeout: 30000 });
    };
    await load();
    assert.equal(await page.evaluate(() => window.write()), true);
    const first = (await Promise.all(downloads)).filter(Boolean);
    await load();  // a new page: the data comes back from IndexedDB
    const { names, error, where: ranIn, failed } = await page.evaluate(() => window.read());
    assert.equal(failed, undefined);
    assert.deepEqual(names, ['Widget']);
    assert.equal(error?.isError, true);
    assert.match(error.message, /line 1, col \d+/);
    assert.equal(ranIn, where);
    assert.deepEqual(errors, []);

    const ok = first.filter((d) => d.status === 200);
    const gzipped = ok.reduce((sum, d) => sum + gzipSync(d.body, { level: 9 }).length, 0);
    const wasms = first.filter((d) => new URL(d.url).pathname.endsWith('.wasm'));
    assert.ok(wasms.length <= 1, `${wasms.length} .wasm requests`);
    const wasm = wasms[0];
    const result = {
      wasm: wasm?.status,
      wasmBody: wasm?.body,
      inline: ok.some((d) => d.body.includes(PROBE)),
      localInline: ok.some((d) => d.body.includes(LOCAL_PROBE)),
      gzipped,
    };
    const how = result.wasm === 200 ? `as a file${result.inline || result.localInline ? ', and the inlined copy, unused' : ''}`
      : `inlined${result.wasm ? ` after a ${result.wasm}` : ''}`;
    console.log(`${label}: the page downloads ${kb(gzipped)} gzipped (${ok.length} files; the .wasm ${how})`);
    return result;
  } finally {
    await context.close();
    await server.close();
  }
}

// The builds: each bundler on the app in `root` (app or app/local), into `out`, as a
// user runs it with no config; each returns the directory to serve.
async function viteBuild(root, out) {
  const { build } = await import('vite');
  await build({ root, logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  return out;
}

async function webpackBuild(root, out) {
  const { default: webpack } = await import('webpack');
  const stats = await new Promise((resolve, reject) => webpack({ mode: 'production', context: root, output: { path: out } },
    (err, result) => (err ? reject(err) : resolve(result))));
  const info = stats.toJson({ all: false, errors: true, warnings: true, assets: true });
  assert.deepEqual(info.errors.map((e) => e.message), []);
  // Its defaults warn of any asset over 244 KiB: the .wasm is over 800 KiB (and nothing else is).
  const warnings = info.warnings.map((w) => w.message);
  assert.deepEqual(warnings.filter((w) => !w.startsWith('asset size limit: ')), []);
  const oversized = warnings.flatMap((w) => [...w.matchAll(/^ {2}(\S+) \(/gm)].map((m) => m[1]));
  assert.ok(oversized.every((f) => f.endsWith('.wasm')), oversized.join(', '));
  assert.ok(info.assets.some((a) => a.name.endsWith('.wasm')), 'the .wasm is emitted as an asset');
  writeFileSync(join(out, 'index.html'), html('<script src="./main.js"></script>'));
  return out;
}

// esbuild, like the CLI `esbuild main.js --bundle --outdir=…` plus the given options.
async function esbuild(root, out, options = {}) {
  const { build } = await import('esbuild');
  const result = await build({ entryPoints: [join(root, 'main.js')], bundle: true, absWorkingDir: root,
    logLevel: 'silent', outdir: out, ...options });
  assert.deepEqual(result.warnings, []);
  const type = options.format === 'esm' ? ' type="module"' : '';
  writeFileSync(join(out, 'index.html'), html(`<script${type} src="./main.js"></script>`));
  return out;
}

async function rollupBuild(root, out) {
  const { rollup } = await import('rollup');
  const { nodeResolve } = await import('@rollup/plugin-node-resolve');
  const warnings = [];
  const bundle = await rollup({ input: join(root, 'main.js'), plugins: [nodeResolve()], onwarn: (w) => warnings.push(w.message) });
  await bundle.write({ dir: out, format: 'es' });
  await bundle.close();
  assert.deepEqual(warnings, []);
  writeFileSync(join(out, 'index.html'), html('<script type="module" src="./main.js"></script>'));
  return out;
}

test('a Vite production build runs in Chromium: the .wasm under a hashed name, the inlined copy never downloaded', bounded, async () => {
  const out = await viteBuild(app, join(tmp, 'vite-dist'));
  const assets = readdirSync(join(out, 'assets'));
  assert.ok(assets.some((f) => /^datalith_wasm-.+\.wasm$/.test(f)), `the .wasm is emitted under a hashed name: ${assets}`);
  const got = await runInChromium(await serve(out), { label: 'Vite' });
  assert.equal(got.wasm, 200);
  assert.equal(got.inline, false);
});

test('a webpack 5 production build (its defaults: src/index.js to dist/main.js) runs in Chromium, with no warning but the size hint', bounded, async () => {
  const out = await webpackBuild(app, join(tmp, 'webpack-dist'));
  const got = await runInChromium(await serve(out), { label: 'webpack' });
  assert.equal(got.wasm, 200);
  assert.equal(got.inline, false);
});

test('the same app runs from the Vite dev server', bounded, async () => {
  const got = await runInChromium(await viteDevServer(app), { label: 'Vite dev server' });
  assert.equal(got.wasm, 200);
  assert.equal(got.inline, false);
});

test('an esbuild bundle (its default: one iife script) runs in Chromium, the .wasm inlined', bounded, async () => {
  const out = await esbuild(app, join(tmp, 'esbuild-iife'));
  assert.deepEqual(readdirSync(out).sort(), ['index.html', 'main.js']);
  const got = await runInChromium(await serve(out), { label: 'esbuild (iife)' });
  assert.equal(got.wasm, undefined);  // no import.meta.url: nothing to ask for
  assert.equal(got.inline, true);
});

test('an esbuild ES module build with --splitting runs in Chromium, the inlined .wasm in a chunk of its own', bounded, async () => {
  const out = await esbuild(app, join(tmp, 'esbuild-esm'), { format: 'esm', splitting: true });
  assert.ok(readdirSync(out).some((f) => /^datalith_wasm\.inline-.+\.js$/.test(f)), readdirSync(out).join(', '));
  const got = await runInChromium(await serve(out), { label: 'esbuild (esm, splitting)' });
  assert.equal(got.wasm, 404);  // esbuild copied no .wasm
  assert.equal(got.inline, true);
});

test('a Rollup build (@rollup/plugin-node-resolve, output.dir) runs in Chromium, the inlined .wasm in a chunk of its own', bounded, async () => {
  const out = await rollupBuild(app, join(tmp, 'rollup-dist'));
  assert.ok(readdirSync(out).some((f) => /^datalith_wasm\.inline-.+\.js$/.test(f)), readdirSync(out).join(', '));
  const got = await runInChromium(await serve(out), { label: 'Rollup' });
  assert.equal(got.wasm, 404);  // Rollup copied no .wasm
  assert.equal(got.inline, true);
});

// datalith/local under each bundler: the page gets the local module (as a file or
// inlined) and never the full one's bytes.
// The Vite dev server (its dependency pre-bundling rewrites the package) counts as a build.
async function viteDevServer(root) {
  const { createServer } = await import('vite');
  const vite = await createServer({ root, logLevel: 'error', server: { host: '127.0.0.1', port: 0 } });
  await vite.listen();
  return { url: vite.resolvedUrls.local[0].replace(/\/$/, ''), close: () => vite.close() };
}

for (const [name, build, file] of [['Vite', viteBuild, true], ['webpack', webpackBuild, true],
  ['esbuild (iife)', esbuild, false], ['Rollup', rollupBuild, false], ['Vite dev server', null, true]]) {
  test(`datalith/local in a ${name} build runs in Chromium on its own module, ${file ? 'as a file' : 'inlined'}, the full module never downloaded`, bounded, async () => {
    const root = join(app, 'local');
    const server = build ? await serve(await build(root, join(tmp, `local-${name.replace(/\W+/g, '-')}`))) : await viteDevServer(root);
    const got = await runInChromium(server, { label: `datalith/local, ${name}` });
    assert.equal(got.inline, false, 'the full module was downloaded');
    if (file) {
      assert.equal(got.wasm, 200);
      assert.ok(got.wasmBody.equals(LOCAL_WASM), 'the .wasm is the local module');
      assert.equal(got.localInline, false);
      if (build) assert.ok(got.gzipped <= 350 * 1024, `the page downloads ${kb(got.gzipped)} gzipped`);
    } else {
      assert.equal(got.localInline, true);
    }
  });
}

test('a module Web Worker (built by Vite) that imports datalith uses IndexedDB there, and reads back after a reload', bounded, async () => {
  const { build } = await import('vite');
  const out = join(tmp, 'vite-worker-dist');
  await build({ root: join(app, 'worker'), logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  const got = await runInChromium(await serve(out), { where: 'worker', label: 'Vite, in a module worker' });
  assert.equal(got.wasm, 200);
});
