// datalith: the JS API over the raw WASM tier (docs/wasm.md), for the loaders that
// start it (index.js: browsers and workers; node.js: Node; local.js and node-local.js:
// `datalith/local`). ES module; everything that may touch storage returns a Promise.
// Values cross as EDN text (JS → core) and JSON (core → JS); edn.js holds the
// conventions.

import { toEdn, txToEdn, txToJson, locateTxError, entityToEdn, keyword, parseReply, parsePull, parseReport, ruleInputs, MISSING, Uuid, EdnText } from './edn.js';
import { IdbStore } from './idb-store.js';
import { subscribe, LiveInput } from './live.js';

// Returns the package's init(): it starts the API over the raw module that `load`
// resolves to, once (a failed start is tried again by the next call). `env.WebSocket`:
// the loader's fallback for a runtime without globalThis.WebSocket (node.js);
// `env.local`: the module for local databases only (local.js, node-local.js), which
// lacks the calls of replicas and the sync client.
export function initWith(load, env = {}) {
  let loading = null;
  return () => (loading ??= load().then((raw) => new Datalith(raw, env)).catch((e) => {
    loading = null;
    throw e;
  }));
}

// The sync client loads only when a replica is opened: a dynamic import that bundlers
// split into a chunk of its own, so a page using local databases only never downloads it.
let syncModule = null;
const loadSync = () => (syncModule ??= import('./sync.js'));

const HANDLE = Symbol('datalith.handle');  // a Db's { id, stores }, for d.q

// The raw module plus the retry loop every storage-touching call goes through.
class Core {
  constructor(raw) {
    this.raw = raw;
    this.snapshots = new FinalizationRegistry((id) => raw.dbRelease(id));
  }

  // Calls `fn` (a raw call answering a JSON reply) until it answers: after each
  // {"missing": true}, every store of the call loads what it lacks, in one batch.
  // `optional`: the nodes may rightly be absent (a replica's log segments before its
  // first log update), so their absence is an error but not damage to heal.
  async call(stores, fn, parse = parseReply, { optional = false } = {}) {
    for (;;) {
      const reply = parse(fn());
      if (reply !== MISSING) return reply;
      const loaded = await Promise.all(stores.map((s) => s.fetchMissing(optional)));
      if (loaded.every((n) => n === 0)) {
        if (optional) throw Object.assign(new Error('the store does not hold the nodes this call reads'), { code: 'missing' });
        for (const s of stores) s.incomplete?.();  // a replica syncs again in full: sync.js heal()
        throw new Error('the core asked for nodes no store of this call can load' +
          (stores.some((s) => s.incomplete) ? ': the replica is syncing them again from its server' : ''));
      }
    }
  }

  snapshot(id, stores) {
    const db = new Db(this, stores, id);
    this.snapshots.register(db, id);
    return db;
  }
}

// The memory backend: a store in the WASM module, kept for the life of the process.
// Its connections never flush (docs/wasm.md): nothing is persisted.
class MemoryStore {
  flushes = false;
  constructor(raw) {
    this.id = raw.storeCreate('memory');
  }
  async fetchMissing() { return 0; }
  async persist() {}
  stats() { return { nodesRead: 0, bytesRead: 0, batches: 0 }; }
  close() {}  // the data outlives connections; deleteDatabase releases it
}

// The memory backend of a replica (config.sync): a buffer store in the WASM module that
// the sync client provides every received blob and head to, and that keeps them all
// (kind 'replica': it is their only copy). Kept for the life of the process, like
// MemoryStore, so a later connect() resumes from its head.
class ReplicaMemoryStore {
  flushes = false;
  replica = true;
  head = null;
  #raw;
  constructor(raw) {
    this.#raw = raw;
    this.id = raw.storeCreate('replica');
  }
  async fetchMissing() { return 0; }
  async persist() {}  // the buffer retains what the core writes: it is the replica's copy
  async has(addrs) { return addrs.map((a) => this.#raw.storeHas(this.id, a)); }
  async writeUpdate(blobs, head) {
    for (const [addr, bytes] of blobs) this.#raw.storeProvide(this.id, addr, bytes);
    this.#raw.storeProvideHead(this.id, 'main', head);
    this.head = head;
  }
  stats() { return { nodesRead: 0, bytesRead: 0, batches: 0 }; }
  close() {}
}

function storeOf(cfg) {
  const store = cfg?.store;
  if (store?.backend === 'http') {
    if (typeof store.url !== 'string' || !/^https?:\/\/[^/]/.test(store.url)) {
      throw new Error('config.store.url must be the http:// or https:// prefix a database is published at');
    }
    const url = store.url.endsWith('/') ? store.url : `${store.url}/`;
    if (store.refreshMs !== undefined && !(Number.isFinite(store.refreshMs) && store.refreshMs >= 100)) {
      throw new Error('config.store.refreshMs must be a number of milliseconds, at least 100');
    }
    if (store.fetch !== undefined && typeof store.fetch !== 'function') throw new Error('config.store.fetch must be a function (like fetch)');
    return { backend: 'http', id: url, url, cache: store.cache, refreshMs: store.refreshMs, fetch: store.fetch, key: `http:${url}` };
  }
  if (!store || (store.backend !== 'memory' && store.backend !== 'indexeddb')) {
    throw new Error("config.store.backend must be 'memory', 'indexeddb' or 'http'");
  }
  if (typeof store.id !== 'string' || store.id === '') throw new Error('config.store.id must be a non-empty string');
  return { backend: store.backend, id: store.id, key: `${store.backend}:${store.id}` };
}

// What `datalith/local` (local.js: the module without zstd's decoder and the sync calls)
// refuses, before the module would miss a call.
const localOnly = (what) => Object.assign(new Error(`${what} needs the full package: ` +
  "datalith/local opens local databases only (memory, indexeddb); import { init } from 'datalith'"), { code: 'local_only' });

const readOnly = (where) => Object.assign(new Error(`${where.url} is a published database: read-only ` +
  '(publish a new version with `datalith publish`)'), { code: 'read_only' });

// The http backend loads by a dynamic import, only when one is opened (bundlers split it off).
const loadHttp = () => import('./http-store.js');

function createOptions(cfg) {
  const flex = cfg.schemaFlexibility ?? 'write';
  if (flex !== 'read' && flex !== 'write') throw new Error("schemaFlexibility must be 'read' or 'write'");
  return JSON.stringify({ schemaFlexibility: flex, keepHistory: cfg.keepHistory ?? true });
}

// True if `txs` (log entries, oldest first) are exactly the transactions from..to.
function covers(txs, from, to) {
  return Array.isArray(txs) && txs.length === to - from + 1 && txs.length > 0 && txs[0].txId === from && txs.at(-1).txId === to;
}

// One open database: its store, its raw connection and the Connection objects on it
// (connect() twice to one database shares them, so there is one writer).
class Session {
  constructor(key, store, conn) {
    this.key = key;
    this.store = store;
    this.conn = conn;
    this.conns = new Set();
    this.queue = Promise.resolve();  // transactions (and replica updates), one at a time
    this.batch = [];                 // transactions waiting for the next group commit
    this.broken = null;
    this.sync = null;                // the SyncClient of a replica
    this.outbox = null;              // its pending writes and optimistic view (outbox.js)
    this.placeholder = null;         // a replica with no head yet: the memory store of its empty stand-in
    this.refresher = undefined;      // a published database's head-reading interval (refreshMs)
  }

  // Local transactions: every transact() made before the queue reaches the batch (at
  // least those of one tick) is applied in order, each on its own, then made durable
  // with one flush and one IndexedDB transaction (group commit).
  // `tx`: { edn } or { json } (edn.js txToJson).
  submit(core, tx) {
    const done = new Promise((resolve, reject) => this.batch.push({ edn: tx.edn, json: tx.json, resolve, reject }));
    if (this.batch.length === 1) {
      const run = this.queue.then(() => this.commitBatch(core));
      this.queue = run.catch(() => {});
    }
    return done;
  }

  async commitBatch(core) {
    const items = this.batch;
    this.batch = [];
    if (this.broken) {
      const e = new Error(`an earlier commit failed to persist (${this.broken.message}); reconnect`);
      return items.forEach((it) => it.reject(e));
    }
    // A local IndexedDB database: the batch holds the database's cross-tab write lock
    // (tabs.js) and starts from the stored head, so tabs writing at once take turns
    // instead of failing with 'conflict'. One lock per batch: group commit stays.
    const tabs = this.sync ? null : this.store.tabs;
    if (!tabs) return this.commitItems(core, items);
    return tabs.lock('write', async () => {
      try {
        await this.follow(core);
      } catch (e) {
        const err = new Error(`the transaction was not applied: reading the head another tab stored failed (${e.message})`);
        return items.forEach((it) => it.reject(err));
      }
      if (await this.commitItems(core, items)) tabs.post({ type: 'head', head: this.store.head });
    }).catch((e) => items.forEach((it) => it.reject(e)));  // the lock itself was refused
  }

  // One transaction, unflushed (a promise of its report).
  apply(core, it) {
    const { raw } = core;
    const fn = it.json === undefined ? () => raw.connApply(this.conn, it.edn) : () => raw.connApplyJson(this.conn, it.json);
    return core.call([this.store], fn, parseReport);
  }

  // Applies, flushes and persists `items`; true if a commit was stored.
  async commitItems(core, items) {
    const { raw } = core;
    const applied = [];
    for (const it of items) {
      for (;;) {
        try {
          it.report = await this.apply(core, it);
          applied.push(it);
        } catch (e) {
          // Sent as JSON text and failed: again as EDN text (a failed transaction
          // changes nothing), whose error says where in the data.
          if (it.json !== undefined) {
            it.edn = txToEdn(JSON.parse(it.json));
            it.json = undefined;
            continue;
          }
          it.reject(e);
        }
        break;
      }
    }
    if (applied.length === 0) return false;
    if (this.store.flushes) {
      try {
        await core.call([this.store], () => raw.connFlush(this.conn));
        await this.store.persist();
      } catch (e) {
        // A conflict: listeners hear of the stored commits from the batch's first tx on.
        const err = e.code === 'conflict' ? await this.rebase(core, e, applied[0].report.txId)
          : new Error(`the transaction was applied but could not be stored: ${e.message}`);
        applied.forEach((it) => it.reject(err));
        return false;
      }
    }
    for (const it of applied) {
      this.notify(it.report);
      it.resolve(it.report);
    }
    return true;
  }

  // A local IndexedDB database: when another tab announces a commit, catch up with it
  // in this session's queue (one catch-up for a burst of announcements).
  followTabs(core) {
    let queued = false;
    const wake = () => {
      if (queued || this.conns.size === 0) return;
      queued = true;
      this.enqueue(() => {
        queued = false;
        return this.conns.size > 0 && this.follow(core);
      }).catch((e) => {
        queued = false;
        console.warn(`datalith: could not follow another tab's commit: ${e.message}`);
      });
    };
    this.store.tabs.onMessage((message) => message?.type === 'head' && wake());
    // A commit announced while this session was opening was not heard: look once (after
    // connect() has added its Connection).
    queueMicrotask(wake);
  }

  // Moves the raw connection to the head stored in IndexedDB if another tab moved it,
  // and tells the listeners. Runs in the queue, between batches (no transaction pending).
  // A replica whose sync runs in another tab (share.js) follows the heads it stores,
  // with `logs`: the log segments of the updates it stored since the last call (null
  // for one that came without); the outbox rebases as on an update of its own.
  async follow(core, logs = []) {
    const { raw } = core;
    const head = await this.store.reloadHeads();
    const moved = head !== null && (this.placeholder !== null || head !== raw.connHead(this.conn));
    if (!this.outbox) {
      if (!moved) return;
      const from = this.basis(raw) + 1;
      await core.call([this.store], () => raw.connRefresh(this.conn));
      return this.heard(core, from);
    }
    if (!moved && logs.length === 0) return;
    const from = this.placeholder === null ? this.basis(raw) + 1 : 1;
    if (moved) await this.#moveTo(core);
    const to = this.basis(raw);
    let txs = null;
    if (logs.length > 0 && logs.every(Boolean)) {
      try {
        txs = await core.call([this.store], () => raw.connReadLog(this.conn, JSON.stringify(logs.flat(1))));
      } catch (e) {
        console.warn(`datalith: could not read the transactions another tab synced: ${e.message}`);
      }
    }
    // The logs told cover only the updates this tab heard of: a head the leader stored
    // without telling (it closed first) is read from the store's log, when it holds it
    // (else the outbox finds its writes by client id).
    if (!covers(txs, from, to) && this.placeholder === null) {
      txs = await core.call([this.store], () => raw.connTxRange(this.conn, from, 0), parseReply, { optional: true })
        .catch(() => null);
    }
    await this.#updated(core, this.store.head, to, covers(txs, from, to) ? txs : null);
  }

  // The connection moved to another tab's commits: the listeners get each transaction
  // from `from` (the basis of the snapshot before, plus one) on, read from the log, or
  // one report with `reset: true` if that cannot be read.
  async heard(core, from) {
    const { raw } = core;
    const commit = raw.connHead(this.conn);
    let txs = [];
    try {
      txs = await core.call([this.store], () => raw.connTxRange(this.conn, from, 0));
    } catch (e) {
      console.warn(`datalith: could not read another tab's transactions: ${e.message}`);
    }
    if (txs.length === 0) return this.notify({ txId: this.basis(raw), tempids: {}, txData: [], commit, reset: true });
    for (const t of txs) this.notify({ txId: t.txId, tempids: {}, txData: t.txData, commit });
  }

  basis(raw) {
    const db = raw.connDb(this.conn);
    const t = raw.dbBasis(db);
    raw.dbRelease(db);
    return t;
  }

  // Another page or tab committed to this IndexedDB database first (persist found the
  // head moved), so this batch was not stored: reopen the raw connection at the stored
  // head, dropping the batch, so reads show the other page's commits and later
  // transactions build on them, and the listeners hear of those commits (from `from`,
  // the first tx id of the batch). Returns the error for the batch's callers. If the
  // reopen fails, the session refuses further writes.
  async rebase(core, conflict, from) {
    const { raw } = core;
    try {
      await this.store.reloadHeads();
      const conn = await core.call([this.store], () => raw.connOpen(this.store.id));
      raw.connRelease(this.conn);
      this.conn = conn;
      await this.heard(core, from);
      return Object.assign(new Error(`the transaction was not stored: ${conflict.message}; ` +
        'this connection now continues from the stored head'), { code: 'conflict' });
    } catch (e) {
      this.broken = e;
      return new Error(`the transaction was applied but could not be stored: ${conflict.message} (${e.message})`);
    }
  }

  // A replica's log update (sync.js): the log segments of the commits after the
  // replica's head, which the core replays on it with the writer's own code; the nodes
  // that builds, the segments and the new head are stored in one step (IndexedDB: one
  // transaction), then the listeners get each transaction. False when the replay did not
  // rebuild `head` (nothing changed: sync.js asks for the nodes instead).
  applyLog(core, blobs, head, tx, log) {
    return this.enqueue(async () => {
      const { raw } = core;
      if (this.placeholder !== null) return false;  // no head to replay on
      // The segments are written with what the replay builds (pending in the buffer
      // store: no other call's trim drops them while this one waits for nodes).
      for (const [addr, bytes] of blobs) raw.storeWrite(this.store.id, addr, bytes);
      const stored = this.store.head;
      let txs;
      try {
        txs = await core.call([this.store], () => raw.connApplyLog(this.conn, head, JSON.stringify(log)));
      } catch (e) {
        if (e.code !== 'Corruption') throw e;
        console.warn(`datalith sync: ${e.message}; asking for the nodes`);
        return false;
      }
      // Durable first, then shown: the connection moves to the new head only once
      // IndexedDB holds it (on failure the buffer goes back to the stored head).
      try {
        await this.store.persist();
      } catch (e) {
        raw.storeTakePending(this.store.id);
        raw.storeProvideHead(this.store.id, 'main', stored);
        throw e;  // sync.js reconnects from the stored head
      }
      this.store.head = head;
      await core.call([this.store], () => raw.connRefresh(this.conn));
      await this.#updated(core, head, tx, txs);
      return true;
    });
  }

  // The replica moved to a server snapshot: the outbox rebases the optimistic view on
  // it, then the listeners get each of its transactions (`txs`; null: not known), and
  // a `reset` report when the view was rebuilt (pending writes may show differently).
  async #updated(core, head, tx, txs) {
    const rebuilt = await this.outbox.afterUpdate(txs, tx, head);
    if (!txs) this.notify({ txId: tx, tempids: {}, txData: [], commit: head, reset: true });
    else for (const t of txs) this.notify({ txId: t.txId, tempids: {}, txData: t.txData, commit: head });
    if (rebuilt && txs) this.notify({ txId: tx, tempids: {}, txData: [], commit: head, reset: true });
  }

  // A replica's store holds a new head (blobs, then head): move the raw connection to
  // it (the first head replaces the empty stand-in) and tell the listeners: each
  // transaction when the update came with the logs of the commits it covers (`log`),
  // else one report with `reset: true` (what changed is not known).
  adopt(core, head, tx, log) {
    return this.enqueue(async () => {
      const { raw } = core;
      await this.#moveTo(core);
      const txs = log?.length ? await core.call([this.store], () => raw.connReadLog(this.conn, JSON.stringify(log))) : [];
      await this.#updated(core, head, tx, txs.length ? txs : null);
    });
  }

  // Moves the raw connection to the store's head (the first head replaces the empty
  // stand-in of a replica that had none).
  async #moveTo(core) {
    const { raw } = core;
    if (this.placeholder === null) return core.call([this.store], () => raw.connRefresh(this.conn));
    const conn = await core.call([this.store], () => raw.connOpen(this.store.id));
    raw.connRelease(this.conn);
    raw.storeRelease(this.placeholder);
    this.conn = conn;
    this.placeholder = null;
  }

  // A published database (http backend): reads its head again and, if it moved, moves
  // the connection there and tells the listeners (one report with `reset: true`: the
  // published objects carry no log). True if it moved.
  refresh(core) {
    return this.enqueue(async () => {
      if (!(await this.store.reloadHead())) return false;
      await core.call([this.store], () => core.raw.connRefresh(this.conn));
      this.notify({ txId: this.basis(core.raw), tempids: {}, txData: [], commit: this.store.head, reset: true });
      return true;
    });
  }

  refreshEvery(core, ms) {
    this.refresher = setInterval(() => {
      this.refresh(core).catch((e) => console.warn(`datalith: reading the head of ${this.store.url} again failed: ${e.message}`));
    }, ms);
    this.refresher.unref?.();  // Node: an interval alone does not keep the process up
  }

  // Runs `fn` after the transactions queued before it.
  enqueue(fn) {
    const run = this.queue.then(() => {
      if (this.broken) throw new Error(`an earlier commit failed to persist (${this.broken.message}); reconnect`);
      return fn();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  notify(report) {
    for (const conn of this.conns) {
      for (const listener of conn.listeners) {
        try {
          listener(report);
        } catch (e) {
          console.error('datalith: a listen() callback threw', e);
        }
      }
    }
  }
}

class Datalith {
  #core;
  #env;
  #memory = new Map();    // memory stores by id
  #sessions = new Map();  // open databases by store key
  #locks = new Map();     // store key → tail of its queue of lifecycle operations

  #live;  // what reactive queries (live.js) need of the core

  constructor(raw, env) {
    this.#core = new Core(raw);
    this.#env = env;
    this.version = raw.version();
    // A result as its reply text, for subscriptions to compare runs cheaply.
    const text = (reply) => (reply.startsWith('{"ok":') ? reply : parseReply(reply));
    this.#live = {
      run: (query, inputs) => this.#query(query, inputs, (q, json) => raw.q(q, json), text),
      deps: (query, inputs) => this.#query(query, inputs, (q, json) => raw.queryDeps(q, json)),
      isConnection: (x) => x instanceof Connection,
    };
  }

  // datalith/local refuses what needs the full package, after the checks the full
  // package makes too. (A replica's store may still be looked up and deleted.)
  #refuseInLocal(where, sync) {
    if (!this.#env.local) return;
    if (where.backend === 'http') throw localOnly('a published database (the http backend)');
    if (sync !== undefined) throw localOnly('a replica (config.sync)');
  }

  // Runs `fn` after every earlier lifecycle operation on the same store.
  #exclusive(key, fn) {
    const run = (this.#locks.get(key) ?? Promise.resolve()).then(fn);
    this.#locks.set(key, run.catch(() => {}));
    return run;
  }

  // The store of a database: null if it does not exist and `create` is false.
  async #openStore({ backend, id, url, cache, fetch }, create) {
    const raw = this.#core.raw;
    if (backend === 'indexeddb') return IdbStore.open(raw, id, { create });
    if (backend === 'http') return (await loadHttp()).HttpStore.open(raw, url, { cache, fetch });
    let store = this.#memory.get(id);
    if (!store && create) this.#memory.set(id, (store = new MemoryStore(raw)));
    return store ?? null;
  }

  async createDatabase(cfg) {
    const where = storeOf(cfg);
    if (where.backend === 'http') throw readOnly(where);
    const options = createOptions(cfg);
    const core = this.#core;
    await this.#exclusive(where.key, async () => {
      const store = await this.#openStore(where, true);
      try {
        core.raw.connRelease(await core.call([store], () => core.raw.connCreate(store.id, options)));
        await store.persist();
      } catch (e) {
        // The core names the branch ('main'); the user named the store.
        if (e.code !== 'Conflict') throw e;
        throw Object.assign(new Error(`database "${where.id}" already exists (${where.backend} backend)`), { code: e.code });
      } finally {
        store.close();
      }
    });
  }

  async databaseExists(cfg) {
    const where = storeOf(cfg);
    this.#refuseInLocal(where);
    const core = this.#core;
    return this.#exclusive(where.key, async () => {
      if (this.#sessions.has(where.key)) return true;
      const store = await this.#openStore(where, false);
      if (!store) return false;
      try {
        return await core.call([store], () => core.raw.connExists(store.id));
      } finally {
        store.close();
      }
    });
  }

  async deleteDatabase(cfg) {
    const where = storeOf(cfg);
    this.#refuseInLocal(where);
    await this.#exclusive(where.key, async () => {
      if (this.#sessions.has(where.key)) {
        throw new Error(`database "${where.id}" has open connections; close them first`);
      }
      if (where.backend === 'indexeddb') return IdbStore.delete(where.id);
      if (where.backend === 'http') return (await loadHttp()).HttpStore.deleteCache(where.url);
      const store = this.#memory.get(where.id);
      if (store) this.#core.raw.storeRelease(store.id);
      this.#memory.delete(where.id);
    });
  }

  async connect(cfg) {
    const where = storeOf(cfg);
    if (where.backend === 'http' && cfg.sync !== undefined) throw new Error('a published database (http backend) is read-only: it takes no config.sync');
    this.#refuseInLocal(where, cfg.sync);
    const sync = cfg.sync === undefined ? null : (await loadSync()).checkSyncConfig(cfg.sync);
    const core = this.#core;
    return this.#exclusive(where.key, async () => {
      let session = this.#sessions.get(where.key);
      if (session && sync && session.sync?.key !== `${sync.url}#${sync.db}`) {
        throw new Error(`database "${where.id}" is already open ${session.sync ? `as a replica of ${session.sync.key}` : 'without sync'}; close its connections first`);
      }
      if (!session && sync) {
        session = await this.#openReplica(where, sync);
        this.#sessions.set(where.key, session);
      }
      if (!session) {
        const store = await this.#openStore(where, false);
        if (!store) throw new Error(`no database "${where.id}" (${where.backend}); create it with createDatabase`);
        try {
          session = new Session(where.key, store, await core.call([store], () => core.raw.connOpen(store.id)));
        } catch (e) {
          store.close();
          throw e;
        }
        this.#sessions.set(where.key, session);
        if (store.tabs) session.followTabs(core);
        if (where.refreshMs) session.refreshEvery(core, where.refreshMs);
      }
      const conn = new Connection(core, session, () => this.#detach(session, conn));
      session.conns.add(conn);
      return conn;
    });
  }

  // A replica (config.sync): opens the local store at once (creating it if needed) and
  // syncs in the background. With no head yet, the connection shows an empty database
  // until the first update is stored.
  async #openReplica(where, sync) {
    const { raw } = this.#core;
    const core = this.#core;
    let store;
    if (where.backend === 'indexeddb') {
      store = await IdbStore.open(raw, where.id, { create: true });
    } else {
      store = this.#memory.get(where.id);
      if (store && !store.replica) {
        throw new Error(`memory database "${where.id}" is a local database; give the replica its own store id`);
      }
      if (!store) this.#memory.set(where.id, (store = new ReplicaMemoryStore(raw)));
    }
    let session;
    try {
      if (await core.call([store], () => raw.connExists(store.id))) {
        session = new Session(where.key, store, await core.call([store], () => raw.connOpen(store.id)));
      } else {
        const placeholder = raw.storeCreate('memory');
        const conn = parseReply(raw.connCreate(placeholder, '{"schemaFlexibility": "read", "keepHistory": true}'));
        session = new Session(where.key, store, conn);
        session.placeholder = placeholder;
      }
    } catch (e) {
      store.close();
      throw e;
    }
    const { SyncClient, ReplicaSync, Outbox, MemoryOutboxStorage } = await loadSync();
    store.outbox ??= new MemoryOutboxStorage();  // a memory replica's (IdbStore has its own)
    session.outbox = new Outbox(core, session, store.outbox);
    try {
      await session.outbox.load();
    } catch (e) {
      session.outbox.close(e);
      raw.connRelease(session.conn);
      store.close();
      throw e;
    }
    const replica = {
      get head() { return store.head; },
      has: (addrs) => store.has(addrs),
      apply: async (blobs, head, tx, log) => {
        await store.writeUpdate(blobs, head);
        await session.adopt(core, head, tx, log);
      },
      applyLog: (blobs, head, tx, log) => session.applyLog(core, blobs, head, tx, log),
      outbox: session.outbox,
      answered: (entry, report) => session.enqueue(() => session.outbox.answered(entry, report)),
      rejected: (entry, error) => session.enqueue(() => session.outbox.rejected(entry, error)),
      // For the tabs sharing an IndexedDB replica (share.js).
      enqueue: (fn) => session.enqueue(fn),
      follow: (logs) => session.follow(core, logs),
      refresh: () => session.outbox.refresh(),
    };
    // One replica per browser: the tab that syncs is elected among those that open it.
    session.sync = new ReplicaSync(`${sync.url}#${sync.db}`, replica,
      () => new SyncClient(raw, replica, sync, this.#env.WebSocket, session.sync), store.tabs ?? null);
    session.sync.start();
    store.incomplete = () => session.sync?.heal();
    return session;
  }

  // A Connection closed: the last one out releases the raw connection and the store.
  #detach(session, conn) {
    return this.#exclusive(session.key, async () => {
      session.conns.delete(conn);
      if (session.conns.size > 0) return;
      clearInterval(session.refresher);
      await session.sync?.close();
      await session.queue;
      session.outbox?.close(new Error('this connection is closed'));
      this.#sessions.delete(session.key);
      this.#core.raw.connRelease(session.conn);
      if (session.placeholder !== null) this.#core.raw.storeRelease(session.placeholder);
      session.store.close();
    });
  }

  // Runs a query. Inputs: Db snapshots, JS data (edn.js conventions), EDN text via
  // d.edn(text), rule sets as EDN strings (where :in binds %), and arrays mixing data
  // and snapshots ([['acme', db1], ['globex', db2]]).
  async q(query, ...inputs) {
    if (typeof query !== 'string') throw new Error('a query is EDN text (a string)');
    const raw = this.#core.raw;
    // Read at once, in the parse step: the next call into the core may reuse the buffer.
    const parse = (reply) => (reply.startsWith(NUMBERS_REPLY) ? numberRows(reply, raw.queryNumbers()) : parseReply(reply));
    return this.#query(query, inputs, (q, json) => raw.qRows(q, json), parse);
  }

  // Runs `call(query, inputsJson)` (raw q or queryDeps) with the inputs encoded as the
  // raw tier takes them, loading missing nodes as needed; `parse` reads the reply.
  async #query(query, inputs, call, parse = parseReply) {
    const rules = ruleInputs(query);
    const dbs = dbsIn(inputs);
    if (dbs.some((db) => db[HANDLE].ready)) await Promise.all(dbs.map((db) => db[HANDLE].ready));
    const stores = dbs.length === 1 ? dbs[0][HANDLE].stores : [...new Set(dbs.flatMap((db) => db[HANDLE].stores))];
    const encode = (x) => (x instanceof Db ? { db: x[HANDLE].id }
      : hasDb(x) ? { list: x.map(encode) } : { edn: toEdn(x) });
    const json = JSON.stringify(inputs.map((x, i) =>
      (rules.has(i) && typeof x === 'string' ? { edn: x } : encode(x))));
    try {
      return await this.#core.call(stores, () => call(query, json), parse);
    } finally {
      keepAlive(dbs);  // the snapshots must outlive the call: their FinalizationRegistry releases the handles
    }
  }

  // A reactive query (live.js): calls `callback(result)` with the result now and after
  // each transaction of a live input (a Connection, or live(conn, view)) that changes
  // it; returns the function that stops it (with a stats() method).
  subscribe(query, inputs, callback, options) {
    return subscribe(this.#live, query, inputs, callback, options);
  }

  // A live input for subscribe(): `conn`'s current snapshot through `view` at each run
  // (e.g. (db) => db.history()).
  live(conn, view) {
    if (!(conn instanceof Connection)) throw new Error('live() takes a connection (d.connect) and optionally a view function');
    return new LiveInput(conn, view);
  }

  uuid(text) {
    return new Uuid(text);
  }

  edn(text) {
    return new EdnText(text);
  }
}

// A qRows answer of plain numbers: {"ok":{"#numbers":[shape, width, rows]}} as text, the
// cells row by row in `cells` (a Float64Array view of the core's memory). A relation
// (shape 0) becomes an array of row arrays, a collection (1) an array of numbers.
const NUMBERS_REPLY = '{"ok":{"#numbers":';
function numberRows(reply, cells) {
  const [shape, width, n] = JSON.parse(reply).ok['#numbers'];
  if (shape === 1) return Array.from(cells.subarray(0, n));
  const rows = new Array(n);
  if (width === 1) {
    for (let i = 0; i < n; i++) rows[i] = [cells[i]];
  } else if (width === 2) {
    for (let i = 0, k = 0; i < n; i++, k += 2) rows[i] = [cells[k], cells[k + 1]];
  } else {
    for (let i = 0, k = 0; i < n; i++, k += width) rows[i] = Array.from(cells.subarray(k, k + width));
  }
  return rows;
}

// Holds its argument until here (a query passed `conn.db()` inline: between the retries
// of a lazy load, nothing else refers to that snapshot).
function keepAlive(x) {
  return x;
}

// The snapshots among query inputs, at any depth.
function dbsIn(x, out = []) {
  if (x instanceof Db) out.push(x);
  else if (Array.isArray(x)) for (const y of x) dbsIn(y, out);
  return out;
}
const hasDb = (x) => x instanceof Db || (Array.isArray(x) && x.some(hasDb));

class Connection {
  #core;
  #session;
  #detach;
  #closed = false;
  listeners = new Set();

  constructor(core, session, detach) {
    this.#core = core;
    this.#session = session;
    this.#detach = detach;
  }

  #open() {
    if (this.#closed) throw new Error('this connection is closed');
    return this.#session;
  }

  // Applies transaction data (an array of entity maps and list forms, or EDN text).
  // Resolves once the commit is stored; listeners run just before. On a replica
  // (config.sync), online or offline, it is applied to the replica's view at once and
  // goes into its outbox, which the sync client sends to the server (docs/offline.md):
  // the promise resolves with the server's report once the commit holding it is in the
  // replica, or with { wait: 'local' } as soon as it is in the outbox and the view.
  async transact(txData, { wait = 'server' } = {}) {
    const s = this.#open();
    // A local database takes plain entity maps as JSON text (cheaper both sides) where
    // the module reads it (not datalith/local's); a replica's outbox keeps EDN text.
    const json = s.sync || !this.#core.raw.connApplyJson ? null : txToJson(txData);
    const edn = json === null ? txToEdn(txData) : null;
    if (!s.sync && s.store.replica) throw new Error('this database is a replica: connect with config.sync to write through its server');
    if (s.store.readOnly) throw readOnly(s.store);
    if (wait !== 'server' && wait !== 'local') throw new Error(`transact(): wait must be 'server' or 'local', got ${JSON.stringify(wait)}`);
    try {
      if (!s.sync) return await s.submit(this.#core, json === null ? { edn } : { json });
      if (s.sync.error) throw s.sync.error;
      if (s.sync.access === 'read') {
        throw Object.assign(new Error('the token grants read-only access to this database: the transaction was not stored'), { code: 'forbidden' });
      }
      const entry = await s.enqueue(() => s.outbox.add(edn));
      s.sync.kick();
      return await (wait === 'local' ? s.outbox.localReport(entry) : s.outbox.settled(entry));
    } catch (e) {
      throw e instanceof Error ? locateTxError(e, txData) : e;  // positions in JS data
    }
  }

  // A replica's writes not yet committed by the server: its outbox (docs/offline.md).
  get pending() {
    return this.#session.outbox?.pending ?? 0;
  }

  // [{ clientId, tx (EDN text), state: 'pending' | 'sent' | 'rejected', error?, at }],
  // oldest first.
  outbox() {
    const s = this.#open();
    if (!s.outbox) throw new Error('outbox() needs a connection with config.sync');
    return s.outbox.list();
  }

  // Drops a write not yet sent, or a rejected one, from the outbox (and the view).
  async discard(clientId) {
    const s = this.#open();
    if (!s.outbox) throw new Error('discard() needs a connection with config.sync');
    return s.sync.discard(clientId);
  }

  // The transaction log of a local database: [{ txId, txData }], oldest first, for
  // from <= txId < to (each optional).
  async log({ from = 0, to = 0 } = {}) {
    const s = this.#open();
    if (s.sync || s.store.replica) throw new Error('log() reads a local database: a replica keeps only the commits it was sent (use listen())');
    if (s.store.readOnly) throw new Error('log() reads a local database: a published one carries no log (use listen() with refresh())');
    for (const [name, v] of [['from', from], ['to', to]]) {
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`log(): ${name} must be a tx id (a non-negative integer), got ${v}`);
    }
    const core = this.#core;
    return s.enqueue(() => core.call([s.store], () => core.raw.connTxRange(s.conn, from, to)));
  }

  // A published database (http backend): reads its head again; resolves true if the
  // connection moved to a newer commit (listeners get a report with reset: true).
  async refresh() {
    const s = this.#open();
    if (!s.store.readOnly) throw new Error('refresh() reads the head of a published database (the http backend) again');
    return s.refresh(this.#core);
  }

  // The replica's sync state ('connecting', 'syncing', 'live', 'offline'); null
  // without config.sync.
  get syncState() {
    return this.#session.sync?.state ?? null;
  }

  // 'leader' if this tab's replica syncs (holds the socket), 'follower' if another tab
  // of this browser syncs it for this one (share.js); null without config.sync.
  get syncRole() {
    return this.#session.sync?.role ?? null;
  }

  // Sync progress: callback({ type: 'state' | 'progress' | 'update' | 'probe' | 'error' | 'role', state, head, ... }).
  onSync(callback) {
    const s = this.#open();
    if (!s.sync) throw new Error('onSync() needs a connection with config.sync');
    return s.sync.onSync(callback);
  }

  // Resolves when the replica holds the server's head (state 'live'); rejects if
  // syncing stopped for good (bad token, unknown database, version mismatch).
  async synced() {
    const s = this.#open();
    if (!s.sync) throw new Error('synced() needs a connection with config.sync');
    return s.sync.synced();
  }

  // What the sync client received so far: { updates, nodes, bytes, frameBytes, frames,
  // reconnects }; null without config.sync.
  syncStats() {
    const s = this.#session.sync;
    return s ? { ...s.stats } : null;
  }

  // The current snapshot; on a replica with pending writes, its optimistic view.
  db() {
    const s = this.#open();
    return this.#core.snapshot(this.#core.raw.connDb(s.outbox?.conn ?? s.conn), [s.store]);
  }

  listen(callback) {
    if (typeof callback !== 'function') throw new Error('listen() takes a function');
    this.#open();
    this.listeners.add(callback);
    return () => { this.listeners.delete(callback); };
  }

  // Nodes read from storage by this database so far (IndexedDB; zero for memory).
  stats() {
    return this.#session.store.stats();
  }

  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.listeners.clear();
    await this.#detach();
  }
}

const INDEX_SLOTS = { eavt: 'eav', aevt: 'aev', avet: 'ave', vaet: 'vae' };

// asOf/since by transaction: a tx id, or (below 2^42) a count of transactions.
function txPoint(t) {
  if (typeof t === 'bigint') t = Number(t);
  if (!Number.isSafeInteger(t) || t < 0) throw new Error('asOf/since take a tx id, a transaction count or a Date');
  return t;
}

// An entity id pullMany can send as a double: what the EDN text would give as a long.
const isEntityId = (e) => Number.isSafeInteger(e) && e >= 0;

function patternText(pattern) {
  if (pattern instanceof EdnText) return pattern.text;
  if (typeof pattern !== 'string') throw new Error('a pull pattern is EDN text (a string)');
  return pattern;
}

// An immutable database value. Its handle in the WASM module is known at once, except
// for views at an instant (asOf(date)), which may have to read the transaction log
// first: their methods wait for it.
class Db {
  #core;
  #parent;  // while the handle is pending: the snapshot this is a view of

  constructor(core, stores, id, parent = null) {
    this.#core = core;
    const handle = { id, stores, ready: null };
    if (typeof id !== 'number') {
      this.#parent = parent;
      handle.ready = id.then((resolved) => {
        Object.assign(handle, { id: resolved, ready: null });
        this.#parent = null;
        core.snapshots.register(this, resolved);
      });
      handle.ready.catch(() => {});  // reported by the method that awaits it
    }
    Object.defineProperty(this, HANDLE, { value: handle });
  }

  // The newest transaction of the snapshot (views share their snapshot's basis).
  get basisT() {
    const h = this[HANDLE];
    return h.ready ? this.#parent.basisT : this.#core.raw.dbBasis(h.id);
  }

  asOf(t) { return this.#view(t, 'dbAsOf', 'dbAsOfInstant'); }
  since(t) { return this.#view(t, 'dbSince', 'dbSinceInstant'); }
  history() { return this.#derive((raw, id) => raw.dbHistory(id), false); }

  #view(t, byTx, byInstant) {
    if (!(t instanceof Date)) {
      const tx = txPoint(t);
      return this.#derive((raw, id) => raw[byTx](id, tx), false);
    }
    const ms = t.getTime();
    if (Number.isNaN(ms)) throw new Error('invalid Date');
    return this.#derive((raw, id) => raw[byInstant](id, ms), true);
  }

  // A view of this snapshot: `make(raw, id)` returns its handle, or a JSON reply
  // holding it when `reply` (such a call may need nodes, so it resolves later).
  #derive(make, reply) {
    const core = this.#core, h = this[HANDLE];
    if (!h.ready && !reply) return core.snapshot(make(core.raw, h.id), h.stores);
    const id = (async () => {
      await h.ready;
      return reply ? core.call(h.stores, () => make(core.raw, h.id)) : make(core.raw, h.id);
    })();
    return new Db(core, h.stores, id, this);
  }

  // Runs a raw call on this snapshot's handle, loading missing nodes as needed.
  async #call(fn, parse) {
    const h = this[HANDLE];
    await h.ready;
    return this.#core.call(h.stores, () => fn(this.#core.raw, h.id), parse);
  }

  async pull(pattern, entity) {
    const p = patternText(pattern), e = entityToEdn(entity);
    return (await this.#call((raw, id) => raw.dbPull(id, p, e), parsePull))[0];
  }

  async pullMany(pattern, entities) {
    if (!Array.isArray(entities)) throw new Error('pullMany() takes an array of entities');
    const p = patternText(pattern);
    // Plain ids (the common case) cross as a Float64Array's bytes, not as EDN text.
    const ids = new Float64Array(entities.length);
    let i = 0;
    for (; i < entities.length && isEntityId(entities[i]); i++) ids[i] = entities[i];
    if (i === entities.length) {
      const bytes = new Uint8Array(ids.buffer);
      return this.#call((raw, id) => raw.dbPullManyIds(id, p, bytes), parsePull);
    }
    const es = '[' + entities.map(entityToEdn).join(' ') + ']';
    return this.#call((raw, id) => raw.dbPullMany(id, p, es), parsePull);
  }

  // Datoms of `index` ('eavt', 'aevt', 'avet', 'vaet') starting with `components`
  // in index order; attributes may omit the colon, entities may be lookup refs.
  async datoms(index, ...components) {
    const name = typeof index === 'string' ? index.replace(/^:/, '') : '';
    const slots = INDEX_SLOTS[name];
    if (!slots) throw new Error(`unknown index ${JSON.stringify(index)} (eavt, aevt, avet or vaet)`);
    if (components.length > 3) throw new Error('datoms() takes at most three components');
    const write = { e: entityToEdn, a: keyword, v: name === 'vaet' ? entityToEdn : toEdn };
    const edn = '[' + components.map((c, i) => write[slots[i]](c)).join(' ') + ']';
    return this.#call((raw, id) => raw.dbDatoms(id, name, edn));
  }
}
