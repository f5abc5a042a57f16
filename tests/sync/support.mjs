// What the tests of a real datalith-server process share (e2e.test.mjs,
// hostile.test.mjs, crash.test.mjs): starting one on a free loopback port, a protocol
// client that records everything and checks the framing, HTTP transact and /metrics.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

export const SERVER = process.env.DATALITH_SERVER ?? 'build/datalith-server';
export const METRICS_TOKEN = 'm-token';

// Starts a server on a free port hosting `inv` (read token `r`, write token `w`);
// resolves when its "listening" line names the port. `args` are more flags; `dir`
// reuses a data directory (a restart); `postgres` (a conninfo) stores the databases there
// instead; `nofile` runs it with that many file descriptors; `metricsToken: false`
// leaves /metrics off.
export function startServer(args = [], { dir, nofile, metricsToken = true, postgres } = {}) {
  if (!postgres) dir ??= mkdtempSync(join(tmpdir(), 'datalith-e2e-'));
  const flags = [...(postgres ? ['--postgres', postgres] : ['--data', dir]), '--port', '0', '--db', 'inv', '--read-token', 'r', '--write-token', 'w',
    ...(metricsToken ? ['--metrics-token', METRICS_TOKEN] : []), ...args];
  const proc = nofile
    ? spawn('bash', ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, SERVER, ...flags], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(SERVER, flags, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /event=listening .*port=(\d+)/.exec(log);
      if (m && !proc.port) {
        proc.port = Number(m[1]);
        resolve({ proc, port: proc.port, dir, exited, log: () => log,
          http: `http://127.0.0.1:${proc.port}`, ws: `ws://127.0.0.1:${proc.port}/sync` });
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
}

// The server's /metrics (with the metrics token).
export async function metrics(s) {
  const res = await fetch(`${s.http}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  return res.json();
}

// Makes `n` one-entity transactions through server `a` over HTTP, one after the other,
// and times each from the request until `replica` (a Client of another server) has the
// commit holding it; resolves with the times (ms), sorted.
export async function timesToReplica(a, replica, n, prefix) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await transactHttp(a, `[{:w/key "${prefix}-${i}" :w/n ${i}}]`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await replica.until(() => replica.updates.at(-1).tx >= r.body.tx);
    times.push(performance.now() - t0);
  }
  return times.sort((x, y) => x - y);
}

export async function transactHttp(s, tx, token = 'w', db = 'inv', headers = {}) {
  const res = await fetch(`${s.http}/db/${db}/transact`, {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, ...headers }, body: tx });
  return { status: res.status, body: await res.json() };
}

// CPU seconds (user + system) the process has used, from /proc.
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;  // utime, stime in clock ticks (100/s)
}

// A /proc/PID/status field in kB (VmRSS) or as a number (Threads).
export function procStatus(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

// A protocol client that records everything and verifies the framing.
export class Client {
  constructor(url, { autoAck = true } = {}) {
    this.ws = new WebSocket(url, { maxPayload: 64 << 20 });
    this.texts = [];
    this.blobs = new Map();      // address hex -> Buffer (as stored)
    this.updates = [];           // {commit, tx, received, declared, bytes}
    this.pending = { count: 0, bytes: 0 };
    this.compressedFrames = 0;
    this.autoAck = autoAck;
    this.waiters = [];
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString() })));
    this.opened = new Promise((resolve, reject) => {
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
    });
    this.ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
  }

  onMessage(data, isBinary) {
    if (isBinary) {
      const type = data[0], codec = data[1], rawLen = data.readUInt32BE(2);
      assert.equal(type, 1, 'only NODES frames expected');
      if (codec === 1) {
        // zstd payload: Node 20 has no zstd; count the frame only.
        this.compressedFrames++;
      } else {
        assert.equal(codec, 0);
        assert.equal(data.length - 6, rawLen);
        const count = data.readUInt32BE(6);
        let pos = 10;
        for (let i = 0; i < count; i++) {
          const addr = data.subarray(pos, pos + 16).toString('hex');
          const len = data.readUInt32BE(pos + 16);
          pos += 20;
          const blob = data.subarray(pos, pos + len);
          assert.ok(blob[0] === 0 || blob[0] === 1, 'blob codec byte');
          this.blobs.set(addr, Buffer.from(blob));
          this.pending.bytes += len;
          pos += len;
        }
        assert.equal(pos, data.length, 'NODES frame fully consumed');
        this.pending.count += count;
      }
    } else {
      const m = JSON.parse(data.toString());
      this.texts.push(m);
      if (m.type === 'head') {
        this.updates.push({ commit: m.commit, tx: m.tx, received: this.pending.count,
          bytes: this.pending.bytes, declared: m.blobs, frames: m.frames, apply: m.apply, log: m.log });
        this.pending = { count: 0, bytes: 0 };
        if (this.autoAck) this.send({ type: 'ack', commit: m.commit });
      }
    }
    this.waiters = this.waiters.filter((w) => !w());
  }

  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }
  hello(token, have = null, db = 'inv', protocol = 2) {
    this.send({ type: 'hello', protocol, db, token, have });
  }
  // Resolves with the first text message matching `pred` (past or future).
  next(pred, ms = 10000) {
    return this.until(() => this.texts.find(pred), ms);
  }
  until(fn, ms = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out; got ' +
        JSON.stringify(this.texts.slice(-5)))), ms);
      const check = () => {
        const v = fn();
        if (v) { clearTimeout(timer); resolve(v); return true; }
        return false;
      };
      if (!check()) this.waiters.push(check);
    });
  }
  get head() { return this.updates.at(-1)?.commit ?? null; }
  close() { this.ws.close(); return this.closed; }
}

export async function connect(url, token, have = null, opts, db = 'inv') {
  const c = new Client(url, opts);
  await c.opened;
  c.hello(token, have, db);
  await c.next((m) => m.type === 'welcome' || m.type === 'error');
  return c;
}
