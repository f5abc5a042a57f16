// `datalith publish` and reading published databases natively (docs/format.md §6): two
// teams publish a catalog and an inventory to two static locations, Debian's nginx
// serves them on 127.0.0.1 (http, and https with a self-signed certificate), and the
// CLI joins them with `--db http://…/` exactly as it joins the directories.
// Run: DATALITH_CLI=build/datalith node --test tests/cli/publish.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNginx } from '../support/nginx.mjs';

const CLI = process.env.DATALITH_CLI ?? 'build/datalith';
const JOIN = '[:find ?name ?stock :in $cat $inv :where [$cat ?p :product/sku ?sku] [$cat ?p :product/name ?name] ' +
  '[$inv ?i :inventory/sku ?sku] [$inv ?i :inventory/stock ?stock] [(pos? ?stock)]]';

let work, web, tls;

// Runs the CLI; returns { status, out, err }.
function dl(args, { input, env } = {}) {
  const r = spawnSync(CLI, args, { input, encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}
function ok(args, opts) {
  const r = dl(args, opts);
  assert.equal(r.status, 0, `datalith ${args.join(' ')}: ${r.err}`);
  return r.out;
}
// A report printed with --json (keyword keys keep their colon there).
const report = (out) => Object.fromEntries(Object.entries(JSON.parse(out)).map(([k, v]) => [k.replace(/^:/, ''), v]));
const sorted = (edn) => edn.replace(/^#\{|\}$/g, '').split(/\] \[/).map((s) => s.replace(/[[\]]/g, '')).sort();

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'datalith-publish-'));
  const cat = join(work, 'catalog'), inv = join(work, 'inventory');
  ok(['create', cat]);
  ok(['create', inv]);
  ok(['transact', cat], { input: '[{:db/ident :product/sku :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :product/name :db/valueType :db.type/string}]' });
  ok(['transact', inv], { input: '[{:db/ident :inventory/sku :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :inventory/stock :db/valueType :db.type/long}]' });
  const products = [], stock = [];
  for (let i = 0; i < 3000; i++) {
    products.push(`{:product/sku "S${i}" :product/name "Product ${i}"}`);
    stock.push(`{:inventory/sku "S${i}" :inventory/stock ${i % 7}}`);
  }
  ok(['transact', cat], { input: `[${products.join(' ')}]` });
  ok(['transact', inv], { input: `[${stock.join(' ')}]` });
  // Team A's bucket and team B's bucket: two places one static server serves.
  web = await startNginx(join(work, 'www'));
  tls = await startNginx(join(work, 'www'), { tls: true });
});

after(async () => {
  await web?.stop();
  await tls?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('publish writes blobs then the head; again, only what changed', () => {
  const out = join(work, 'www', 'team-a', 'catalog');
  const first = ok(['publish', join(work, 'catalog'), out, '--json']);
  const r1 = report(first);
  assert.ok(r1.written > 10, first);
  assert.equal(r1.from, null);
  const blobs = readdirSync(join(out, 'blobs'));
  assert.equal(blobs.length, r1.written);
  assert.ok(blobs.every((b) => /^[0-9a-f]{32}$/.test(b)));
  const head = JSON.parse(readFileSync(join(out, 'heads', 'main'), 'utf8'));
  assert.deepEqual(Object.keys(head).sort(), ['commit', 'format', 'tx', 'version']);
  assert.equal(head.format, 'datalith-published');
  assert.equal(head.version, 1);
  assert.equal(head.commit, r1.commit);
  // Nothing new: nothing written.
  assert.equal(report(ok(['publish', join(work, 'catalog'), out, '--json'])).written, 0);
  // One product changed: a path per index, not the database again.
  ok(['transact', join(work, 'catalog')], { input: '[{:product/sku "S8" :product/name "Renamed"}]' });
  const r3 = report(ok(['publish', join(work, 'catalog'), out, '--json']));
  assert.equal(r3.diff, true);
  assert.equal(r3.from, r1.commit);
  assert.ok(r3.written > 0 && r3.written < r1.written / 2, JSON.stringify(r3));
  ok(['publish', join(work, 'inventory'), join(work, 'www', 'team-b', 'inventory')]);
});

test('the CLI joins two published databases over http and https as it joins the directories', () => {
  const local = ok(['query', JOIN, '--db', join(work, 'catalog'), '--db', join(work, 'inventory')]);
  const remote = ok(['query', JOIN, '--db', `${web.url}/team-a/catalog/`, '--db', `${web.url}/team-b/inventory`]);
  assert.deepEqual(sorted(remote), sorted(local));
  assert.ok(sorted(local).length > 2000);
  assert.ok(remote.includes('"Renamed"'));
  const secure = ok(['query', JOIN, '--db', `${tls.url}/team-a/catalog/`, '--db', `${tls.url}/team-b/inventory/`],
    { env: { SSL_CERT_FILE: tls.cert } });
  assert.deepEqual(sorted(secure), sorted(local));
  // Time travel on the published catalog: before the rename.
  const then = ok(['query', '[:find ?n . :where [?p :product/sku "S8"] [?p :product/name ?n]]',
    '--db', `${web.url}/team-a/catalog/`, '--as-of', '2']);
  assert.equal(then, `"Product 8"`);
  // Writes are refused, naming why.
  const w = dl(['transact', `${web.url}/team-a/catalog/`], { input: '[]' });
  assert.equal(w.status, 1);
  // A certificate nobody trusts is refused.
  const untrusted = dl(['query', '[:find ?e . :where [?e :product/sku]]', '--db', `${tls.url}/team-a/catalog/`]);
  assert.equal(untrusted.status, 1);
  assert.match(untrusted.err, /certificate verify failed/);
});

test('a corrupted or missing object is an error naming it, never wrong data; an unknown version is named', () => {
  const out = join(work, 'www', 'team-c', 'catalog');
  ok(['publish', join(work, 'catalog'), out]);
  const url = `${web.url}/team-c/catalog/`;
  const q = ['query', '[:find (count ?p) . :where [?p :product/name]]', '--db', url];
  assert.equal(ok(q), '3000');
  // Every blob replaced by another's bytes (valid blobs, wrong addresses).
  const blobs = readdirSync(join(out, 'blobs'));
  const bytes = blobs.map((b) => readFileSync(join(out, 'blobs', b)));
  blobs.forEach((b, i) => writeFileSync(join(out, 'blobs', b), bytes[(i + 1) % blobs.length]));
  let r = dl(q);
  assert.equal(r.status, 1);
  assert.match(r.err, new RegExp(`${url.replace(/[/.]/g, '\\$&')}blobs/[0-9a-f]{32}`));
  assert.match(r.err, /hash|address|corrupt/i);
  blobs.forEach((b, i) => writeFileSync(join(out, 'blobs', b), bytes[i]));
  assert.equal(ok(q), '3000');
  rmSync(join(out, 'blobs', JSON.parse(readFileSync(join(out, 'heads', 'main'), 'utf8')).commit));
  r = dl(q);
  assert.equal(r.status, 1);
  assert.match(r.err, /blobs\/[0-9a-f]{32} is missing \(HTTP 404\)/);
  writeFileSync(join(out, 'heads', 'main'), JSON.stringify({ format: 'datalith-published', version: 2, commit: '0'.repeat(32) }));
  r = dl(q);
  assert.equal(r.status, 1);
  assert.match(r.err, /published version 2; this datalith reads version 1/);
  r = dl(['query', '[:find ?e . :where [?e :x/y]]', '--db', `${web.url}/nothing-here/`]);
  assert.equal(r.status, 1);
  assert.match(r.err, /no database at http:\/\/127.0.0.1:\d+\/nothing-here\//);
});
