// The sync client against servers that lie (issue: a replica that can't be left
// broken), in Node with memory replicas, on 127.0.0.1:
// - a proxy in front of a real datalith-server that forwards an update's commit record
//   but drops the nodes it reaches: the client refuses the head (an error naming the
//   missing node), keeps its old head, and a genuine server then syncs it in full;
// - a fake server that advertises a 2 GiB frame limit and sends a small zstd frame
//   declaring 1 GiB: refused against the client's own ceiling before it is unpacked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WsSocket, { WebSocketServer } from 'ws';
import { init } from '../js/node.js';
import { findServer, TestServer } from './support/sync-server.mjs';
import { waitFor } from './support/wait.mjs';

const { path: BINARY, why } = findServer();
const d = await init();
let server;
let n = 0;

const FRAME_NODES = 1;
const count = (db) => d.q('[:find (count ?e) . :where [?e :item/sku]]', db);

before(async () => {
  if (!BINARY) return;
  // Raw frames and node updates only, so the proxy can read and cut every update.
  server = await new TestServer(BINARY, { args: ['--no-frame-compression', '--no-log-updates'] }).start();
  await server.transact('[{:db/ident :item/sku :db/valueType :db.type/string :db/unique :db.unique/identity}]');
  const items = [];
  for (let i = 0; i < 2000; i++) items.push(`{:item/sku "h-${i}"}`);
  await server.transact(`[${items.join(' ')}]`);
});

after(async () => {
  await server?.stop();
});

// A WebSocket server on 127.0.0.1; `onClient(ws)` speaks for it.
async function listen(onClient) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', onClient);
  await new Promise((r) => wss.once('listening', r));
  return { url: `ws://127.0.0.1:${wss.address().port}/sync`, close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(r); }) };
}

// Forwards to the real server, but of each update sends only its commit record (the
// last blob: docs/sync-protocol.md §4), with a head message counting one blob.
function commitOnlyProxy() {
  return listen((client) => {
    const upstream = new WsSocket(server.url);
    const queued = [];
    let blobs = [];
    upstream.on('open', () => { for (const [m, binary] of queued.splice(0)) upstream.send(m, { binary }); });
    client.on('message', (m, binary) => (upstream.readyState === 1 ? upstream.send(m, { binary }) : queued.push([m, binary])));
    upstream.on('message', (m, binary) => {
      if (binary) {
        const view = new DataView(m.buffer, m.byteOffset, m.byteLength);
        if (m[0] !== FRAME_NODES) return client.send(m, { binary });
        let at = 10;
        for (let i = 0; i < view.getUint32(6); i++) {
          const len = view.getUint32(at + 16);
          blobs.push(m.subarray(at, at + 20 + len));
          at += 20 + len;
        }
        return undefined;
      }
      const msg = JSON.parse(m.toString());
      if (msg.type === 'head' && blobs.length > 0) {
        const last = blobs.at(-1);
        blobs = [];
        const frame = Buffer.alloc(10 + last.length);
        frame[0] = FRAME_NODES;
        frame.writeUInt32BE(4 + last.length, 2);
        frame.writeUInt32BE(1, 6);
        last.copy(frame, 10);
        client.send(frame, { binary: true });
        return client.send(JSON.stringify({ ...msg, blobs: 1 }));
      }
      client.send(m.toString());
    });
    const end = () => { client.terminate(); upstream.terminate(); };
    for (const s of [client, upstream]) { s.on('close', end); s.on('error', end); }
  });
}

const opts = { skip: BINARY ? false : why, timeout: 60000 };

test('an update whose commit reaches nodes it does not carry is refused; the old head stays, a real server heals it', opts, async () => {
  const proxy = await commitOnlyProxy();
  const id = `hostile-${++n}`;
  const cfg = (url) => ({ store: { backend: 'memory', id }, sync: { url, db: 'inv', token: 'r', WebSocket: WsSocket, backoff: { initialMs: 2000, maxMs: 4000 } } });
  const a = await d.connect(cfg(proxy.url));
  const errors = [];
  a.onSync((e) => e.type === 'error' && errors.push(e.error.message));
  await waitFor(() => errors.length > 0, 'the refusal');
  assert.match(errors[0], /^the update to commit [0-9a-f]{32} reaches node [0-9a-f]{32}, which it does not hold and the replica does not have: refused/);
  assert.notEqual(a.syncState, 'live', 'never live on a broken update');
  assert.equal(a.syncStats().updates, 0, 'nothing stored');
  assert.equal(await count(a.db()), null, 'still the empty replica, and it answers');
  await a.close();
  await proxy.close();

  // The same replica (the memory store outlives the connection) from the real server.
  const b = await d.connect(cfg(server.url));
  await b.synced();
  assert.equal(await count(b.db()), 2000);
  await b.close();
});

test('a frame declaring more than the client\'s ceiling is refused before it is unpacked, whatever the server advertises', opts, async () => {
  const fake = await listen((ws) => ws.on('message', (m) => {
    const hello = JSON.parse(m.toString());
    if (hello.type !== 'hello') return;
    ws.send(JSON.stringify({ type: 'welcome', protocol: 2, db: 'inv', access: 'read', head: 'ab'.repeat(16), features: [],
      limits: { max_frame_bytes: 2 ** 31, max_message_bytes: 1 << 20 } }));
    // 1 GiB of zeros compresses to ~32 KB; this frame only declares that size.
    const frame = Buffer.alloc(6 + 32);
    frame[0] = FRAME_NODES;
    frame[1] = 1;  // zstd
    frame.writeUInt32BE(2 ** 30, 2);
    ws.send(frame, { binary: true });
  }));
  const rss0 = process.memoryUsage().rss;
  const a = await d.connect({ store: { backend: 'memory', id: `hostile-${++n}` },
    sync: { url: fake.url, db: 'inv', token: 'r', WebSocket: WsSocket, backoff: { initialMs: 50, maxMs: 100 } } });
  const errors = [];
  a.onSync((e) => e.type === 'error' && errors.push(e.error.message));
  await waitFor(() => errors.length >= 3, 'three refusals (it reconnects and is refused again)');
  assert.match(errors[0], /a frame of 1073741824 bytes exceeds the limit of 67108864/);
  const grew = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.ok(grew < 200, `RSS grew by ${grew.toFixed(0)} MiB`);
  await a.close();
  await fake.close();
});
