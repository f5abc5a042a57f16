// Opens the page's databases. Normally each is an IndexedDB replica that the sync
// client of the package keeps current with the server (and that writes through the
// server). `?local` runs without a server: memory databases seeded in the page from
// the same sample data. `?buckets` has no database server either: the catalog and the
// inventory are read from two static buckets they were published to (the http backend,
// read-only), the tenants are seeded in the page. In every mode the watchlist is the
// page's own database (IndexedDB; memory with `?local`).
import { DATABASES, TENANTS, tenantDb, seedTransactions } from '../seed-data.js';
import { TX0 } from './ui.js';

export { TENANTS, tenantDb };

export class Replicas {
  constructor(d, mode) {
    this.d = d;
    this.mode = mode;        // 'sync' | 'local' | 'buckets'
    this.watchlist = null;   // the page's own database
    this.conns = {};         // name → Connection
    // name → { updates, nodes, bytes, lastNodes, lastBytes, lastApply, pending }: updates
    // received (lastApply: 'log' when the last one came as datoms the replica replayed)
    // in this tab; `pending`: { nodes, bytes } of the update being received.
    this.stats = {};
    this.settled = {};       // name → its last sync state other than 'connecting'
    this.heads = {};         // name → the replica's commit, as the last sync event said
    this.handlers = { change: new Set(), state: new Set(), sync: new Set() };
  }

  on(kind, fn) { this.handlers[kind].add(fn); }
  #emit(kind, ...args) {
    for (const fn of this.handlers[kind]) {
      try { fn(...args); } catch (e) { console.error(e); }
    }
  }

  // Opens every database: replicas open at once from IndexedDB (empty on a first
  // visit) and sync in the background.
  async open(config) {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`;
    for (const name of DATABASES) this.conns[name] = null;  // keeps the display order
    await Promise.all(DATABASES.map(async (name) => {
      this.stats[name] = { updates: 0, nodes: 0, bytes: 0, lastNodes: null, lastBytes: null, lastApply: null, pending: null };
      const published = this.mode === 'buckets' && config.buckets?.[name];
      const conn = published ? await this.d.connect({ store: { backend: 'http', url: published } })
        : this.mode !== 'sync' ? await this.#openLocal(name) : await this.d.connect({
          store: { backend: 'indexeddb', id: name },
          sync: { url, db: name, token: config.token },
        });
      this.conns[name] = conn;
      conn.listen(() => this.#emit('change', name));
      if (this.mode === 'sync') conn.onSync((ev) => this.#onSync(name, ev));
    }));
    this.watchlist = await this.#openWatchlist();
    this.watchlist.listen(() => this.#emit('change', 'watchlist'));
    this.#emit('state');
  }

  async #openWatchlist() {
    const cfg = { store: { backend: this.mode === 'local' ? 'memory' : 'indexeddb', id: 'demo-watchlist' } };
    if (!(await this.d.databaseExists(cfg))) {
      await this.d.createDatabase(cfg);
      const conn = await this.d.connect(cfg);
      await conn.transact('[{:db/ident :watch/sku :db/valueType :db.type/string :db/unique :db.unique/identity}' +
        ' {:db/ident :watch/added :db/valueType :db.type/instant}]');
      return conn;
    }
    return this.d.connect(cfg);
  }

  // Resolves when every replica is live (holds the server's head) or offline (answers
  // from IndexedDB), or after `ms`.
  async firstSync(ms = 15000) {
    if (this.mode !== 'sync') return;
    await Promise.all(Object.values(this.conns).map((c) => new Promise((done) => {
      if (c.syncState === 'offline' || c.syncState === 'live') return done();
      const stop = c.onSync((ev) => { if (ev.state === 'offline') finish(); });
      const timer = setTimeout(() => finish(), ms);
      const finish = () => { stop(); clearTimeout(timer); done(); };
      c.synced().then(finish, finish);
    })));
  }

  async #openLocal(name) {
    const cfg = { store: { backend: 'memory', id: name } };
    if (!(await this.d.databaseExists(cfg))) {
      await this.d.createDatabase(cfg);
      const conn = await this.d.connect(cfg);
      for (const tx of seedTransactions()[name]) await conn.transact(tx);
      return conn;
    }
    return this.d.connect(cfg);
  }

  #onSync(name, ev) {
    this.heads[name] = ev.head;
    const s = this.stats[name];
    if (ev.type === 'progress') s.pending = { nodes: ev.nodes, bytes: ev.bytes };
    if (ev.type === 'update') {
      Object.assign(s, { updates: s.updates + 1, nodes: s.nodes + ev.nodes, bytes: s.bytes + ev.bytes,
        lastNodes: ev.nodes, lastBytes: ev.bytes, lastApply: ev.apply, pending: null });
    }
    if (ev.type === 'state' && ev.state !== 'connecting') this.settled[name] = ev.state;
    if (ev.type === 'state' && ev.state === 'offline') s.pending = null;  // an interrupted update is dropped
    this.#emit('sync', name, ev);
    if (ev.type === 'state') this.#emit('state');
  }

  // A reconnect attempt after going offline still counts as offline.
  state(name) {
    if (this.mode === 'local') return 'local';
    if (this.mode === 'buckets') return ['catalog', 'inventory'].includes(name) ? 'published' : 'local';
    const state = this.conns[name]?.syncState ?? 'connecting';
    return state === 'connecting' && this.settled[name] === 'offline' ? 'offline' : state;
  }

  // The overall state: the least advanced of the databases.
  overall() {
    const order = ['offline', 'connecting', 'syncing', 'live', 'published', 'local'];
    return DATABASES.map((n) => this.state(n)).sort((a, b) => order.indexOf(a) - order.indexOf(b))[0];
  }

  // Whether a database holds data: a replica has a head once its first update is stored
  // (in this tab or an earlier visit); before that it is an empty database whose basisT
  // is the genesis tx.
  hasData(name) {
    if (name === 'watchlist') return Boolean(this.watchlist);
    const conn = this.conns[name];
    if (!conn) return false;
    if (this.mode !== 'sync') return true;
    return Boolean(this.heads[name]) || conn.db().basisT > TX0;
  }

  // Names a panel reads ('tenants': every tenant database) → the databases without data yet.
  missing(names) {
    return [...new Set(names.flatMap((n) => (n === 'tenants' ? TENANTS.map(tenantDb) : [n])))]
      .filter((n) => !this.hasData(n));
  }

  // Nodes and bytes received in this tab so far, the update under way included.
  received(names = DATABASES) {
    let nodes = 0, bytes = 0;
    for (const n of names) {
      const s = this.stats[n];
      if (!s) continue;
      nodes += s.nodes + (s.pending?.nodes ?? 0);
      bytes += s.bytes + (s.pending?.bytes ?? 0);
    }
    return { nodes, bytes };
  }

  // Current snapshots, by the names the console and the panels use; `dbOf` maps a
  // console name to the database it reads.
  snapshots() {
    const db = (n) => this.conns[n].db();
    const byName = { catalog: db('catalog'), inventory: db('inventory'), watchlist: this.watchlist.db() };
    byName.history = byName.catalog.history();
    const dbOf = { catalog: 'catalog', inventory: 'inventory', history: 'catalog', watchlist: 'watchlist' };
    const tenants = TENANTS.map((t) => [t, db(tenantDb(t))]);
    for (const [t, s] of tenants) {
      byName[t] = byName[tenantDb(t)] = s;
      dbOf[t] = dbOf[tenantDb(t)] = tenantDb(t);
    }
    return { ...byName, tenants, byName, dbOf };
  }
}
