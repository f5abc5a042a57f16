// The http backend in Node (docs/wasm.md, "Published databases"): a database published
// with `datalith publish` and served by Debian's nginx on 127.0.0.1 is read lazily and
// verified, joined with a local database, followed when its head moves, refused when an
// object is corrupt, and answers from its cache when the host is gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../js/node.js';
import { startNginx, NGINX } from '../../tests/support/nginx.mjs';
import { dl, findCli, publishNew } from './support/published.mjs';

const CLI = findCli();
const opts = { skip: !CLI ? 'no build*/datalith (or DATALITH_CLI)' : false, timeout: 60000 };
const d = await init();
let work, web;

const SCHEMA = '[{:db/ident :person/email :db/valueType :db.type/string :db/unique :db.unique/identity}' +
  ' {:db/ident :person/name :db/valueType :db.type/string} {:db/ident :person/age :db/valueType :db.type/long}]';
const people = (from, n) => `[${Array.from({ length: n }, (_, i) =>
  `{:person/email "p${from + i}@x.org" :person/name "Person ${from + i}" :person/age ${(from + i) % 90}}`).join(' ')}]`;

before(async () => {
  if (!CLI) return;
  work = mkdtempSync(join(tmpdir(), 'datalith-http-'));
  const txs = [SCHEMA];
  for (let k = 0; k < 4; k++) txs.push(people(k * 5000, 5000));
  publishNew(CLI, join(work, 'people'), join(work, 'www', 'people'), txs);
  web = await startNginx(join(work, 'www'));
});

after(async () => {
  await web?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const url = (name) => `${web.url}/${name}/`;
const blobCount = (name) => readdirSync(join(work, 'www', name, 'blobs')).length;

test('opened lazily: a lookup by a unique attribute fetches a path, not the database; verified, cached', opts, async () => {
  const conn = await d.connect({ store: { backend: 'http', url: url('people'), cache: 'memory' } });
  assert.equal(conn.stats().nodesRead, 1, 'opening reads the head and the commit record');
  const t0 = performance.now();
  const lookup = '[:find ?a . :in $ ?m :where [?e :person/email ?m] [?e :person/age ?a]]';
  const age = await d.q(lookup, conn.db(), 'p12345@x.org');
  const ms = performance.now() - t0;
  assert.equal(age, 12345 % 90);
  const cold = conn.stats();
  console.log(`first lookup: ${cold.nodesRead} of ${blobCount('people')} blobs, ${cold.bytesRead} bytes, ${cold.batches} batches, ${ms.toFixed(1)} ms`);
  assert.ok(cold.nodesRead > 0 && cold.nodesRead < blobCount('people') / 10, `${cold.nodesRead} nodes read`);
  // Warm: the same lookup reads nothing more.
  await d.q(lookup, conn.db(), 'p12345@x.org');
  assert.equal(conn.stats().nodesRead, cold.nodesRead);
  // A scan reads more, and counts right.
  assert.equal(await d.q('[:find (count ?e) . :where [?e :person/age 3]]', conn.db()), Math.ceil((20000 - 3) / 90));
  await conn.close();
});

test('joined with a local database in one query; writes are refused', opts, async () => {
  const cfg = { store: { backend: 'memory', id: 'http-local' } };
  await d.createDatabase(cfg);
  const local = await d.connect(cfg);
  await local.transact('[{:db/ident :fav/email :db/valueType :db.type/string}]');
  await local.transact([{ 'fav/email': 'p7@x.org' }, { 'fav/email': 'p19999@x.org' }]);
  const pub = await d.connect({ store: { backend: 'http', url: url('people'), cache: 'memory' } });
  const rows = await d.q('[:find ?n :in $l $p :where [$l _ :fav/email ?m] [$p ?e :person/email ?m] [$p ?e :person/name ?n]]',
    local.db(), pub.db());
  assert.deepEqual(rows.map((r) => r[0]).sort(), ['Person 19999', 'Person 7']);
  await assert.rejects(pub.transact([{ 'person/name': 'x' }]), (e) => e.code === 'read_only' && /published database: read-only/.test(e.message));
  await assert.rejects(d.createDatabase({ store: { backend: 'http', url: url('people') } }), (e) => e.code === 'read_only');
  await assert.rejects(pub.log(), /published one carries no log/);
  await Promise.all([pub.close(), local.close()]);
});

test('a head moved while a reader is open: refresh() and refreshMs follow it; old snapshots keep their data', opts, async () => {
  publishNew(CLI, join(work, 'moving'), join(work, 'www', 'moving'), [SCHEMA, people(0, 100)]);
  const conn = await d.connect({ store: { backend: 'http', url: url('moving'), cache: 'memory' } });
  const before = conn.db();
  const nameOf = (db) => d.q('[:find ?n . :where [?e :person/email "p1@x.org"] [?e :person/name ?n]]', db);
  assert.equal(await nameOf(before), 'Person 1');
  assert.equal(await conn.refresh(), false, 'nothing moved');
  const reports = [];
  conn.listen((r) => reports.push(r));
  dl(CLI, ['transact', join(work, 'moving')], '[{:person/email "p1@x.org" :person/name "Renamed"}]');
  dl(CLI, ['publish', join(work, 'moving'), join(work, 'www', 'moving')]);
  assert.equal(await conn.refresh(), true);
  assert.equal(reports.length, 1);
  assert.equal(reports[0].reset, true);
  assert.equal(await nameOf(conn.db()), 'Renamed');
  assert.equal(await nameOf(before), 'Person 1', 'a snapshot is a value');
  await conn.close();
  // On an interval.
  const auto = await d.connect({ store: { backend: 'http', url: url('moving'), cache: 'memory', refreshMs: 100 } });
  dl(CLI, ['transact', join(work, 'moving')], '[{:person/email "p1@x.org" :person/name "Again"}]');
  dl(CLI, ['publish', join(work, 'moving'), join(work, 'www', 'moving')]);
  for (let i = 0; i < 50 && (await nameOf(auto.db())) !== 'Again'; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await nameOf(auto.db()), 'Again');
  await auto.close();
});

test('a corrupt or missing object is an error naming it, never wrong data; an unknown head version is named', opts, async () => {
  publishNew(CLI, join(work, 'bad'), join(work, 'www', 'bad'), [SCHEMA, people(0, 3000)]);
  const blobs = join(work, 'www', 'bad', 'blobs');
  const names = readdirSync(blobs);
  const saved = names.map((b) => readFileSync(join(blobs, b)));
  const commit = JSON.parse(readFileSync(join(work, 'www', 'bad', 'heads', 'main'), 'utf8')).commit;
  // Every node but the commit record takes another node's bytes.
  const nodes = names.filter((b) => b !== commit);
  nodes.forEach((b, i) => writeFileSync(join(blobs, b), saved[names.indexOf(nodes[(i + 1) % nodes.length])]));
  const conn = await d.connect({ store: { backend: 'http', url: url('bad'), cache: 'memory' } });
  const count = () => d.q('[:find (count ?e) . :where [?e :person/age]]', conn.db());
  await assert.rejects(count(), (e) => e.code === 'Corruption' && e.message.includes(`${url('bad')}blobs/`) && /do not hash to its address/.test(e.message));
  names.forEach((b, i) => writeFileSync(join(blobs, b), saved[i]));
  assert.equal(await count(), 3000, 'nothing wrong was kept');
  await conn.close();
  rmSync(join(blobs, nodes[0]));
  const c2 = await d.connect({ store: { backend: 'http', url: url('bad'), cache: 'memory' } });
  await assert.rejects(d.q('[:find (count ?e) . :where [?e :person/age]]', c2.db()), (e) => e.message.includes(`${nodes[0]} is missing (HTTP 404)`));
  await c2.close();
  writeFileSync(join(work, 'www', 'bad', 'heads', 'main'), JSON.stringify({ format: 'datalith-published', version: 9, commit }));
  await assert.rejects(d.connect({ store: { backend: 'http', url: url('bad') } }),
    (e) => e.code === 'Unsupported' && /published version 9; this datalith reads version 1/.test(e.message));
  await assert.rejects(d.connect({ store: { backend: 'http', url: `${web.url}/nothing/` } }), (e) => e.code === 'NotFound');
});

test('the host gone: what was read answers from the cache; what was not is an error naming the object', { ...opts, skip: opts.skip || !NGINX }, async () => {
  const { startNginx: start } = await import('../../tests/support/nginx.mjs');
  const host = await start(join(work, 'www'));
  const conn = await d.connect({ store: { backend: 'http', url: `${host.url}/people/`, cache: 'memory' } });
  const lookup = (email) => d.q('[:find ?n . :in $ ?m :where [?e :person/email ?m] [?e :person/name ?n]]', conn.db(), email);
  assert.equal(await lookup('p42@x.org'), 'Person 42');
  await host.stop();
  assert.equal(await lookup('p42@x.org'), 'Person 42');
  await assert.rejects(d.q('[:find (count ?e) . :where [?e :person/name]]', conn.db()), (e) => e.code === 'unreachable' && e.message.includes(`${host.url}/people/blobs/`));
  await conn.close();
});
