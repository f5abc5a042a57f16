// The IndexedDB backend: one IndexedDB database per Datalith store, named
// `datalith:<id>`, with three object stores: `nodes` (address hex → blob bytes),
// `heads` (head name → value bytes) and, for a replica, `outbox` (its pending writes,
// one record per write keyed by an increasing `seq`: docs/offline.md; added in
// IndexedDB version 2, which opens version-1 databases by adding it). The core never waits on it (docs/wasm.md): it
// reads from a `buffer` store in the WASM module, and this class fills that store
// with what a call reported missing (one IndexedDB transaction per batch) and drains
// what a commit wrote (one readwrite transaction: the nodes, then the head). Nothing
// but IndexedDB requests is awaited inside a transaction.

import { Tabs } from './tabs.js';

const NODES = 'nodes';
const HEADS = 'heads';
const OUTBOX = 'outbox';
const VERSION = 2;

export const idbName = (id) => `datalith:${id}`;

function idb() {
  if (typeof indexedDB === 'undefined') throw new Error('the indexeddb backend needs IndexedDB (a browser)');
  return indexedDB;
}

export const settle = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

export const finish = (tx) => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
});

// IndexedDB clones a typed array's whole buffer: copy views (e.g. into WASM memory).
const compact = (b) => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice());

const te = new TextEncoder();
const td = new TextDecoder();

export class IdbStore {
  flushes = true;  // the core's commits must be flushed and persisted
  head = null;     // the `main` head in IndexedDB (commit hex), as last read or written
  #raw;
  #db;
  #closed = false;
  #reads = { nodesRead: 0, bytesRead: 0, batches: 0 };

  // Opens (creating when `create`) the IndexedDB database of store `id` and a buffer
  // store in the WASM module primed with its heads. Returns null if it does not exist
  // and `create` is false.
  static async open(raw, id, { create }) {
    const req = idb().open(idbName(id), VERSION);
    let fresh = false;
    req.onupgradeneeded = (e) => {
      fresh = e.oldVersion === 0;
      if (e.oldVersion < 1) {
        req.result.createObjectStore(NODES);
        req.result.createObjectStore(HEADS);
      }
      if (e.oldVersion < 2) req.result.createObjectStore(OUTBOX, { keyPath: 'seq', autoIncrement: true });
    };
    const db = await settle(req);
    if (fresh && !create) {
      db.close();
      await IdbStore.delete(id);
      return null;
    }
    const store = new IdbStore(raw, db);
    await store.#loadHeads();
    return store;
  }

  static async delete(id) {
    await settle(idb().deleteDatabase(idbName(id)));
  }

  constructor(raw, db) {
    this.#raw = raw;
    this.#db = db;
    db.onversionchange = () => db.close();  // let another page delete or upgrade it
    this.id = raw.storeCreate('buffer');
  }

  // Reads the heads again (after another page moved them): the buffer store and
  // `head` take IndexedDB's values. Returns `head`.
  async reloadHeads() {
    await this.#loadHeads();
    return this.head;
  }

  // The other tabs with this database open (tabs.js): its write lock and head
  // announcements. Made on first use, so a store opened for a moment makes no channel.
  #tabs = null;
  get tabs() {
    return (this.#tabs ??= new Tabs(this.#db.name));
  }

  async #loadHeads() {
    const tx = this.#db.transaction(HEADS);
    const names = tx.objectStore(HEADS).getAllKeys();
    const values = tx.objectStore(HEADS).getAll();
    await finish(tx);
    names.result.forEach((name, i) => {
      this.#raw.storeProvideHead(this.id, name, values.result[i]);
      if (name === 'main') this.head = td.decode(values.result[i]);
    });
  }

  // Loads the nodes the last call reported missing, in one transaction. Returns how
  // many were provided (0: nothing was missing). `optional`: see Core.call (api.js).
  async fetchMissing(optional = false) {
    if (this.#closed) throw new Error(`${this.#db.name} was closed with its last connection`);
    const missing = this.#raw.storeTakeMissing(this.id);
    if (missing.length === 0) return 0;
    const tx = this.#db.transaction(NODES);
    const nodes = tx.objectStore(NODES);
    const reqs = missing.map((addr) => nodes.get(addr));
    await finish(tx);
    missing.forEach((addr, i) => {
      const bytes = reqs[i].result;
      if (!bytes) {
        if (optional) throw Object.assign(new Error(`node ${addr} is not in IndexedDB database "${this.#db.name}"`), { code: 'missing' });
        // A replica syncs again in full (api.js sets `incomplete`: sync.js heal()).
        this.incomplete?.();
        throw new Error(`node ${addr} is missing from IndexedDB database "${this.#db.name}"` +
          (this.incomplete ? ': the replica is syncing it again from its server' : ''));
      }
      this.#raw.storeProvide(this.id, addr, bytes);
      this.#reads.bytesRead += bytes.byteLength;
    });
    this.#reads.nodesRead += missing.length;
    this.#reads.batches += 1;
    return missing.length;
  }

  // Writes what the core committed: the new nodes, then the heads, in one transaction.
  // The `main` head moves only from the value this store last read or wrote (a
  // compare-and-set inside the transaction): if another page or tab committed to the
  // same database meanwhile, the transaction is aborted, nothing is written, and the
  // error (code 'conflict') says so; that page's commits stay. (Local commits hold the
  // cross-tab write lock from reading the head to here, api.js: this catches a page
  // without it, e.g. an older version of the package.)
  async persist() {
    const { blobs, heads } = this.#raw.storeTakePending(this.id);
    if (blobs.length === 0 && heads.length === 0) return;
    const tx = this.#db.transaction([NODES, HEADS], 'readwrite');
    const done = finish(tx);
    const nodes = tx.objectStore(NODES);
    for (const [addr, bytes] of blobs) nodes.put(compact(bytes), addr);
    const headStore = tx.objectStore(HEADS);
    const current = headStore.get('main');
    let moved;  // the head found instead of ours, when another page moved it
    const target = heads.find(([name]) => name === 'main')?.[1];
    current.onsuccess = () => {
      const found = current.result === undefined ? null : td.decode(current.result);
      // Another tab's replica of the same database may have stored this very commit
      // first: the same blobs under the same names, so the same state.
      if (found !== this.head && !(target && found === td.decode(target))) {
        moved = found ?? 'none';
        tx.abort();
        return;
      }
      for (const [name, bytes] of heads) headStore.put(compact(bytes), name);
    };
    try {
      await done;
    } catch (e) {
      if (moved === undefined) throw e;
      throw Object.assign(new Error(`the head of IndexedDB database "${this.#db.name}" was moved by another ` +
        `page or tab (expected ${this.head ?? 'none'}, found ${moved})`), { code: 'conflict' });
    }
    for (const [name, bytes] of heads) if (name === 'main') this.head = td.decode(bytes);
  }

  // A replica's update (sync.js): the verified blobs, then the new head, in one
  // readwrite transaction. Then the buffer store gets the head and its commit record
  // (the nodes load lazily, like any others).
  async writeUpdate(blobs, head) {
    if (this.#closed) throw new Error(`${this.#db.name} was closed with its last connection`);
    const tx = this.#db.transaction([NODES, HEADS], 'readwrite');
    const nodes = tx.objectStore(NODES);
    for (const [addr, bytes] of blobs) nodes.put(compact(bytes), addr);
    tx.objectStore(HEADS).put(te.encode(head), 'main');
    await finish(tx);
    const commit = blobs.find(([addr]) => addr === head);
    if (commit) this.#raw.storeProvide(this.id, head, commit[1]);
    this.#raw.storeProvideHead(this.id, 'main', head);
    this.head = head;
  }

  // A replica's outbox (outbox.js): each call one IndexedDB transaction on one record
  // (load reads those after seq `after`), so a write never rewrites the others.
  outbox = {
    load: async (after = 0) => {
      const tx = this.#db.transaction(OUTBOX);
      const all = tx.objectStore(OUTBOX).getAll(IDBKeyRange.lowerBound(after, true));
      await finish(tx);
      return all.result;
    },
    add: (record) => this.#outboxWrite((o) => o.add(record)),
    put: (record) => this.#outboxWrite((o) => o.put(record)),
    remove: (seqs) => this.#outboxWrite((o) => { for (const seq of seqs) o.delete(seq); }),
  };

  async #outboxWrite(write) {
    if (this.#closed) throw new Error(`${this.#db.name} was closed with its last connection`);
    const tx = this.#db.transaction(OUTBOX, 'readwrite');
    const req = write(tx.objectStore(OUTBOX));
    await finish(tx);
    return req?.result;
  }

  // Which of `addrs` IndexedDB holds (one read transaction).
  async has(addrs) {
    const tx = this.#db.transaction(NODES);
    const nodes = tx.objectStore(NODES);
    const reqs = addrs.map((addr) => nodes.getKey(addr));
    await finish(tx);
    return reqs.map((r) => r.result !== undefined);
  }

  stats() {
    return { ...this.#reads };
  }

  close() {
    this.#closed = true;
    this.#tabs?.close();
    this.#raw.storeRelease(this.id);
    this.#db.close();
  }
}
