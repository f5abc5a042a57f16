#!/usr/bin/env node
// Writes through datalith-server on the file store and on Postgres (a throwaway cluster
// from Debian's postgresql, tests/support/postgres.sh, Unix socket, default settings:
// synchronous_commit on), side by side on one machine: 8 concurrent HTTP writers, each
// sending one-entity transactions for --seconds (after a warm-up of 1 s), with one
// server on the file store, one on Postgres, and two on one Postgres (the writers
// split between them). Then the time from a commit through server A to its arrival at
// a replica connected to server B. Reports medians and spreads.
//
// Usage: node bench/postgres.mjs [--seconds 5]
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, startServer, timesToReplica, transactHttp } from '../tests/sync/support.mjs';

const PG_SH = fileURLToPath(new URL('../tests/support/postgres.sh', import.meta.url));
const i = process.argv.indexOf('--seconds');
const SECONDS = i >= 0 ? Number(process.argv[i + 1]) : 5;
const WRITERS = 8;
const SCHEMA = '[{:db/ident :w/key :db/valueType :db.type/string} {:db/ident :w/n :db/valueType :db.type/long}]';

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];

// WRITERS loops of HTTP transacts spread over `servers` for `ms`; returns latencies.
async function load(servers, ms, tag) {
  const lat = [];
  const end = performance.now() + ms;
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    const s = servers[w % servers.length];
    for (let n = 0; performance.now() < end; n++) {
      const t0 = performance.now();
      const r = await transactHttp(s, `[{:w/key "${tag}-${w}-${n}" :w/n ${n}}]`);
      if (r.status !== 200) throw new Error(JSON.stringify(r.body));
      lat.push(performance.now() - t0);
    }
  }));
  return lat.sort((a, b) => a - b);
}

async function measure(name, servers) {
  await transactHttp(servers[0], SCHEMA);
  await load(servers, 1000, `${name}-warm`);
  const lat = await load(servers, SECONDS * 1000, name);
  const row = `| ${name} | ${(lat.length / SECONDS).toFixed(0)} | ${pct(lat, 0.5).toFixed(1)} | ${pct(lat, 0.99).toFixed(1)} |`;
  console.log(row);
}

const pgDir = mkdtempSync(join(tmpdir(), 'datalith-pg-bench-'));
execFileSync('bash', [PG_SH, 'start', pgDir]);
const conninfo = `host=${pgDir} dbname=postgres user=postgres`;
const started = [];
const start = async (opts) => {
  const s = await startServer(['--no-frame-compression'], opts);
  started.push(s);
  return s;
};
try {
  console.log(`${WRITERS} HTTP writers, one-entity transactions, ${SECONDS} s each (after 1 s of warm-up)\n`);
  console.log('| store | tx/s | commit latency p50 (ms) | p99 (ms) |');
  console.log('| --- | --- | --- | --- |');
  await measure('file, one server', [await start({})]);
  const a = await start({ postgres: conninfo });
  await measure('postgres, one server', [a]);
  const b = await start({ postgres: conninfo });
  await measure('postgres, two servers (4 writers each)', [a, b]);

  // A commit through A, seen by a replica of B.
  const replica = await connect(b.ws, 'r');
  await replica.until(() => replica.updates.length === 1);
  const seen = await timesToReplica(a, replica, 50, 'ab');
  console.log(`\nA commit through server A at a replica of server B (from the HTTP request to the pushed head), 50 commits: ` +
    `median ${pct(seen, 0.5).toFixed(1)} ms, p90 ${pct(seen, 0.9).toFixed(1)} ms, max ${seen.at(-1).toFixed(1)} ms`);
  await replica.close();
} finally {
  for (const s of started) s.proc.kill('SIGKILL');
  execFileSync('bash', [PG_SH, 'stop', pgDir]);
}
