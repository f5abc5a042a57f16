#!/usr/bin/env node
// Replication benchmark (issue 5's figures): a real datalith-server on 127.0.0.1 hosting
// the ~1M-datom people database, and clients of the npm package and of the raw protocol.
//
// Usage: node bench/sync-bench.mjs --million people-1m.json [--server build/datalith-server]
//          [--cli build/datalith] [--subscribers 200] [--writes 50]
//
// Measures, printing one JSON line each (engine "datalith-sync"):
//   initial-sync-1m      a fresh replica (Node, memory) reaching the server's head: time,
//                        nodes, bytes stored and bytes on the wire
//   initial-sync-1m-idb  the same into IndexedDB in headless Chromium
//   tx-10-datoms-push-{log,nodes}
//                        20 10-datom commits pushed to live replicas (Node memory and
//                        Chromium IndexedDB), as logs and (server restarted with
//                        --no-log-updates) as nodes: blobs, bytes, bytes on the wire and
//                        the replica's time from first frame to snapshot (median, p99)
//   commit-to-visible-{log,nodes}
//                        a write through replica A until replica B's snapshot shows it:
//                        median and p99 over --writes writes
//   server-throughput    8 concurrent HTTP writers, 100 small transactions each: tx/s
//   push-fanout          --subscribers raw protocol clients on one database while one
//                        writer commits 20 times: push latency median / p99, server RSS
// Everything listens on loopback only and every wait is bounded.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../wasm/test/support/chromium.mjs';
import WebSocket from 'ws';
import { init } from '../wasm/js/node.js';
import { serve } from '../wasm/test/support/server.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const MILLION = opt('million', 'build/bench/people-1m.json');
const SERVER = opt('server', 'build/datalith-server');
const CLI = opt('cli', 'build/datalith');
const SUBSCRIBERS = Number(opt('subscribers', 200));
const WRITES = Number(opt('writes', 50));

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const report = (scenario, fields) =>
  process.stdout.write(JSON.stringify({ engine: 'datalith-sync', scenario, backend: 'loopback', ...fields }) + '\n');
const withTimeout = (p, ms, what) => Promise.race([p, new Promise((_, reject) =>
  setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);

const SCHEMA = `[{:db/ident :name :db/valueType :db.type/string}
  {:db/ident :last-name :db/valueType :db.type/string}
  {:db/ident :full-name :db/valueType :db.type/string}
  {:db/ident :alias :db/valueType :db.type/string :db/cardinality :db.cardinality/many}
  {:db/ident :sex :db/valueType :db.type/string}
  {:db/ident :age :db/valueType :db.type/long}
  {:db/ident :salary :db/valueType :db.type/long}
  {:db/ident :email :db/valueType :db.type/string :db/unique :db.unique/identity}]`;

// ---- the database, built with the CLI straight into the server's data directory ----
const dir = mkdtempSync(join(tmpdir(), 'datalith-sync-bench-'));
const people = JSON.parse(readFileSync(MILLION, 'utf8')).people;
const edn = (s) => JSON.stringify(s);
const txFile = join(dir, 'people.edn');
writeFileSync(txFile, '[' + people.map((p) =>
  `{:name ${edn(p.name)} :last-name ${edn(p['last-name'])} :full-name ${edn(p['full-name'])} ` +
  `:alias [${p.alias.map(edn).join(' ')}] :sex ${edn(p.sex)} :age ${p.age} :salary ${p.salary} ` +
  `:email "p${p.id}@example.com"}`).join('\n') + ']');
execFileSync(CLI, ['create', join(dir, 'people')]);
execFileSync(CLI, ['transact', join(dir, 'people'), '-'], { input: SCHEMA });
execFileSync(CLI, ['transact', join(dir, 'people'), txFile], { maxBuffer: 1 << 26 });
const stats = execFileSync(CLI, ['stats', join(dir, 'people'), '--json'], { encoding: 'utf8' });
console.error(`sync-bench: database built: ${stats.trim().slice(0, 200)}`);
rmSync(txFile);

// ---- the server (restarted with --no-log-updates to measure node pushes) ----
let server, port, http, url;
async function startServer(extra = []) {
  server = spawn(SERVER, ['--data', dir, '--port', String(port ?? 0), '--db', 'people', '--read-token', 'r',
    '--write-token', 'w', '--max-clients', String(SUBSCRIBERS + 50), ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  port = await withTimeout(new Promise((resolve, reject) => {
    server.stderr.on('data', (c) => {
      log += c;
      const m = /event=listening .*port=(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    server.on('exit', (code) => reject(new Error(`the server exited (${code}): ${log}`)));
  }), 20000, 'server start');
  http = `http://127.0.0.1:${port}`;
  url = `ws://127.0.0.1:${port}/sync`;
}
async function stopServer() {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.on('exit', r));
  server.kill('SIGTERM');
  await exited;
}
await startServer();
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))[1]) * 1024;
const post = async (tx) => {
  const r = await fetch(`${http}/db/people/transact`, { method: 'POST', body: tx,
    headers: { authorization: 'Bearer w' } });
  if (!r.ok) throw new Error(`transact: ${r.status} ${await r.text()}`);
  return r.json();
};
// A 10-datom transaction: a new person, 8 attributes + 2 aliases (txInstant aside).
let added = 0;
const tenDatoms = () => `[{:name "New" :last-name "Person" :full-name "New Person ${++added}" :alias ["n${added}" "m"] ` +
  `:sex "female" :age 30 :salary 1000 :email "new-${added}@example.com"}]`;
const PUSHES = 20;

try {
  const d = await init();
  let replicas = 0;
  const replica = async () => {
    const conn = await d.connect({ store: { backend: 'memory', id: `replica-${++replicas}` },
      sync: { url, db: 'people', token: 'w' } });
    const events = [];
    conn.onSync((ev) => events.push({ ...ev, at: nowMs() }));
    return { conn, events };
  };

  // Initial sync of the whole database into a fresh replica.
  const t0 = nowMs();
  const a = await replica();
  await withTimeout(a.conn.synced(), 300000, 'initial sync');
  const full = a.events.filter((e) => e.type === 'update');
  report('initial-sync-1m', { median_ms: nowMs() - t0, samples_ms: [nowMs() - t0],
    nodes: full.reduce((s, e) => s + e.nodes, 0), bytes: full.reduce((s, e) => s + e.bytes, 0),
    wire_bytes: full.reduce((s, e) => s + (e.frameBytes ?? 0), 0), rss_server: rss() });
  const check = await d.q('[:find (count ?e) . :where [?e :email]]', a.conn.db());
  console.error(`sync-bench: replica has ${check} people`);

  // The same initial sync into IndexedDB, in a headless Chromium page; the page's
  // replica stays open for the pushes below.
  const site = await serve(new URL('..', import.meta.url).pathname.replace(/\/$/, ''));
  const browser = await launchChromium();
  const page = await browser.newPage();
  await page.goto(`${site.url}/wasm/test/support/page.html`);
  await page.waitForFunction(() => document.title === 'ready');
  const idb = await page.evaluate(async (wsUrl) => {
    const d = await window.datalith.init();
    const t = performance.now();
    const conn = await d.connect({ store: { backend: 'indexeddb', id: 'sync-bench' },
      sync: { url: wsUrl, db: 'people', token: 'r', backoff: { initialMs: 50, maxMs: 200 } } });
    const updates = [];
    window.updates = updates;
    conn.onSync((ev) => { if (ev.type === 'update') updates.push(ev); });
    await conn.synced();
    const ms = performance.now() - t;
    const people = await d.q('[:find (count ?e) . :where [?e :email]]', conn.db());
    window.replica = conn;
    return { ms, people, nodes: updates.reduce((s, e) => s + e.nodes, 0),
      bytes: updates.reduce((s, e) => s + e.bytes, 0), wire: updates.reduce((s, e) => s + (e.frameBytes ?? 0), 0) };
  }, url);
  report('initial-sync-1m-idb', { median_ms: idb.ms, samples_ms: [idb.ms], nodes: idb.nodes,
    bytes: idb.bytes, wire_bytes: idb.wire, people: idb.people });

  const b = await replica();
  await withTimeout(b.conn.synced(), 300000, 'second replica');
  // Per push mode: 10-datom commits pushed to the live replicas (Node, memory; Chromium,
  // IndexedDB): blobs, bytes on the wire and the replica's time from the update's first
  // frame to the snapshot shown (receiving and storing nodes, or replaying the log);
  // then commit (through replica A) to visible in replica B.
  for (const mode of ['log', 'nodes']) {
    if (mode === 'nodes') {
      await stopServer();
      await startServer(['--no-log-updates']);
      await withTimeout(Promise.all([a.conn.synced(), b.conn.synced()]), 60000, 'reconnect');
      await page.waitForFunction(() => window.replica.syncState === 'live', null, { timeout: 60000 });
    }
    const node = [], chromium = [];
    for (let i = 0; i < PUSHES; i++) {
      const before = a.events.length;
      const seen = await page.evaluate(() => window.updates.length);
      const r = await post(tenDatoms());
      await withTimeout((async () => {
        while (!a.events.slice(before).some((e) => e.type === 'update' && e.tx >= r.tx)) await new Promise((res) => setTimeout(res, 2));
      })(), 20000, '10-datom push');
      node.push(a.events.slice(before).find((e) => e.type === 'update' && e.tx >= r.tx));
      const ev = await page.waitForFunction(([n, tx]) => window.updates.slice(n).find((e) => e.tx >= tx), [seen, r.tx], { timeout: 20000 });
      chromium.push(await ev.jsonValue());
    }
    for (const [backend, ups] of [['node-memory', node], ['chromium-idb', chromium]]) {
      if (ups.some((u) => u.apply !== mode)) throw new Error(`${backend}: expected ${mode} updates, got ${ups.map((u) => u.apply)}`);
      report(`tx-10-datoms-push-${mode}`, { backend, median_ms: pct(ups.map((u) => u.ms), 0.5),
        p99_ms: pct(ups.map((u) => u.ms), 0.99), samples_ms: ups.map((u) => u.ms), datoms: 10,
        nodes: pct(ups.map((u) => u.nodes), 0.5), bytes: pct(ups.map((u) => u.bytes), 0.5),
        wire_bytes: pct(ups.map((u) => u.frameBytes), 0.5) });
    }
    const lat = [];
    for (let i = 0; i < WRITES; i++) {
      const t = nowMs();
      const r = await a.conn.transact([[':db/add', ['email', 'p1@example.com'], 'age', 1000 + i]]);
      await withTimeout((async () => {
        while (b.conn.db().basisT < r.txId) await new Promise((res) => setImmediate(res));
      })(), 20000, 'visible in B');
      lat.push(nowMs() - t);
    }
    report(`commit-to-visible-${mode}`, { median_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), samples_ms: lat.map((x) => +x.toFixed(2)) });
  }
  await page.evaluate(() => window.replica.close());
  await browser.close();
  await site.close();
  await a.conn.close();
  await b.conn.close();

  // Server throughput: 8 concurrent writers over HTTP.
  const t1 = nowMs();
  await Promise.all(Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; i < 100; i++) await post(`[[:db/add [:email "p${w * 100 + i + 2}@example.com"] :salary ${i}]]`);
  }));
  const secs = (nowMs() - t1) / 1000;
  report('server-throughput', { median_ms: (nowMs() - t1) / 800, samples_ms: [], datoms: 800,
    tx_per_s: Math.round(800 / secs) });

  // Fan-out: many raw protocol clients, already at the head, receiving each push.
  const head = (await post('[[:db/add [:email "p1@example.com"] :age 1]]')).commit;
  const rssBefore = rss();
  const clients = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const c = { ws, heads: new Map() };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: 2, db: 'people', token: 'r', have: head })));
    ws.on('error', reject);
    ws.on('message', (data, binary) => {
      if (binary) return;
      const m = JSON.parse(data.toString());
      if (m.type === 'welcome') resolve(c);
      if (m.type === 'head') {
        c.heads.set(m.tx, nowMs());
        ws.send(JSON.stringify({ type: 'ack', commit: m.commit }));
      }
    });
  })));
  const pushes = [];
  for (let i = 0; i < 20; i++) {
    const t = nowMs();
    const r = await post(`[[:db/add [:email "p1@example.com"] :age ${2000 + i}]]`);
    await withTimeout((async () => {
      while (!clients.every((c) => c.heads.has(r.tx))) await new Promise((res) => setTimeout(res, 1));
    })(), 30000, 'fan-out');
    for (const c of clients) pushes.push(c.heads.get(r.tx) - t);
  }
  report('push-fanout', { median_ms: pct(pushes, 0.5), p99_ms: pct(pushes, 0.99), samples_ms: [],
    subscribers: SUBSCRIBERS, commits: 20, rss_server_before: rssBefore, rss_server_after: rss() });
  for (const c of clients) c.ws.close();
} finally {
  await stopServer();
  rmSync(dir, { recursive: true, force: true });
}
