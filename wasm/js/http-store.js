// The http backend: a database published as immutable objects on a static host
// (docs/format.md §6: P/blobs/<address>, P/heads/main), read-only, with no Datalith
// server. Like the IndexedDB backend it fills a buffer store in the WASM module with
// what a call reported missing: here from a cache first (IndexedDB in browsers, memory
// otherwise), then from the host, all of a batch's fetches in parallel, each blob
// verified against its address before the core sees it. The head is read on open and
// again on refresh(), always in full and never from an HTTP cache: it is about 120
// bytes, so a conditional request would save nothing, and a static server's validator
// can miss a change (nginx's ETag is the mtime in seconds and the size, which two
// publishes in one second share). A head the host cannot be reached for comes from the
// cache, so a page that read a database once opens it offline and answers from what it
// cached.

import { finish, settle } from './idb-store.js';

const FORMAT = 'datalith-published';
const VERSION = 1;
const PARALLEL = 16;  // fetches in flight per batch (browsers open 6 per host over HTTP/1.1)
const MEMORY_CACHE_BYTES = 64 << 20;

const te = new TextEncoder();
const httpError = (message, code) => Object.assign(new Error(message), { code });

// Runs `fn` on each item, at most `limit` at a time; resolves with the results in order.
async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// A cache of verified blobs and of the last head read, in memory (byte-bounded, the
// oldest dropped first).
class MemoryCache {
  #blobs = new Map();
  #bytes = 0;
  head = null;
  async get(addrs) { return addrs.map((a) => this.#blobs.get(a)); }
  async put(entries) {
    for (const [addr, bytes] of entries) {
      if (this.#blobs.has(addr)) continue;
      this.#blobs.set(addr, bytes);
      this.#bytes += bytes.byteLength;
    }
    for (const [addr, bytes] of this.#blobs) {
      if (this.#bytes <= MEMORY_CACHE_BYTES) break;
      this.#blobs.delete(addr);
      this.#bytes -= bytes.byteLength;
    }
  }
  async putHead(head) { this.head = head; }
  close() {}
}

// The same in IndexedDB (database `datalith-http:<url>`): it survives reloads, so the
// page opens the database offline.
class IdbCache {
  #db;
  head = null;
  static async open(url) {
    const req = indexedDB.open(`datalith-http:${url}`, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore('nodes');
      req.result.createObjectStore('heads');
    };
    const c = new IdbCache();
    c.#db = await settle(req);
    c.#db.onversionchange = () => c.#db.close();
    c.head = (await c.#run('heads', 'readonly', (s) => s.get('main'))) ?? null;
    return c;
  }
  async get(addrs) {
    if (addrs.length === 0) return [];
    const tx = this.#db.transaction('nodes');
    const reqs = addrs.map((a) => tx.objectStore('nodes').get(a));
    await finish(tx);
    return reqs.map((r) => r.result);
  }
  async put(entries) {
    if (entries.length === 0) return;
    const tx = this.#db.transaction('nodes', 'readwrite');
    for (const [addr, bytes] of entries) tx.objectStore('nodes').put(bytes, addr);
    await finish(tx);
  }
  async putHead(head) {
    this.head = head;
    await this.#run('heads', 'readwrite', (s) => s.put(head, 'main'));
  }
  async #run(store, mode, fn) {
    const tx = this.#db.transaction(store, mode);
    const req = fn(tx.objectStore(store));
    await finish(tx);
    return req.result;
  }
  close() { this.#db.close(); }
}


export class HttpStore {
  flushes = false;
  readOnly = true;
  head = null;  // the commit (hex) of the head in use
  #raw;
  #url;
  #cache;
  #fetch;
  #stats = { nodesRead: 0, bytesRead: 0, batches: 0, requests: 0, cacheHits: 0 };

  // Opens the database published at `url` (a prefix; a trailing '/' is added): reads
  // its head, or, when the host cannot be reached, the head cached on an earlier visit.
  // `cache`: 'indexeddb' (the default where IndexedDB exists) or 'memory'; `fetch`: the
  // function to fetch with (default: the global one; e.g. to sign requests to a private bucket).
  static async open(raw, url, { cache, fetch: fetchFn } = {}) {
    const kind = cache ?? (typeof indexedDB !== 'undefined' ? 'indexeddb' : 'memory');
    if (kind !== 'indexeddb' && kind !== 'memory') throw new Error("config.store.cache must be 'indexeddb' or 'memory'");
    const store = new HttpStore(raw, url, kind === 'indexeddb' ? await IdbCache.open(url) : new MemoryCache(),
      fetchFn ?? globalThis.fetch.bind(globalThis));
    try {
      await store.reloadHead({ offline: true });
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  // Deletes the IndexedDB cache of the database published at `url` (deleteDatabase()).
  static async deleteCache(url) {
    if (typeof indexedDB !== 'undefined') await settle(indexedDB.deleteDatabase(`datalith-http:${url}`));
  }

  constructor(raw, url, cache, fetchFn) {
    this.#raw = raw;
    this.#url = url;
    this.#cache = cache;
    this.#fetch = fetchFn;
    this.id = raw.storeCreate('buffer');
  }

  get url() { return this.#url; }

  // Reads the head again; true if it names another commit than the one in use (the
  // buffer store has it then). `offline`: a host that cannot be reached is not an error
  // while the cache holds a head (the first open of a page without network).
  async reloadHead({ offline = false } = {}) {
    const where = `${this.#url}heads/main`;
    let res;
    try {
      res = await this.#fetch(where, { cache: 'no-store' });
      this.#stats.requests++;
    } catch (e) {
      if (offline && this.#cache.head) return this.#use(this.#cache.head);
      throw httpError(`${where}: ${e.message}`, 'unreachable');
    }
    if (res.status === 404) throw httpError(`no database published at ${this.#url} (${where}: HTTP 404)`, 'NotFound');
    if (!res.ok) throw httpError(`${where}: HTTP ${res.status}`, 'IOError');
    let head;
    try {
      head = JSON.parse(await res.text());
    } catch {
      throw httpError(`${where} is not a datalith-published head (not JSON)`, 'Corruption');
    }
    if (head?.format !== FORMAT) throw httpError(`${where} is not a datalith-published head`, 'Corruption');
    if (head.version !== VERSION) {
      throw httpError(`${where}: published version ${head.version}; this datalith reads version ${VERSION}`, 'Unsupported');
    }
    if (typeof head.commit !== 'string' || !/^[0-9a-f]{32}$/.test(head.commit)) {
      throw httpError(`${where}: no commit address`, 'Corruption');
    }
    if (head.commit === this.head) return false;
    await this.#cache.putHead(head.commit);
    return this.#use(head.commit);
  }

  #use(commit) {
    const moved = this.head !== null && commit !== this.head;
    this.head = commit;
    this.#raw.storeProvideHead(this.id, 'main', te.encode(commit));
    return moved;
  }

  // Loads the nodes the last call reported missing: from the cache, then the rest from
  // the host in parallel, each verified. Returns how many were provided.
  async fetchMissing(optional = false) {
    const missing = this.#raw.storeTakeMissing(this.id);
    if (missing.length === 0) return 0;
    const cached = await this.#cache.get(missing);
    const fetch = [];
    missing.forEach((addr, i) => {
      if (cached[i]) {
        this.#raw.storeProvide(this.id, addr, cached[i]);
        this.#stats.cacheHits++;
      } else {
        fetch.push(addr);
      }
    });
    if (fetch.length === 0) return missing.length;
    const blobs = await mapLimit(fetch, PARALLEL, (addr) => this.#fetchBlob(addr, optional));
    for (let i = 0; i < fetch.length; i++) this.#raw.storeProvide(this.id, fetch[i], blobs[i]);
    this.#stats.batches++;
    await this.#cache.put(fetch.map((addr, i) => [addr, blobs[i]]));
    return missing.length;
  }

  async #fetchBlob(addr, optional) {
    const where = `${this.#url}blobs/${addr}`;
    let res;
    try {
      res = await this.#fetch(where);
    } catch (e) {
      throw httpError(`${where}: ${e.message}`, 'unreachable');
    }
    this.#stats.requests++;
    if (res.status === 404) throw httpError(`${where} is missing (HTTP 404)`, optional ? 'missing' : 'NotFound');
    if (!res.ok) throw httpError(`${where}: HTTP ${res.status}`, 'IOError');
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!this.#raw.blobVerify(addr, bytes)) {
      throw httpError(`${where} is corrupt: its bytes do not hash to its address`, 'Corruption');
    }
    this.#stats.nodesRead++;
    this.#stats.bytesRead += bytes.byteLength;
    return bytes;
  }

  async persist() {}

  // { nodesRead, bytesRead, batches, requests, cacheHits }: nodes and bytes fetched from
  // the host, batches of fetches, requests (heads included), nodes the cache answered.
  stats() { return { ...this.#stats }; }

  close() {
    this.#raw.storeRelease(this.id);
    this.#cache.close();
  }
}

