// Starts the demo: assembles the served site (the page plus the npm package's files,
// laid out as in node_modules/datalith), starts datalith-server on loopback, seeds the
// sample databases on first start through the HTTP transact endpoint, prints the URL,
// and stops the server cleanly on Ctrl-C / SIGTERM.
//
//   node web-demo/server/serve.mjs [--port 8080] [--data build/demo-data]
//        [--server build/datalith-server] [--site web-demo] [--verbose]
//
// Also a module: web-demo/test/demo.test.mjs starts and stops demos with startDemo().
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync,
  appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATABASES, TENANTS, seedTransactions } from '../seed-data.js';

const DEMO = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const ROOT = dirname(DEMO);
export const DEFAULT_TOKEN = 'demo-write-token';
// The package's files, as `npm run pack` ships them (package.json "files").
const PACKAGE_FILES = ['wasm/dist/datalith_wasm.mjs', 'wasm/dist/datalith_wasm.wasm'];
// Page files that are not part of the site (tests, this launcher).
const NOT_SERVED = new Set(['test', 'server', 'vendor', 'run.sh', 'README.md', '.gitignore']);

const listFiles = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]);

// Writes SITE/vendor/: the package under vendor/datalith/ and config.json (the sync
// token, the databases, and the files the service worker precaches). When SITE is not
// web-demo/ itself, copies the page there first.
export function prepareSite(site, { token = DEFAULT_TOKEN } = {}) {
  site = resolve(site);
  if (site !== DEMO) {
    for (const name of readdirSync(DEMO)) {
      if (NOT_SERVED.has(name)) continue;
      for (const f of statSync(join(DEMO, name)).isDirectory() ? listFiles(join(DEMO, name)) : [join(DEMO, name)]) {
        const to = join(site, relative(DEMO, f));
        mkdirSync(dirname(to), { recursive: true });
        copyFileSync(f, to);
      }
    }
  }
  const vendor = join(site, 'vendor', 'datalith');
  rmSync(vendor, { recursive: true, force: true });
  const pkg = [...readdirSync(join(ROOT, 'wasm/js')).filter((f) => f.endsWith('.js')).map((f) => `wasm/js/${f}`),
    ...PACKAGE_FILES];
  for (const f of pkg) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: build the package (bash wasm/build.sh)`);
    mkdirSync(dirname(join(vendor, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(vendor, f));
  }
  const served = listFiles(site).map((f) => relative(site, f))
    .filter((f) => !NOT_SERVED.has(f.split('/')[0]) || f.startsWith('vendor/datalith/'))
    .filter((f) => f !== 'sw.js').sort();
  const config = { token, databases: DATABASES, tenants: TENANTS, files: served };
  writeFileSync(join(site, 'vendor', 'config.json'), JSON.stringify(config, null, 2) + '\n');
  return config;
}

// Runs datalith-server; resolves once it listens.
function launch({ server, data, site, port, token, metricsToken, verbose }) {
  const args = ['--data', data, '--listen', '127.0.0.1', '--port', String(port), '--static', site,
    '--write-token', token, '--metrics-token', metricsToken, ...DATABASES.flatMap((db) => ['--db', db])];
  const proc = spawn(server, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const logFile = join(data, 'server.log');
  let log = '';
  const exited = new Promise((done) => proc.on('exit', (code, signal) => done(code ?? signal)));
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    appendFileSync(logFile, chunk);
    if (!proc.port) log += chunk;
    for (const line of chunk.split('\n')) {
      if (line && (verbose || /level=(warn|error)/.test(line))) process.stderr.write(`server: ${line}\n`);
    }
  });
  return new Promise((ok, fail) => {
    proc.on('error', fail);
    proc.stderr.on('data', () => {
      const m = /event=listening .*port=(\d+)/.exec(log);
      if (m && !proc.port) {
        proc.port = Number(m[1]);
        log = '';
        ok({ proc, port: proc.port, exited });
      }
    });
    exited.then((code) => fail(new Error(`datalith-server exited (${code}) before listening:\n${log}`)));
  });
}

// Seeds each database that has not been seeded in DATA (markers in DATA/.seeded/).
async function seed(base, data, token, say) {
  const marks = join(data, '.seeded');
  mkdirSync(marks, { recursive: true });
  const all = seedTransactions();
  for (const db of DATABASES) {
    if (existsSync(join(marks, db))) continue;
    const t0 = Date.now();
    let datoms = 0;
    for (const tx of all[db]) {
      const res = await fetch(`${base}/db/${db}/transact`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/edn' }, body: tx });
      const body = await res.json();
      if (!res.ok) throw new Error(`seeding ${db}: ${body.code}: ${body.message}`);
      datoms += body.datoms ?? 0;
    }
    writeFileSync(join(marks, db), `${all[db].length} transactions, ${datoms} datoms\n`);
    say(`seeded ${db}: ${all[db].length} transactions, ${datoms} datoms (${Date.now() - t0} ms)`);
  }
}

// Team A's bucket and team B's bucket (the cross-team scenario with no database
// server, page `?buckets`): the catalog and the inventory published with `datalith
// publish` (docs/format.md §6), each served by a plain static HTTP server of its own
// (another origin each, as two buckets or CDNs are), with the headers a bucket would
// send: CORS, blobs immutable, heads revalidated. Writes SITE/vendor/buckets.json.
async function startBuckets({ server, data, site }) {
  const cli = join(dirname(server), 'datalith');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build it (cmake --build build --target datalith)`);
  const buckets = {}, servers = [];
  for (const [db, team] of [['catalog', 'team-a'], ['inventory', 'team-b']]) {
    const root = join(data, 'buckets', team);
    execFileSync(cli, ['publish', join(data, db), join(root, db)], { stdio: 'ignore' });
    const bucket = await staticBucket(root);
    servers.push(bucket);
    buckets[db] = `${bucket.url}${db}/`;
  }
  writeFileSync(join(site, 'vendor', 'buckets.json'), JSON.stringify(buckets, null, 2) + '\n');
  return { buckets, close: () => Promise.all(servers.map((b) => b.close())) };
}

function staticBucket(root) {
  const srv = createServer(async (req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    const headers = { 'access-control-allow-origin': '*' };
    if (req.method !== 'GET' || !path.startsWith(root + '/')) return void res.writeHead(404, headers).end();
    try {
      const body = await readFile(path);
      res.writeHead(200, { ...headers, 'content-type': path.includes('/heads/') ? 'application/json' : 'application/octet-stream',
        'cache-control': path.includes('/blobs/') ? 'public, max-age=31536000, immutable' : 'no-cache' });
      res.end(body);
    } catch {
      res.writeHead(404, headers).end();
    }
  });
  return new Promise((done, fail) => {
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => done({
      url: `http://127.0.0.1:${srv.address().port}/`,
      close: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(r); }),
    }));
  });
}

// Starts a demo: { url, port, data, buckets, stop(), exited }. `port` 0 picks a free port.
export async function startDemo({ server = join(ROOT, 'build/datalith-server'), data = join(ROOT, 'build/demo-data'),
  site = DEMO, port = 8080, token = DEFAULT_TOKEN, verbose = false, say = () => {} } = {}) {
  if (!existsSync(server)) throw new Error(`${server} is missing: build it (cmake --build build --target datalith-server)`);
  mkdirSync(data, { recursive: true });
  prepareSite(site, { token });
  // /metrics (database names, heads, clients) is for the operator: a token of its own.
  const metricsToken = randomBytes(12).toString('hex');
  const { proc, port: actual, exited } = await launch({ server, data, site: resolve(site), port, token, metricsToken, verbose });
  const url = `http://127.0.0.1:${actual}/`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 8000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  let buckets;
  try {
    await seed(url.slice(0, -1), data, token, say);
    buckets = await startBuckets({ server, data, site: resolve(site) });
  } catch (e) {
    await stop();
    throw e;
  }
  const stopAll = async () => {
    await buckets.close();
    return stop();
  };
  return { url, port: actual, data, proc, exited, stop: stopAll, metricsToken, buckets: buckets.buckets };
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--port') opts.port = Number(value());
    else if (flag === '--data') opts.data = resolve(value());
    else if (flag === '--server') opts.server = resolve(value());
    else if (flag === '--site') opts.site = resolve(value());
    else if (flag === '--token') opts.token = value();
    else if (flag === '--verbose') opts.verbose = true;
    else throw new Error(`unknown flag ${flag} (--port N --data DIR --server BIN --site DIR --token T --verbose)`);
  }
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port >= 0 && opts.port < 65536)) {
    throw new Error('--port: expected 0..65535');
  }
  return opts;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const say = (m) => console.log(`demo: ${m}`);
  let demo;
  try {
    const opts = parseArgs(process.argv.slice(2));
    if (process.env.PORT && opts.port === undefined) opts.port = Number(process.env.PORT);
    demo = await startDemo({ ...opts, say });
  } catch (e) {
    console.error(`demo: ${e.message}`);
    process.exit(1);
  }
  say(`data in ${demo.data} (server log: ${join(demo.data, 'server.log')})`);
  say(`metrics: curl -H 'Authorization: Bearer ${demo.metricsToken}' ${demo.url}metrics`);
  say(`team A's bucket: ${demo.buckets.catalog}, team B's bucket: ${demo.buckets.inventory}`);
  console.log(`\n  Datalith demo: ${demo.url}\n\n  Open it in two tabs; Ctrl-C stops the server.` +
    `\n  With no database server: ${demo.url}?buckets (the catalog and the inventory read from two static buckets)\n`);
  let stopping = false;
  const shutdown = async (sig) => {
    if (stopping) return;
    stopping = true;
    say(`${sig}: stopping the server…`);
    const code = await demo.stop();
    say(`stopped (${code})`);
    process.exit(0);
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  demo.exited.then((code) => {
    if (!stopping) {
      console.error(`demo: datalith-server exited (${code}); see ${join(demo.data, 'server.log')}`);
      process.exit(1);
    }
  });
}
