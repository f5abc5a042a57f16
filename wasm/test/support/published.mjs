// Published databases for the http backend's tests: made with the `datalith` command-line
// tool (create, transact, publish; docs/format.md §6) next to the server binary the sync
// tests use ($DATALITH_CLI, else build*/datalith), served by Debian's nginx
// (tests/support/nginx.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findServer } from './sync-server.mjs';

export function findCli() {
  if (process.env.DATALITH_CLI) return process.env.DATALITH_CLI;
  const { path } = findServer();
  const cli = path && join(dirname(path), 'datalith');
  return cli && existsSync(cli) ? cli : null;
}

// Runs the CLI; throws with its stderr on failure; returns stdout.
export function dl(cli, args, input) {
  const r = spawnSync(cli, args, { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`datalith ${args[0]}: ${r.stderr}`);
  return r.stdout;
}

// Creates the database `dir` with the transactions `txs` (EDN texts) and publishes it
// to `out`.
export function publishNew(cli, dir, out, txs) {
  dl(cli, ['create', dir]);
  for (const tx of txs) dl(cli, ['transact', dir], tx);
  return dl(cli, ['publish', dir, out]);
}
