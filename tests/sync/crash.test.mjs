// kill -9 while acknowledged writes are in flight, over many rounds: a real
// datalith-server on 127.0.0.1, four WebSocket writers sending transactions with client
// ids as fast as they are answered, SIGKILL at a random moment, a restart on the same
// data directory, and so on. At the end every write that was answered tx_ok is in the
// database exactly once (checked with the command-line tool on the stopped server's
// files), and no write is there twice, answered or not (the resends of unanswered
// writes carry their client ids).
// Run: DATALITH_SERVER=build/datalith-server DATALITH_CLI=build/datalith node --test tests/sync/crash.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client, SERVER, startServer, transactHttp } from './support.mjs';

const CLI = process.env.DATALITH_CLI ?? join(dirname(SERVER), 'datalith');
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 12);
const WRITERS = 4;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One writer's session until the socket closes: sends its queue in order (at most 8
// unanswered), records what was answered. Unanswered writes stay queued for the next round.
async function write(server, queue, acked) {
  // The kill may come during the handshake on a busy machine: the queue then waits for
  // the next round.
  const c = new Client(server.ws);
  try {
    await c.opened;
  } catch {
    return;
  }
  c.hello('w');
  const first = await Promise.race([c.next((m) => m.type === 'welcome' || m.type === 'error').catch(() => null), c.closed]);
  if (first?.type !== 'welcome') return c.closed;
  let next = 0;
  const inflight = new Map();  // message id → write
  let id = 0;
  const pump = () => {
    while (inflight.size < 8 && next < queue.length) {
      const item = queue[next++];
      inflight.set(++id, item);
      c.send({ type: 'tx', id, client: item.client, tx: `[{:w/key "${item.key}" :w/n ${item.n}}]` });
    }
  };
  c.ws.on('message', (data, binary) => {
    if (binary) return;
    const m = JSON.parse(data.toString());
    const item = inflight.get(m.id);
    if (!item) return;
    inflight.delete(m.id);
    if (m.type === 'tx_ok') {
      acked.set(item.key, (acked.get(item.key) ?? 0) + 1);
      queue.splice(queue.indexOf(item), 1);
      next--;
    }
    pump();
  });
  pump();
  await c.closed;
}

test(`${ROUNDS} rounds of kill -9 during writes: every acknowledged write is committed exactly once`, { timeout: 240000 }, async () => {
  let server = await startServer();
  const dir = server.dir;
  assert.equal((await transactHttp(server, '[{:db/ident :w/key :db/valueType :db.type/string} {:db/ident :w/n :db/valueType :db.type/long}]')).status, 200);
  const queues = Array.from({ length: WRITERS }, () => []);
  const acked = new Map();  // key → times answered tx_ok (a resend of a committed write is answered again)
  let made = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [w, q] of queues.entries()) {
        for (let i = 0; i < 200; i++, made++) q.push({ key: `k${w}-${made}`, n: made, client: `crash-${w}-${made}` });
      }
      const sessions = queues.map((q) => write(server, q, acked));
      await sleep(150 + Math.random() * 350);
      server.proc.kill('SIGKILL');
      await server.exited;
      await Promise.all(sessions);
      server = await startServer([], { dir });
    }
    // A last round with no kill drains every queue.
    const sessions = queues.map((q) => write(server, q, acked));
    for (let i = 0; i < 600 && queues.some((q) => q.length > 0); i++) await sleep(50);
    server.proc.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    await Promise.all(sessions);
    const out = execFileSync(CLI, ['query', '[:find ?k (count ?e) :where [?e :w/key ?k]]', '--db', join(dir, 'inv'), '--json'],
      { encoding: 'utf8', maxBuffer: 64 << 20 });
    const counts = new Map(JSON.parse(out));
    console.log(`# ${ROUNDS} rounds of SIGKILL: ${made} writes made, ${acked.size} acknowledged, ${counts.size} in the database`);
    assert.equal(acked.size, made, 'every write was answered in the end');
    for (const key of acked.keys()) assert.equal(counts.get(key), 1, `${key} is in the database once`);
    assert.ok([...counts.values()].every((n) => n === 1), 'no write twice');
    assert.equal(counts.size, made);
  } finally {
    if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
