// The sync client: keeps a replica (an IndexedDB or memory store) current with a
// datalith-server over the WebSocket protocol of docs/sync-protocol.md (version 2), and
// sends writes to the server. api.js owns the replica's raw connection; this file
// owns the socket and the protocol.
//
// Per update: NODES frames (each blob verified against its address in the WASM core,
// then buffered), then `head`. A live replica usually gets the new commits' log
// segments: the core replays them on the replica's head and must arrive at exactly the
// announced commit (else `resend` asks for the nodes). Otherwise the blobs are the
// nodes it lacks. Either way the blobs and the head are written to the replica in one
// step (one IndexedDB transaction), the new snapshot is exposed and `listen` callbacks
// run with each transaction, then the update is acknowledged. A PROBE is answered from
// what the replica holds. On a close other than 4401/4404/4406 the client reconnects
// with jittered exponential backoff, sending the replica's head as `have`.
//
// Writes: the replica's outbox (outbox.js) holds them; this client sends them in order
// with their client ids whenever it is connected with a write token, and hands the
// answers back (docs/offline.md).

export { Outbox, MemoryOutboxStorage } from './outbox.js';
export { ReplicaSync } from './share.js';

const PROTOCOL = 2;
const FRAME_NODES = 1;
const FRAME_PROBE = 2;
const FRAME_HAVE = 3;
const HEADER = 6;
const FATAL_CLOSE = new Set([4401, 4404, 4406]);
const FATAL_CODES = new Set(['bad_token', 'unknown_database', 'version_mismatch']);
// Answers after which a write is sent again later: it was not applied, or not durably.
const RETRY_CODES = new Set(['overloaded', 'commit_failed']);
const RETRY_MS = 1000;
const CLOSE_BAD_DATA = 4000;  // ours: a frame failed verification or broke the protocol
const DEFAULT_LIMITS = { max_message_bytes: 1 << 20, max_frame_bytes: 8 << 20, max_probe: 16384, max_inflight_tx: 32 };
// This client's own ceilings, whatever the server's welcome advertises: a frame (its
// declared size is checked before it is unpacked), a probe, and one update in all.
const CLIENT_LIMITS = { max_frame_bytes: 64 << 20, max_probe: 1 << 20, max_inflight_tx: 1024 };
const MAX_UPDATE_BYTES = 1 << 30;
const DB_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

const te = new TextEncoder();

export function checkSyncConfig(sync) {
  if (typeof sync !== 'object' || sync === null) throw new Error('config.sync must be an object { url, db, token }');
  if (typeof sync.url !== 'string' || !/^wss?:\/\//.test(sync.url)) {
    throw new Error('config.sync.url must be a ws:// or wss:// URL');
  }
  if (typeof sync.db !== 'string' || !DB_NAME_RE.test(sync.db)) {
    throw new Error('config.sync.db must be 1-64 characters of A-Z a-z 0-9 _ -');
  }
  if (typeof sync.token !== 'string' || te.encode(sync.token).length > 256) {
    throw new Error('config.sync.token must be a string of at most 256 bytes');
  }
  return sync;
}

// sync.WebSocket, else globalThis.WebSocket (browsers, Node 22+), else the loader's
// fallback (node.js: the optional package `ws`, for Node 20).
async function webSocketClass(given, fallback) {
  if (given) return given;
  if (typeof globalThis.WebSocket === 'function') return globalThis.WebSocket;
  if (fallback) return fallback();
  throw new Error('sync needs a WebSocket: this runtime has none (pass config.sync.WebSocket)');
}

const syncError = (message, code) => Object.assign(new Error(message), { code });

const hexOf = (bytes, at) => {
  let s = '';
  for (let i = at; i < at + 16; i++) s += bytes[i].toString(16).padStart(2, '0');
  return s;
};

export class SyncClient {
  state = 'connecting';
  // Totals over the life of this client (every update, every connection).
  // `logUpdates` of the updates came as logs the replica replayed; `resends` logs it
  // could not rebuild (the server then sent the nodes).
  stats = { updates: 0, logUpdates: 0, resends: 0, nodes: 0, bytes: 0, frameBytes: 0, frames: 0, reconnects: 0 };

  #raw;
  // api.js: { head, has(addrs), apply(blobs, head, tx, log), applyLog(blobs, head, tx, log),
  // outbox, answered(entry, report), rejected(entry, error) }
  #replica;
  #opts;
  #WebSocket = null;
  #ws = null;
  #closed = false;
  #fatal = null;           // the error that stopped syncing for good
  #attempt = 0;            // reconnects since the last welcome
  #timer = null;
  #welcomeTimer = null;
  #chain = Promise.resolve();  // incoming messages, handled one at a time
  #events;                // share.js ReplicaSync: onSync listeners and synced() waiters
  #access = null;
  #features = [];          // welcome.features: 'client_ids' (the server dedupes resends)
  #limits = DEFAULT_LIMITS;
  #serverHead = null;
  #update = null;          // the update being received
  #nextId = 1;
  #inflight = new Map();   // message id → outbox entry sent, unanswered
  #retryTimer = null;

  // `fallbackWebSocket`: an async function the loader gives for runtimes without
  // globalThis.WebSocket.
  constructor(raw, replica, sync, fallbackWebSocket, events) {
    this.#raw = raw;
    this.#events = events;
    this.#replica = replica;
    this.#opts = {
      url: sync.url,
      db: sync.db,
      token: sync.token,
      initialMs: sync.backoff?.initialMs ?? 250,
      maxMs: sync.backoff?.maxMs ?? 30000,
      timeoutMs: sync.timeoutMs ?? 15000,
    };
    this.#given = sync.WebSocket;
    this.#fallback = fallbackWebSocket;
  }

  #given;
  #fallback;

  start() {
    this.#open();
  }

  get access() { return this.#access; }
  get serverHead() { return this.#serverHead; }
  get error() { return this.#fatal; }

  #emit(what) {
    this.#events.emit(what);
  }

  #setState(state, extra = {}) {
    if (this.state === state) return;
    this.state = state;
    this.#emit({ type: 'state', ...extra });
  }

  // ---- the socket ----

  async #open() {
    if (this.#closed || this.#fatal) return;
    this.#setState('connecting');
    try {
      this.#WebSocket ??= await webSocketClass(this.#given, this.#fallback);
    } catch (e) {
      return this.#stop(e);
    }
    if (this.#closed) return;
    let ws;
    try {
      ws = new this.#WebSocket(this.#opts.url);
    } catch (e) {
      return this.#stop(syncError(`cannot open ${this.#opts.url}: ${e.message}`, 'bad_url'));
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#chain = Promise.resolve();
    this.#update = null;
    this.#welcomeTimer = setTimeout(() => {
      if (this.#ws === ws && this.#access === null) this.#drop(ws, 4008, 'no welcome in time');
    }, this.#opts.timeoutMs);
    ws.onopen = () => {
      this.#send(ws, JSON.stringify({ type: 'hello', protocol: PROTOCOL, db: this.#opts.db,
        token: this.#opts.token, have: this.#healing ? null : (this.#replica.head ?? null) }));
    };
    ws.onmessage = (ev) => {
      const data = ev.data;
      this.#chain = this.#chain.then(() => (this.#ws === ws && this.#failed !== ws ? this.#onMessage(ws, data) : undefined))
        .catch((e) => this.#protocolFailure(ws, e));
    };
    ws.onerror = () => {};  // a close event follows
    ws.onclose = (ev) => {
      // Messages already received are still handled (an update's head, tx answers).
      this.#chain = this.#chain.then(() => this.#onClose(ws, ev.code, ev.reason));
    };
  }

  #send(ws, data) {
    if (ws.readyState === 1) ws.send(data);
  }

  #drop(ws, code, reason) {
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  #protocolFailure(ws, e) {
    if (this.#ws !== ws || this.#failed === ws) return;
    console.warn(`datalith sync: ${e.message}; reconnecting`);
    this.#failed = ws;  // ignore what it still delivers
    this.#update = null;
    this.#emit({ type: 'error', error: e, fatal: false });
    this.#drop(ws, CLOSE_BAD_DATA, e.message.slice(0, 120));
  }

  #lastError = null;  // the server's last fatal `error` message
  #failed = null;     // a socket this client gave up on

  #onClose(ws, code, reason) {
    if (this.#ws !== ws) return;
    this.#ws = null;
    clearTimeout(this.#welcomeTimer);
    this.#access = null;
    this.#update = null;
    this.#lostAnswers();

    if (this.#closed) return this.#setState('offline');
    if (FATAL_CLOSE.has(code)) {
      const server = this.#lastError?.code ? this.#lastError : null;
      return this.#stop(server ?? syncError(`the sync server refused the connection (${code} ${reason})`,
        { 4401: 'bad_token', 4404: 'unknown_database', 4406: 'version_mismatch' }[code]));
    }
    const cap = Math.min(this.#opts.maxMs, this.#opts.initialMs * 2 ** Math.min(this.#attempt, 20));
    const delay = Math.round(cap / 2 + Math.random() * cap / 2);  // jittered: [cap/2, cap]
    this.#attempt++;
    this.#setState('offline', { code, reason: String(reason ?? ''), retryInMs: delay });
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.stats.reconnects++;
      this.#open();
    }, delay);
  }

  // The writes sent on a closed socket: sent again on the next connection (the server
  // dedupes them by client id), unless the server cannot (no 'client_ids' feature):
  // then their outcome is unknown and they leave the outbox.
  #lostAnswers() {
    const lost = [...this.#inflight.values()];
    this.#inflight.clear();
    const dedupes = this.#features.includes('client_ids');
    for (const e of lost) {
      if (dedupes) this.#replica.outbox.lost(e);
      else this.#replica.rejected(e, syncError('the connection to the sync server closed before it answered, and this ' +
        'server does not dedupe resent writes: the transaction may or may not have committed', 'unknown_outcome'));
    }
  }

  #stop(error) {
    this.#fatal = error;
    clearTimeout(this.#timer);
    this.#setState('offline', { error });
    this.#emit({ type: 'error', error, fatal: true });
    this.#events.settle(error);
    this.#replica.outbox.rejectWaiters(error);
  }

  async close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#welcomeTimer);
    clearTimeout(this.#retryTimer);
    this.#inflight.clear();  // the writes stay in the outbox, sent by the next connection
    const ws = this.#ws;
    this.#ws = null;
    if (ws) this.#drop(ws, 1000, 'closed');
    await this.#chain.catch(() => {});
    this.state = 'offline';
  }

  // ---- messages ----

  async #onMessage(ws, data) {
    if (typeof data === 'string') return this.#onText(ws, JSON.parse(data));
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return this.#onBinary(ws, bytes);
  }

  async #onText(ws, m) {
    switch (m.type) {
      case 'welcome': return this.#onWelcome(ws, m);
      case 'head': return this.#onHead(ws, m);
      case 'tx_ok': return this.#onTxOk(m);
      case 'error': return this.#onError(m);
      default: throw new Error(`unknown message type ${JSON.stringify(m.type)} from the server`);
    }
  }

  #onWelcome(ws, m) {
    clearTimeout(this.#welcomeTimer);
    if (m.protocol !== PROTOCOL) throw new Error(`the server speaks protocol ${m.protocol}`);
    this.#access = m.access;
    this.#features = Array.isArray(m.features) ? m.features : [];
    const limits = { ...DEFAULT_LIMITS, ...(m.limits ?? {}) };
    for (const [k, max] of Object.entries(CLIENT_LIMITS)) {
      if (!(limits[k] >= 1)) limits[k] = DEFAULT_LIMITS[k];
      limits[k] = Math.min(limits[k], max);
    }
    this.#limits = limits;
    this.#serverHead = m.head;
    this.#attempt = 0;
    this.#lastError = null;
    if (m.head && m.head === this.#replica.head && !this.#healing) {
      this.#setState('live');
      this.#events.settle();
    } else {
      this.#setState('syncing');
    }
    if (m.access !== 'write') {
      const error = syncError(`the token grants read-only access to "${this.#opts.db}": the transaction was not sent`, 'forbidden');
      for (const e of [...this.#replica.outbox.unsent()]) {
        e.state = 'sent';  // until rejected() marks it
        this.#replica.rejected(e, error);
      }
    }
    this.kick();
  }

  #onBinary(ws, bytes) {
    if (bytes.length < HEADER) throw new Error('a binary frame shorter than its header');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const type = bytes[0], codec = bytes[1], rawLen = view.getUint32(2);
    const limit = type === FRAME_NODES ? this.#limits.max_frame_bytes
      : type === FRAME_PROBE ? 4 + 16 * this.#limits.max_probe : -1;
    if (limit < 0) throw new Error(`unexpected binary frame type ${type}`);
    if (rawLen > limit) throw new Error(`a frame of ${rawLen} bytes exceeds the limit of ${limit}`);
    let payload;
    if (codec === 0) {
      if (bytes.length - HEADER !== rawLen) throw new Error('frame length does not match its header');
      payload = bytes.subarray(HEADER);
    } else if (codec === 1 && type === FRAME_NODES) {
      payload = this.#raw.zstdDecompress(bytes.subarray(HEADER), rawLen);
    } else {
      throw new Error(`unknown frame codec ${codec}`);
    }
    if (type === FRAME_NODES) return this.#onNodes(payload, bytes.length);
    return this.#onProbe(ws, payload);
  }

  #onNodes(p, frameBytes) {
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    if (p.length < 4) throw new Error('a NODES payload without its count');
    const n = view.getUint32(0);
    const update = (this.#update ??= { blobs: [], bytes: 0, frameBytes: 0, frames: 0, started: Date.now() });
    if (this.state === 'live') this.#setState('syncing');
    let at = 4;
    for (let i = 0; i < n; i++) {
      if (at + 20 > p.length) throw new Error('a NODES entry runs past the frame');
      const addr = hexOf(p, at);
      const len = view.getUint32(at + 16);
      at += 20;
      if (at + len > p.length) throw new Error('a NODES blob runs past the frame');
      const blob = p.slice(at, at + len);
      at += len;
      if (!this.#raw.blobVerify(addr, blob)) throw new Error(`blob ${addr} does not match its address`);
      update.blobs.push([addr, blob]);
      update.bytes += len;
      if (update.bytes > MAX_UPDATE_BYTES) throw new Error(`an update of more than ${MAX_UPDATE_BYTES} bytes: refused`);
    }
    if (at !== p.length) throw new Error('trailing bytes after the NODES entries');
    update.frameBytes += frameBytes;
    update.frames++;
    this.#emit({ type: 'progress', nodes: update.blobs.length, bytes: update.bytes, frames: update.frames });
  }

  async #onProbe(ws, p) {
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    if (p.length < 4) throw new Error('a PROBE payload without its count');
    const n = view.getUint32(0);
    if (p.length !== 4 + 16 * n) throw new Error('a PROBE payload of the wrong length');
    const addrs = [];
    for (let i = 0; i < n; i++) addrs.push(hexOf(p, 4 + 16 * i));
    if (this.state === 'live') this.#setState('syncing');
    const have = await this.#replica.has(addrs);
    const bitmap = (n + 7) >> 3;
    const out = new Uint8Array(HEADER + 4 + bitmap);
    const ov = new DataView(out.buffer);
    out[0] = FRAME_HAVE;
    out[1] = 0;
    ov.setUint32(2, 4 + bitmap);
    ov.setUint32(HEADER, n);
    have.forEach((h, i) => { if (h) out[HEADER + 4 + (i >> 3)] |= 1 << (i & 7); });
    this.#send(ws, out);
    this.#emit({ type: 'probe', addresses: n, held: have.filter(Boolean).length });
  }

  async #onHead(ws, m) {
    const update = this.#update ?? { blobs: [], bytes: 0, frameBytes: 0, frames: 0, started: Date.now() };
    this.#update = null;
    if (typeof m.commit !== 'string' || !/^[0-9a-f]{32}$/.test(m.commit)) throw new Error('a head without a commit');
    if (m.blobs !== update.blobs.length) {
      throw new Error(`the head announces ${m.blobs} blobs, the update held ${update.blobs.length}`);
    }
    const log = Array.isArray(m.log) ? m.log : null;
    if (m.apply === 'log') {
      // The commits' logs: the replica replays them on its head and must rebuild this
      // commit; if it does not, the server sends the nodes instead (docs/sync-protocol.md §5.1).
      if (!log) throw new Error('a log update without its log');
      if (!(await this.#replica.applyLog(update.blobs, m.commit, m.tx, log))) {
        this.stats.resends++;
        this.#send(ws, JSON.stringify({ type: 'resend', commit: m.commit, reason: 'the log did not rebuild this commit' }));
        return;
      }
    } else {
      // Never a head whose nodes are missing: every node the commit reaches and the
      // replica lacks must be in the update (each verified on arrival).
      const missing = await this.#missingUnder(update.blobs, m.commit);
      if (missing) {
        throw new Error(`the update to commit ${m.commit} reaches node ${missing}, which it does not hold and the ` +
          'replica does not have: refused (the replica stays at its head)');
      }
      // Store the blobs, then the head (one IndexedDB transaction), expose the snapshot
      // and run the listeners; then acknowledge.
      await this.#replica.apply(update.blobs, m.commit, m.tx, log);
      this.#healing = false;
    }
    this.#serverHead = m.commit;
    Object.assign(this.stats, {
      updates: this.stats.updates + 1,
      logUpdates: this.stats.logUpdates + (m.apply === 'log' ? 1 : 0),
      nodes: this.stats.nodes + update.blobs.length,
      bytes: this.stats.bytes + update.bytes,
      frameBytes: this.stats.frameBytes + update.frameBytes,
      frames: this.stats.frames + update.frames,
    });
    this.#send(ws, JSON.stringify({ type: 'ack', commit: m.commit }));
    this.#setState('live');
    this.#emit({ type: 'update', commit: m.commit, tx: m.tx, apply: m.apply === 'log' ? 'log' : 'nodes', nodes: update.blobs.length, bytes: update.bytes,
      frameBytes: update.frameBytes, frames: update.frames, ms: Date.now() - update.started, log });
    this.#events.settle();
  }

  // The first node (or the commit) reachable from `commit` that is neither among
  // `blobs` nor held by the replica; null if none. Walks only the received blobs: what
  // the replica holds is complete below it (it only ever stores complete updates).
  async #missingUnder(blobs, commit) {
    const received = new Map(blobs);
    if (!received.has(commit)) return (await this.#replica.has([commit]))[0] ? null : commit;
    const seen = new Set([commit]), held = [], stack = [[commit, true]];
    while (stack.length > 0) {
      const [addr, isCommit] = stack.pop();
      const refs = this.#raw.blobRefs(addr, received.get(addr), isCommit);
      for (const ref of refs ? refs.split(' ') : []) {
        if (seen.has(ref)) continue;
        seen.add(ref);
        if (received.has(ref)) stack.push([ref, false]);
        else held.push(ref);
      }
    }
    if (held.length === 0) return null;
    const have = await this.#replica.has(held);
    const i = have.indexOf(false);
    return i < 0 ? null : held[i];
  }

  // The replica found a node missing under its own head (an older build, a lost
  // IndexedDB record): sync again from nothing, so the server sends every node of its
  // head (the replica keeps answering from what it has until then).
  heal() {
    if (this.#healing) return;
    this.#healing = true;
    console.warn('datalith sync: the replica lacks nodes under its head; syncing it again in full');
    if (this.#ws) this.#drop(this.#ws, 1000, 'healing the replica');
  }

  #healing = false;

  #onTxOk(m) {
    const e = this.#inflight.get(m.id);
    if (!e) return;
    this.#inflight.delete(m.id);
    this.kick();
    this.#replica.answered(e, { txId: m.tx, tempids: m.tempids ?? {}, datoms: m.datoms, commit: m.commit, duplicate: m.duplicate === true });
  }

  #onError(m) {
    const error = syncError(m.message ?? m.code, m.code);
    if (m.id !== undefined && m.id !== null) {
      const e = this.#inflight.get(m.id);
      if (!e) return;
      this.#inflight.delete(m.id);
      if (RETRY_CODES.has(m.code)) {
        // Not applied (overloaded), or not known to be durable (commit_failed): sent again
        // a little later with the same client id.
        this.#replica.outbox.lost(e);
        clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => this.kick(), RETRY_MS);
      } else {
        this.#replica.rejected(e, error);
        this.kick();
      }
      return;
    }
    // A fatal error: the server closes the socket next (onClose decides what follows).
    this.#lastError = error;
    this.#emit({ type: 'error', error, fatal: FATAL_CODES.has(m.code) });
  }

  // ---- writes ----

  // Sends the outbox's unsent writes, oldest first, as far as the in-flight limit allows
  // (api.js calls it after each new write; answers call it again).
  kick() {
    const ws = this.#ws, outbox = this.#replica.outbox;
    if (!ws || this.#access !== 'write') return;
    while (this.#inflight.size < this.#limits.max_inflight_tx) {
      const e = outbox.unsent().next().value;
      if (!e) return;
      e.state = 'sent';
      const id = this.#nextId++;
      const msg = JSON.stringify({ type: 'tx', id, client: e.clientId, tx: e.tx });
      const size = te.encode(msg).length;
      if (size > this.#limits.max_message_bytes) {
        this.#replica.rejected(e, syncError(`the transaction is ${size} bytes, above the server's limit of ` +
          `${this.#limits.max_message_bytes}: split it`, 'message_too_large'));
        continue;
      }
      this.#inflight.set(id, e);
      this.#send(ws, msg);
    }
  }
}
