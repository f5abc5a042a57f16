// Several datalith-servers on one Postgres (a throwaway cluster started here from
// Debian's postgresql, tests/support/postgres.sh): each takes writes, a lost
// compare-and-set applies its group again on the other's head (so :db/cas and
// uniqueness hold), each pushes every commit, its own or the other's, to its clients,
// killing one loses no acknowledged write, and GC keeps what the head reaches.
// Run: DATALITH_SERVER=build/datalith-server node --test tests/sync/postgres.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, metrics, SERVER, startServer, timesToReplica, transactHttp } from './support.mjs';

const PG_SH = fileURLToPath(new URL('../support/postgres.sh', import.meta.url));
const CLI = process.env.DATALITH_CLI ?? join(dirname(SERVER), 'datalith');
let pgDir, conninfo, a, b;

before(async () => {
  pgDir = mkdtempSync(join(tmpdir(), 'datalith-pg-'));
  execFileSync('bash', [PG_SH, 'start', pgDir], { stdio: 'inherit' });
  conninfo = `host=${pgDir} dbname=postgres user=postgres`;
  a = await startServer(['--no-frame-compression'], { postgres: conninfo });
  b = await startServer(['--no-frame-compression'], { postgres: conninfo });
  const r = await transactHttp(a, '[{:db/ident :w/key :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :w/n :db/valueType :db.type/long} {:db/ident :c/id :db/valueType :db.type/string :db/unique :db.unique/identity}' +
    ' {:db/ident :c/n :db/valueType :db.type/long}]');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal((await transactHttp(a, '[{:c/id "counter" :c/n 0}]')).status, 200);
});

after(async () => {
  for (const s of [a, b]) if (s && s.proc.exitCode === null) s.proc.kill('SIGKILL');
  execFileSync('bash', [PG_SH, 'stop', pgDir]);
});

// What the Postgres database holds, through the CLI: key → count.
function onPostgres(query) {
  const uri = `postgresql:///postgres?host=${encodeURIComponent(pgDir)}&user=postgres#inv`;
  return JSON.parse(execFileSync(CLI, ['query', query, '--db', uri, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

test('a write through server A reaches a replica of server B', async () => {
  const replica = await connect(b.ws, 'r');
  await replica.until(() => replica.updates.length === 1);
  const times = await timesToReplica(a, replica, 10, 'ab');
  console.log(`commit through A to a replica of B: median ${times[5].toFixed(1)} ms, max ${times[9].toFixed(1)} ms`);
  assert.ok((await metrics(b)).databases.inv.external_commits >= 1);
  await replica.close();
});

test('both servers take writes at once: every acknowledged one is in once; :db/cas holds across them', async () => {
  const writers = await Promise.all([a, a, b, b].map((s) => connect(s.ws, 'w')));
  const acked = new Set();
  let casOk = 0, casRefused = 0;
  await Promise.all(writers.map(async (c, w) => {
    for (let i = 0; i < 40; i++) {
      const id = i + 1;
      c.send({ type: 'tx', id, client: `pg-${w}-${i}`, tx: `[{:w/key "pg-${w}-${i}" :w/n ${i}}]` });
      const r = await c.next((m) => m.id === id, 20000);
      assert.equal(r.type, 'tx_ok', JSON.stringify(r));
      acked.add(`pg-${w}-${i}`);
      // A read-modify-write through :db/cas from what this writer last saw.
      const seen = c.seen ?? 0;
      const cid = 1000 + id;
      c.send({ type: 'tx', id: cid, tx: `[[:db/cas [:c/id "counter"] :c/n ${seen} ${seen + 1}]]` });
      const cas = await c.next((m) => m.id === cid, 20000);
      if (cas.type === 'tx_ok') {
        casOk++;
        c.seen = seen + 1;
      } else {
        assert.equal(cas.code, 'tx_failed', JSON.stringify(cas));
        assert.match(cas.message, /:db\/cas failed/);
        casRefused++;
        c.seen = Number(/found (\d+)/.exec(cas.message)[1]);
      }
    }
  }));
  await Promise.all(writers.map((c) => c.close()));
  const rows = onPostgres('[:find ?k (count ?e) :where [?e :w/key ?k] [(clojure.string/starts-with? ?k "pg-")]]');
  const counts = new Map(rows);
  for (const k of acked) assert.equal(counts.get(k), 1, `${k} once`);
  assert.equal(counts.size, acked.size);
  const counter = onPostgres('[:find ?n . :where [?e :c/id "counter"] [?e :c/n ?n]]');
  assert.equal(counter, casOk, 'the counter counts the :db/cas that committed, and nothing else');
  const conflicts = (await metrics(a)).databases.inv.commit_conflicts + (await metrics(b)).databases.inv.commit_conflicts;
  console.log(`4 writers on 2 servers: ${acked.size} writes, ${casOk} :db/cas committed, ${casRefused} refused, ${conflicts} groups applied again after a lost compare-and-set`);
  assert.ok(casRefused > 0, 'the writers raced');
});

test('one server killed with SIGKILL loses no acknowledged write; the other goes on', async () => {
  const viaA = await connect(a.ws, 'w'), viaB = await connect(b.ws, 'w');
  const acked = [];
  let stop = false;
  const write = async (c, tag) => {
    for (let i = 0; !stop; i++) {
      c.send({ type: 'tx', id: i + 1, client: `kill-${tag}-${i}`, tx: `[{:w/key "kill-${tag}-${i}"}]` });
      const r = await Promise.race([c.next((m) => m.id === i + 1, 30000), c.closed.then(() => null)]);
      if (!r) return;
      if (r.type === 'tx_ok') acked.push(`kill-${tag}-${i}`);
    }
  };
  const running = [write(viaA, 'a'), write(viaB, 'b')];
  await new Promise((r) => setTimeout(r, 400));
  a.proc.kill('SIGKILL');
  await a.exited;
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(running);
  await viaB.close();
  assert.ok(acked.some((k) => k.startsWith('kill-a-')) && acked.some((k) => k.startsWith('kill-b-')));
  const counts = new Map(onPostgres('[:find ?k (count ?e) :where [?e :w/key ?k] [(clojure.string/starts-with? ?k "kill-")]]'));
  for (const k of acked) assert.equal(counts.get(k), 1, `${k} once`);
  a = await startServer(['--no-frame-compression'], { postgres: conninfo });  // back, at the shared head
  const replica = await connect(a.ws, 'r');
  await replica.until(() => replica.updates.length === 1);
  assert.equal(replica.updates[0].commit, (await metrics(b)).databases.inv.head);
  await replica.close();
});

test('GC on Postgres keeps every node the head reaches: a fresh replica still syncs in full', async () => {
  const uri = `postgresql:///postgres?host=${encodeURIComponent(pgDir)}&user=postgres#inv`;
  const out = execFileSync(CLI, ['gc', uri, '--json'], { encoding: 'utf8' });
  console.log(`gc: ${out.trim()}`);
  for (const s of [a, b]) {
    const c = await connect(s.ws, 'r');
    await c.until(() => c.updates.length === 1);
    assert.equal(c.updates[0].received, c.updates[0].declared);
    await c.close();
  }
  assert.equal(onPostgres('[:find (count ?e) . :where [?e :w/key]]') > 100, true);
});
