// A real datalith-server for the sync tests, on 127.0.0.1 with a temporary data
// directory. The binary: $DATALITH_SERVER, else the newest build*/datalith-server of the
// repository (tests/run.sh builds build/datalith-server and sets the variable).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const METRICS_TOKEN = 'test-metrics';

// The server binary's path, or null (with the reason) when there is none.
export function findServer() {
  const env = process.env.DATALITH_SERVER;
  if (env) return existsSync(env) ? { path: env } : { path: null, why: `DATALITH_SERVER=${env} does not exist` };
  const found = readdirSync(ROOT)
    .filter((d) => d.startsWith('build'))
    .map((d) => join(ROOT, d, 'datalith-server'))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return found.length ? { path: found[0] } : { path: null, why: 'no build*/datalith-server (build it: cmake + ninja datalith-server, or set DATALITH_SERVER)' };
}

// A server process hosting database `db` with a read token 'r' and a write token 'w'.
// `restart()` starts it again on the same port and data directory after `kill()`.
export class TestServer {
  constructor(binary, { db = 'inv', args = [] } = {}) {
    this.binary = binary;
    this.db = db;
    this.args = args;
    this.dir = mkdtempSync(join(tmpdir(), 'datalith-syncjs-'));
    this.port = 0;
    this.proc = null;
    this.log = '';
  }

  get url() { return `ws://127.0.0.1:${this.port}/sync`; }
  get http() { return `http://127.0.0.1:${this.port}`; }

  async start() {
    const proc = spawn(this.binary, ['--data', this.dir, '--port', String(this.port), '--db', this.db,
      '--read-token', 'r', '--write-token', 'w', '--metrics-token', METRICS_TOKEN, ...this.args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
    let log = '';
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start: ${log}`)), 15000);
      proc.stderr.on('data', (chunk) => {
        log += chunk;
        this.log += chunk;
        const m = /event=listening .*port=(\d+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          this.port = Number(m[1]);
          resolve();
        }
      });
      const early = (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code}): ${log}`)); };
      proc.once('exit', early);
      this.cancelEarly = () => proc.off('exit', early);
    }).finally(() => this.cancelEarly());
    return this;
  }

  // SIGKILL: the server dies with its sockets (no goodbye to the clients).
  async kill() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }

  async restart() {
    const deadline = Date.now() + 10000;
    for (;;) {  // the port may take a moment to be free again
      try {
        return await this.start();
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  // POST /db/NAME/transact (EDN text) with the write token.
  async transact(edn) {
    const res = await fetch(`${this.http}/db/${this.db}/transact`, {
      method: 'POST', headers: { Authorization: 'Bearer w' }, body: edn });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`transact: ${res.status} ${JSON.stringify(body)}`);
    return body;
  }

  async metrics() {
    return (await fetch(`${this.http}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })).json();
  }

  async stop() {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
