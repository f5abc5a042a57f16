// Opens the page's databases. Normally each is an IndexedDB replica that the sync
// client of the package keeps current with the server (and that writes through the
// server). `?local` runs without a server: memory databases seeded in the page from
// the same sample data.
import { DATABASES, TENANTS, tenantDb, seedTransactions } from '../seed-data.js';

export { TENANTS, tenantDb };

export class Replicas {
  constructor(d, mode) {
    this.d = d;
    this.mode = mode;        // 'sync' | 'local'
    this.conns = {};         // name → Connection
    this.stats = {};         // name → { updates, nodes, bytes, lastNodes, lastBytes }
    this.settled = {};       // name → its last sync state other than 'connecting'
    this.handlers = { change: new Set(), state: new Set(), sync: new Set() };
  }

  on(kind, fn) { this.handlers[kind].add(fn); }
  #emit(kind, ...args) {
    for (const fn of this.handlers[kind]) {
      try { fn(...args); } catch (e) { console.error(e); }
    }
  }

  // Opens every database; in sync mode waits (bounded) for the first sync of each
  // replica that is online, so a first visit shows data at once.
  async open(config, { firstSyncMs = 15000 } = {}) {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`;
    for (const name of DATABASES) this.conns[name] = null;  // keeps the display order
    await Promise.all(DATABASES.map(async (name) => {
      this.stats[name] = { updates: 0, nodes: 0, bytes: 0, lastNodes: null, lastBytes: null };
      const conn = this.mode === 'local' ? await this.#openLocal(name) : await this.d.connect({
        store: { backend: 'indexeddb', id: name },
        sync: { url, db: name, token: config.token },
      });
      this.conns[name] = conn;
      conn.listen(() => this.#emit('change', name));
      if (this.mode === 'sync') {
        conn.onSync((ev) => this.#onSync(name, ev));
      }
    }));
    if (this.mode === 'sync') {
      // Live (the replica holds the server's head) or offline (answer from IndexedDB),
      // whichever comes first.
      await Promise.all(Object.values(this.conns).map((c) => new Promise((done) => {
        if (c.syncState === 'offline' || c.syncState === 'live') return done();
        const stop = c.onSync((ev) => { if (ev.state === 'offline') finish(); });
        const timer = setTimeout(() => finish(), firstSyncMs);
        const finish = () => { stop(); clearTimeout(timer); done(); };
        c.synced().then(finish, finish);
      })));
    }
    this.#emit('state');
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
    if (ev.type === 'state' && ev.state !== 'connecting') this.settled[name] = ev.state;
    this.#emit('sync', name, ev);
    if (ev.type === 'state') this.#emit('state');
  }

  // A reconnect attempt after going offline still counts as offline.
  state(name) {
    if (this.mode === 'local') return 'local';
    const state = this.conns[name]?.syncState ?? 'connecting';
    return state === 'connecting' && this.settled[name] === 'offline' ? 'offline' : state;
  }

  // The overall state: the least advanced of the databases.
  overall() {
    const order = ['offline', 'connecting', 'syncing', 'live', 'local'];
    return DATABASES.map((n) => this.state(n)).sort((a, b) => order.indexOf(a) - order.indexOf(b))[0];
  }

  // Current snapshots, by the names the console and the panels use.
  snapshots() {
    const db = (n) => this.conns[n].db();
    const byName = { catalog: db('catalog'), inventory: db('inventory') };
    byName.history = byName.catalog.history();
    const tenants = TENANTS.map((t) => [t, db(tenantDb(t))]);
    for (const [t, s] of tenants) byName[t] = byName[tenantDb(t)] = s;
    return { ...byName, tenants, byName };
  }
}
