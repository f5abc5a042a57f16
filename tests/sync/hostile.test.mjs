// A real datalith-server on 127.0.0.1 against hostile clients (the hardening issue): each
// test is one attack, with the limit that bounds it set small so the test is quick, and
// checks what the server does and that it still serves everyone else.
// Run: DATALITH_SERVER=build/datalith-server node --test tests/sync/hostile.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Client, connect, cpuSeconds, metrics, METRICS_TOKEN, procStatus, startServer, transactHttp } from './support.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs `fn(server)` against a fresh server started with `args`, then stops it.
async function withServer(args, fn, opts) {
  const s = await startServer(args, opts);
  try {
    return await fn(s);
  } finally {
    s.proc.kill('SIGKILL');
    await s.exited;
    rmSync(s.dir, { recursive: true, force: true });
  }
}

// Opens `n` TCP connections that send nothing.
async function idleSockets(port, n) {
  const socks = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    socks.push(s);
  }
  await sleep(100);
  return socks;
}

// The status of a GET of `path` sent byte for byte (no client-side normalisation).
function rawStatus(port, path) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1])));
    sock.on('error', reject);
  });
}

// A WebSocket that never sends hello.
async function silent(url) {
  const ws = new WebSocket(url);
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => {});
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`))); });
  return { ws, closed };
}

test('out of file descriptors: the accept loop backs off and logs a line, and serves again once they are free', async () => {
  await withServer([], async (s) => {
    const cpu0 = cpuSeconds(s.proc.pid);
    const socks = await idleSockets(s.port, 100);  // more than the 64 descriptors the server has
    await sleep(2000);
    const cpu = cpuSeconds(s.proc.pid) - cpu0;
    const lines = s.log().match(/event=accept_failed/g) ?? [];
    console.log(`# 100 idle sockets at --nofile 64: ${lines.length} accept_failed lines, ${cpu.toFixed(2)} s of CPU in 2 s`);
    assert.ok(lines.length >= 1 && lines.length <= 2, `${lines.length} accept_failed lines`);
    assert.ok(cpu < 0.5, `the server spent ${cpu} s of CPU while out of descriptors`);
    for (const sock of socks) sock.destroy();
    const t0 = Date.now();
    for (;;) {
      const ok = await fetch(`${s.http}/health`, { signal: AbortSignal.timeout(500) }).then((r) => r.status === 200, () => false);
      if (ok) break;
      assert.ok(Date.now() - t0 < 5000, '/health answers again');
    }
  }, { nofile: 64 });
});

test('sockets that never send hello: timed out, and they do not keep clients out', async () => {
  await withServer(['--hello-timeout-ms', '700', '--max-clients', '2', '--max-pending-clients', '8'], async (s) => {
    const quiet = await Promise.all(Array.from({ length: 8 }, () => silent(s.ws)));
    // The pending room is full: the next upgrade is refused with 503 ...
    await assert.rejects(silent(s.ws), /503/);
    // ... but once they time out (4408), clients get in: silent sockets never counted
    // toward max_clients.
    const t0 = Date.now();
    const codes = await Promise.all(quiet.map((q) => q.closed));
    const waited = Date.now() - t0;
    assert.deepEqual(new Set(codes), new Set([4408]));
    assert.ok(waited < 3000, `closed after ${waited} ms`);
    const a = await connect(s.ws, 'r'), b = await connect(s.ws, 'r');
    assert.equal(a.texts[0].type, 'welcome');
    assert.equal(b.texts[0].type, 'welcome');
    // max_clients counts authenticated sessions: with two, the upgrade is refused (503;
    // one that raced past it is refused at hello, 1013, registry_test.cpp).
    await assert.rejects(connect(s.ws, 'r'), /503/);
    // A closed session makes room (once the server has seen the close).
    await a.close();
    let d;
    for (let i = 0; i < 20 && d?.texts[0].type !== 'welcome'; i++) {
      await sleep(50);
      d = await connect(s.ws, 'r').catch(() => null);
    }
    assert.equal(d?.texts[0].type, 'welcome', 'a closed session makes room');
    await Promise.all([b.close(), d.close()]);
    assert.match(s.log(), /event=ws_timeout .*no hello within 700 ms/);
  });
});

test('before hello only a small message is read; a message must arrive whole in time', async () => {
  await withServer(['--message-timeout-ms', '600'], async (s) => {
    const cpu0 = cpuSeconds(s.proc.pid);
    // 4 clients sending 1 MiB before hello are cut off at 4 KiB (1009), at once.
    const big = await Promise.all(Array.from({ length: 4 }, async () => {
      const c = new Client(s.ws);
      await c.opened;
      c.send('x'.repeat(1 << 20));
      return (await c.closed).code;
    }));
    // (1006 when the reset of the unread rest of the megabyte overtakes the close frame.)
    assert.ok(big.every((code) => code === 1009 || code === 1006), `closed with ${big}`);
    // A message begun and never finished (a fragment without FIN) times out: 4408.
    const slow = new Client(s.ws, { autoAck: false });
    await slow.opened;
    slow.hello('r');
    await slow.next((m) => m.type === 'head');
    const t0 = Date.now();
    slow.ws.send('{"type":"ack",', { fin: false });
    const closed = await slow.closed;
    assert.equal(closed.code, 4408);
    assert.ok(Date.now() - t0 < 2500, `closed after ${Date.now() - t0} ms`);
    assert.ok(slow.texts.some((m) => m.code === 'timeout' && /not completed within 600 ms/.test(m.message)));
    // Before hello, fragments count toward the same 4 KiB.
    const frag = new Client(s.ws);
    await frag.opened;
    for (let i = 0; i < 4; i++) frag.ws.send('y'.repeat(2048), { fin: false });
    assert.equal((await frag.closed).code, 1009);
    // After hello, a full-size message is fine.
    const w = await connect(s.ws, 'w');
    w.send({ type: 'tx', id: 1, tx: `[{:db/doc "${'z'.repeat(200000)}"}]` });
    assert.equal((await w.next((m) => m.id === 1)).type, 'tx_ok');
    await w.close();
    const cpu = cpuSeconds(s.proc.pid) - cpu0;
    assert.ok(cpu < 2, `${cpu} s of CPU`);
  });
});

test('create on demand: a read token creates nothing, creating is capped, idle databases close', async () => {
  await withServer(['--create-on-demand', '--max-databases', '3', '--idle-close-ms', '300'], async (s) => {
    // A read token (WebSocket and HTTP) for a name that does not exist: refused, nothing made.
    const r = await connect(s.ws, 'r', null, undefined, 'fresh');
    assert.equal(r.texts[0].code, 'unknown_database');
    assert.equal((await transactHttp(s, '[]', 'r', 'fresh2')).status, 404);
    assert.equal(existsSync(join(s.dir, 'fresh')) || existsSync(join(s.dir, 'fresh2')), false);
    // An HTTP transact refused for a wrong token creates nothing either.
    assert.equal((await transactHttp(s, '[]', 'bad', 'fresh3')).status, 401);
    assert.equal(existsSync(join(s.dir, 'fresh3')), false);
    // A write token creates; at most 3 open (inv counts).
    const threads0 = procStatus(s.proc.pid, 'Threads');
    const a = await connect(s.ws, 'w', null, undefined, 'a');
    assert.equal(a.texts[0].type, 'welcome');
    assert.equal((await transactHttp(s, '[{:db/doc "b"}]', 'w', 'b')).status, 200);
    const full = await transactHttp(s, '[]', 'w', 'c');
    assert.equal(full.status, 503);
    assert.equal(full.body.code, 'overloaded');
    assert.equal(existsSync(join(s.dir, 'c')), false);
    assert.equal(procStatus(s.proc.pid, 'Threads'), threads0 + 2, 'a writer thread each');
    // "b" is idle: it closes within a few seconds (its thread ends); "a" has a client.
    let names;
    for (let i = 0; i < 50; i++) {
      names = Object.keys((await metrics(s)).databases).sort();
      if (!names.includes('b')) break;
      await sleep(100);
    }
    assert.deepEqual(names, ['a', 'inv']);
    assert.equal(procStatus(s.proc.pid, 'Threads'), threads0 + 1);
    assert.match(s.log(), /event=db_closed_idle db=b/);
    // Its room is usable, and "b" reopens with its data.
    assert.equal((await transactHttp(s, '[]', 'w', 'c')).status, 200);
    await a.close();
    await sleep(1800);
    const b = await connect(s.ws, 'r', null, undefined, 'b');
    await b.until(() => b.updates.length === 1);
    assert.ok(b.updates[0].tx > 0);
    await b.close();
  });
});

test('static files: no way out of the root, no FIFO, percent-decoded paths', async () => {
  const root = mkdtempSync(join(tmpdir(), 'datalith-static-'));
  try {
    writeFileSync(join(root, 'index.html'), 'home');
    writeFileSync(join(root, 'a b.txt'), 'spaced');
    mkdirSync(join(root, 'sub'));
    writeFileSync(join(root, 'sub', 'x.js'), 'x');
    symlinkSync('/etc/passwd', join(root, 'passwd'));
    symlinkSync('/etc', join(root, 'etc'));
    symlinkSync(join(root, 'sub', 'x.js'), join(root, 'inside.js'));  // a link that stays inside is fine
    execFileSync('mkfifo', [join(root, 'fifo')]);
    await withServer(['--static', root, '--threads', '2'], async (s) => {
      const get = async (path) => {
        const res = await fetch(`${s.http}${path}`, { signal: AbortSignal.timeout(3000) });
        return [res.status, await res.text()];
      };
      assert.deepEqual(await get('/'), [200, 'home']);
      assert.deepEqual(await get('/a%20b.txt'), [200, 'spaced']);
      assert.deepEqual(await get('/inside.js'), [200, 'x']);
      assert.equal((await get('/passwd'))[0], 404);
      assert.equal((await get('/etc/hostname'))[0], 404);
      // Paths fetch() would normalise, sent as they are.
      assert.equal(await rawStatus(s.port, '/../../etc/passwd'), 400);
      assert.equal(await rawStatus(s.port, '/%2e%2e/%2e%2e/etc/passwd'), 400);
      assert.equal(await rawStatus(s.port, '/sub/%2e%2e/%2e%2e/etc/passwd'), 400);
      assert.equal(await rawStatus(s.port, '/sub%2fx.js'), 400);
      assert.equal(await rawStatus(s.port, '/x%00'), 400);
      assert.equal(await rawStatus(s.port, '/bad%zz'), 400);
      assert.equal(await rawStatus(s.port, '/sub/x.js'), 200);
      // Two FIFO requests (as many as I/O threads) must not block the server.
      const fifo = await Promise.all([get('/fifo'), get('/fifo')]);
      assert.deepEqual(fifo.map(([code]) => code), [404, 404]);
      assert.equal((await fetch(`${s.http}/health`)).status, 200);
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('metrics need their token; no database name can be told from a wrong token', async () => {
  await withServer([], async (s) => {
    assert.equal((await fetch(`${s.http}/metrics`)).status, 401);
    assert.equal((await fetch(`${s.http}/metrics`, { headers: { Authorization: 'Bearer w' } })).status, 401);
    assert.equal((await fetch(`${s.http}/metrics`, { headers: { Authorization: `bearer ${METRICS_TOKEN}` } })).status, 200);
    const wrong = await transactHttp(s, '[]', 'bad', 'inv'), missing = await transactHttp(s, '[]', 'bad', 'nope');
    const missingGood = await transactHttp(s, '[]', 'w', 'nope');
    assert.deepEqual([wrong.status, missing.status, missingGood.status], [401, 401, 401]);
    const words = (b) => b.message.replace(/'[^']*'/, 'NAME');
    assert.equal(words(wrong.body), words(missing.body));
    assert.equal(words(missing.body), words(missingGood.body));
    const ws = [await connect(s.ws, 'bad'), await connect(s.ws, 'w', null, undefined, 'nope')];
    assert.deepEqual(ws.map((c) => c.texts[0].code), ['bad_token', 'bad_token']);
    // The `Bearer` scheme is case-insensitive (RFC 7235).
    assert.equal((await transactHttp(s, '[]', 'w', 'inv', { Authorization: 'BEARER w' })).status, 200);
    // Headers over 16 KiB: 431, not a silent close.
    const res = await fetch(`${s.http}/health`, { headers: { 'X-Big': 'h'.repeat(20000) } });
    assert.equal(res.status, 431);
  });
  await withServer([], async (s) => {
    // Without --metrics-token, /metrics is off.
    const res = await fetch(`${s.http}/metrics`);
    assert.equal(res.status, 403);
    assert.match((await res.json()).message, /--metrics-token/);
  }, { metricsToken: false });
});

test('slow clients that never read share one write budget; the memory returns when they leave', async () => {
  const total = Number(process.env.HOSTILE_WRITE_BUDGET ?? 4 << 20);  // set it huge to see the test fail
  await withServer(['--write-queue-total-bytes', String(total), '--no-frame-compression'], async (s) => {
    // About 22 MB of nodes (random text: it does not compress away), more than the
    // sockets' kernel buffers take from a peer that does not read.
    assert.equal((await transactHttp(s, '[{:db/ident :p/name :db/valueType :db.type/string}]')).status, 200);
    for (let k = 0; k < 8; k++) {
      const items = Array.from({ length: 1000 }, (_, i) => `{:p/name "${k}-${i}-${randomBytes(450).toString('hex')}"}`);
      assert.equal((await transactHttp(s, `[${items.join(' ')}]`)).status, 200);
    }
    // One full sync warms the server's node cache, so what follows measures the queues.
    const warm = await connect(s.ws, 'r');
    await warm.until(() => warm.updates.length === 1, 30000);
    const bytes = warm.updates[0].bytes;
    await warm.close();
    await sleep(300);
    const rss0 = procStatus(s.proc.pid, 'VmRSS');
    // 12 clients that say hello and then never read: once the sockets' buffers are
    // full, each session would queue up to write_queue_bytes (4 MiB): 48 MiB.
    const N = 12;
    const slow = [];
    for (let i = 0; i < N; i++) {
      const sock = net.connect(s.port, '127.0.0.1');
      sock.on('error', () => {});
      await new Promise((r) => sock.on('connect', r));
      const key = Buffer.from(`key-${i}-0123456789`).toString('base64');
      sock.write(`GET /sync HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      await new Promise((r) => sock.once('data', r));  // 101: now frames may be sent
      const hello = Buffer.from(JSON.stringify({ type: 'hello', protocol: 2, db: 'inv', token: 'r', have: null }));
      sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | hello.length, 0, 0, 0, 0]), hello]));  // masked with zeros
      sock.pause();  // never read again
      slow.push(sock);
    }
    // Wait until the queues stop growing.
    let peak = 0, rss1 = 0;
    for (let stable = 0, last = -1, i = 0; stable < 10 && i < 300; i++) {
      await sleep(100);
      const queued = (await metrics(s)).write_queue_bytes;
      rss1 = Math.max(rss1, procStatus(s.proc.pid, 'VmRSS'));
      stable = queued > 0 && queued === last ? stable + 1 : 0;
      last = queued;
      peak = Math.max(peak, queued);
    }
    console.log(`# ${N} clients that never read, a ${(bytes / 1e6).toFixed(1)} MB database: ` +
      `queued ${(peak / 2 ** 20).toFixed(1)} MiB at most, RSS +${((rss1 - rss0) / 1024).toFixed(1)} MiB`);
    // The budget, plus one frame (about 512 KiB) per session.
    assert.ok(peak <= total + N * (600 << 10), `${peak} bytes queued`);
    assert.ok((rss1 - rss0) / 1024 < 24, `RSS grew ${((rss1 - rss0) / 1024).toFixed(1)} MiB`);
    // Everyone else is still served: a fresh client syncs in full.
    const fresh = await connect(s.ws, 'r');
    await fresh.until(() => fresh.updates.length === 1, 30000);
    await fresh.close();
    for (const sock of slow) sock.destroy();
    await sleep(1500);
    const rss2 = procStatus(s.proc.pid, 'VmRSS');
    console.log(`# after they left: queued ${(await metrics(s)).write_queue_bytes} B, RSS ${((rss2 - rss0) / 1024).toFixed(1)} MiB over the start`);
    assert.equal((await metrics(s)).write_queue_bytes, 0);
    assert.ok((rss2 - rss0) / 1024 < 8, `RSS still ${((rss2 - rss0) / 1024).toFixed(1)} MiB over`);
  });
});
