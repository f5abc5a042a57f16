// datalith/react in a real React app: the packed tarball installed into a fresh app
// with react and react-dom (the repository's pinned devDependencies, linked in), built
// by Vite, served from 127.0.0.1 and run in headless Chromium over an IndexedDB
// database. A component renders useQuery's result; a transaction that changes it
// updates the DOM; one on an unrelated attribute, and one whose re-run gives the same
// result, render nothing; a parent's re-render keeps the subscription.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './support/chromium.mjs';
import { packAndInstall, ROOT } from './support/package.mjs';
import { serve } from './support/server.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'datalith-react-'));
const app = join(tmp, 'app');
after(() => rmSync(tmp, { recursive: true, force: true }));

// The app (no JSX: React.createElement). `counts` lets the test see renders of the
// list component and the subscriptions the hook made; `stats()` the last one's stats.
const MAIN = `
import { createElement as h, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { init } from 'datalith';
import { useQuery } from 'datalith/react';

const counts = { renders: 0, subscriptions: 0 };
let last = null;
window.counts = () => ({ ...counts });
window.stats = () => last.stats();

const OPEN = '[:find [?t ...] :where [?e :todo/title ?t] [?e :todo/done false]]';

function Todos({ d, conn }) {
  counts.renders++;
  const { data, error, loading } = useQuery(d, OPEN, [conn]);
  if (error) return h('p', { id: 'error' }, error.message);
  if (loading) return h('p', { id: 'loading' }, 'loading');
  return h('ul', { id: 'todos' }, [...data].sort().map((t) => h('li', { key: t }, t)));
}

function App({ d, conn }) {
  const [tick, setTick] = useState(0);
  window.rerenderParent = () => setTick((t) => t + 1);
  return h('div', null, h('span', { id: 'tick' }, String(tick)), h(Todos, { d, conn }));
}

window.start = async () => {
  const real = await init();
  const d = { subscribe: (...args) => { counts.subscriptions++; return (last = real.subscribe(...args)); } };
  const cfg = { store: { backend: 'indexeddb', id: 'react-todos' } };
  if (await real.databaseExists(cfg)) await real.deleteDatabase(cfg);
  await real.createDatabase(cfg);
  const conn = await real.connect(cfg);
  await conn.transact([{ 'db/ident': ':todo/title', 'db/valueType': ':db.type/string', 'db/unique': ':db.unique/identity' },
    { 'db/ident': ':todo/done', 'db/valueType': ':db.type/boolean' },
    { 'db/ident': ':todo/note', 'db/valueType': ':db.type/string' }]);
  await conn.transact([{ 'todo/title': 'Buy milk', 'todo/done': false }]);
  window.transact = async (tx) => { await conn.transact(tx); };
  createRoot(document.getElementById('root')).render(h(App, { d, conn }));
  return true;
};
document.title = 'ready';
`;

before(() => {
  packAndInstall(tmp);
  for (const pkg of ['react', 'react-dom']) symlinkSync(join(ROOT, 'node_modules', pkg), join(app, 'node_modules', pkg), 'dir');
  writeFileSync(join(app, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">' +
    '<div id="root"></div><script type="module" src="./main.js"></script>\n');
  writeFileSync(join(app, 'main.js'), MAIN);
});

test('useQuery in a Vite-built React app over IndexedDB re-renders on changes, and only then', async () => {
  const { build } = await import('vite');
  const out = join(tmp, 'dist');
  await build({ root: app, logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  const server = await serve(out);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => document.title === 'ready', null, { timeout: 30000 });
    assert.equal(await page.evaluate(() => window.start()), true);

    const items = () => page.$$eval('#todos li', (lis) => lis.map((li) => li.textContent));
    const waitItems = (expected) => page.waitForFunction((want) =>
      JSON.stringify([...document.querySelectorAll('#todos li')].map((li) => li.textContent)) === want,
    JSON.stringify(expected), { timeout: 10000 });
    const counts = () => page.evaluate(() => window.counts());
    // Long enough for a re-run and a render to have happened, were there one.
    const settle = () => page.evaluate(() => new Promise((r) => setTimeout(r, 300)));

    await waitItems(['Buy milk']);
    const first = await counts();
    assert.equal(first.subscriptions, 1);

    await page.evaluate(() => window.transact([{ 'todo/title': 'Walk the dog', 'todo/done': false }]));
    await waitItems(['Buy milk', 'Walk the dog']);
    const afterChange = await counts();
    assert.equal(afterChange.renders, first.renders + 1, 'one render for one change');

    // An unrelated attribute: no run, no render. A related one with the same result: a run, no render.
    const runs = (await page.evaluate(() => window.stats())).runs;
    await page.evaluate(() => window.transact([{ 'todo/title': 'Buy milk', 'todo/note': 'oat milk' }]));
    await settle();
    assert.equal((await counts()).renders, afterChange.renders);
    assert.equal((await page.evaluate(() => window.stats())).runs, runs, 'the unrelated transaction ran nothing');
    await page.evaluate(() => window.transact([{ 'todo/title': 'Water plants', 'todo/done': true }]));
    await settle();
    assert.equal((await counts()).renders, afterChange.renders);
    assert.equal((await page.evaluate(() => window.stats())).runs, runs + 1);
    assert.deepEqual(await items(), ['Buy milk', 'Walk the dog']);

    // The parent re-renders: the list renders again with equal inputs, same subscription.
    await page.evaluate(() => window.rerenderParent());
    await page.waitForFunction(() => document.getElementById('tick').textContent === '1');
    const afterParent = await counts();
    assert.equal(afterParent.subscriptions, 1);
    assert.equal(afterParent.renders, afterChange.renders + 1);

    await page.evaluate(() => window.transact([{ 'todo/title': 'Buy milk', 'todo/done': true }]));
    await waitItems(['Walk the dog']);
    assert.equal((await counts()).renders, afterParent.renders + 1);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
