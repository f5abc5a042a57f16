// Reactive queries: d.subscribe(query, inputs, callback, options) (docs/wasm.md,
// "Reactive queries"). A subscription runs its query now and again after each
// transaction of a live input's database whose datoms can change the result, and calls
// back only when the result did change:
// - the query's dependencies (the raw queryDeps: per source, datom patterns [e a v])
//   are computed once; each listen() report of a live connection is tested against the
//   patterns of the sources that connection is bound to, and a report with no matching
//   datom is skipped without running anything. A report without datoms (a replica
//   before its updates carry them, or one with `reset`) may have changed anything;
// - reports that arrive while a run is under way coalesce into one more run;
// - a run's result is compared with the last one as the raw JSON reply text, and
//   parsed and passed on only when it differs.
// The host (index.js) provides what needs the core: running a query and its
// dependencies with inputs as d.q takes them, and telling Connections apart.

import { parseReply, Uuid } from './edn.js';

// A live input: the connection's current snapshot through `view` at each run
// (d.live(conn, (db) => db.history())).
export class LiveInput {
  constructor(connection, view) {
    if (view !== undefined && typeof view !== 'function') throw new Error('live(): the view must be a function of a Db');
    this.connection = connection;
    this.view = view ?? null;
  }
}

// Per connection: one listen() shared by every subscription bound to it, and one
// snapshot for the runs that start together (those woken by one report): it is taken
// by the first of them and dropped after the current microtasks.
class Feed {
  constructor(conn) {
    this.conn = conn;
    this.subs = new Set();
    this.snapshot = null;
    this.stop = conn.listen((report) => {
      this.snapshot = null;
      for (const sub of [...this.subs]) sub.report(this, report);
    });
  }
  db() {
    if (this.snapshot === null) {
      this.snapshot = this.conn.db();
      queueMicrotask(() => { this.snapshot = null; });
    }
    return this.snapshot;
  }
}

const feeds = new WeakMap();  // Connection → Feed

// Datom values as the JS API gives them: numbers and bigints by value, Dates by time,
// Uuids by text.
function same(x, y) {
  if (x === y) return true;
  const tx = typeof x, ty = typeof y;
  if ((tx === 'number' || tx === 'bigint') && (ty === 'number' || ty === 'bigint')) return x == y || (x !== x && y !== y);
  if (x instanceof Date) return y instanceof Date && x.getTime() === y.getTime();
  return x instanceof Uuid && x.equals(y);
}

const fits = (p, e, v) => (p.e === undefined || same(p.e, e)) && (p.v === undefined || same(p.v, v));

// The patterns of some sources, indexed by attribute.
class Matcher {
  constructor(patterns) {
    this.byAttr = new Map();
    this.anyAttr = [];  // patterns without an attribute
    for (const p of patterns) {
      if (p.a === undefined) this.anyAttr.push(p);
      else if (!this.byAttr.has(p.a)) this.byAttr.set(p.a, [p]);
      else this.byAttr.get(p.a).push(p);
    }
  }
  // The first datom [e, a, v, tx, added] that can change the result, or undefined.
  find(txData) {
    for (const d of txData) {
      const [e, a, v] = d;
      if (typeof a !== 'string') return d;  // an attribute without an ident: it could be any
      if (this.byAttr.get(a)?.some((p) => fits(p, e, v)) || this.anyAttr.some((p) => fits(p, e, v))) return d;
    }
    return undefined;
  }
}

// A change to this schema attribute changes what pull reads (components), so the
// dependencies are computed again (core/src/query/deps.h).
const RECOMPUTE = ':db/isComponent';

class Subscription {
  #host;
  #query;
  #inputs;
  #callback;
  #onError;
  #bound = new Map();     // Feed → the :in positions it appears in
  #matchers = null;       // Feed → Matcher (none: it feeds no source the query reads); null before the first deps
  #stale = true;          // the dependencies must be computed (again) before the next run
  #last = null;           // the last result's reply text
  #dirty = false;
  #running = false;
  #closed = false;
  stats = { runs: 0, skipped: 0, callbacks: 0, errors: 0 };

  constructor(host, query, inputs, callback, onError) {
    this.#host = host;
    this.#query = query;
    this.#inputs = inputs;
    this.#callback = callback;
    this.#onError = onError;
    inputs.forEach((input, i) => this.#bind(input, i));
    this.#wake();
  }

  // Registers the live connections inside input `i` (at any depth).
  #bind(x, i) {
    if (Array.isArray(x)) return x.forEach((item) => this.#bind(item, i));
    const conn = x instanceof LiveInput ? x.connection : this.#host.isConnection(x) ? x : null;
    if (!conn) return;
    let feed = feeds.get(conn);
    if (!feed) feeds.set(conn, (feed = new Feed(conn)));
    feed.subs.add(this);
    if (!this.#bound.has(feed)) this.#bound.set(feed, new Set());
    this.#bound.get(feed).add(i);
  }

  // A listen() report of a connection this subscription is bound to.
  report(feed, report) {
    if (this.#closed) return;
    const txData = report.txData ?? [];
    if (this.#matchers === null || txData.length === 0 || report.reset) return this.#wake();
    if (!this.#matchers.get(feed)?.find(txData)) {
      this.stats.skipped++;
      return;
    }
    if (txData.some((d) => d[1] === RECOMPUTE)) this.#stale = true;
    this.#wake();
  }

  // Runs again soon: once, however many reports arrive before the run starts, and once
  // more after it for those that arrive while it runs.
  #wake() {
    this.#dirty = true;
    if (this.#running) return;
    this.#running = true;
    queueMicrotask(() => this.#loop());
  }

  async #loop() {
    try {
      while (this.#dirty && !this.#closed) {
        this.#dirty = false;
        await this.#run();
      }
    } finally {
      this.#running = false;
    }
  }

  async #run() {
    let inputs;
    try {
      inputs = this.#resolve(this.#inputs);
      if (this.#stale) {
        this.#index(await this.#host.deps(this.#query, inputs));
        this.#stale = false;
      }
    } catch (e) {
      // The query, its rules or its inputs are wrong (or a connection closed, or a
      // live view threw): no run can succeed, so the subscription ends here.
      this.#fail(e);
      this.close();
      return;
    }
    let text;
    try {
      this.stats.runs++;
      text = await this.#host.run(this.#query, inputs);
    } catch (e) {
      this.#last = null;  // after an error, the next result is news
      return this.#fail(e);
    }
    if (this.#closed || text === this.#last) return;
    this.#last = text;
    this.stats.callbacks++;
    try {
      this.#callback(parseReply(text));
    } catch (e) {
      this.#fail(e);
    }
  }

  // The inputs with every live connection replaced by its current snapshot (or view).
  #resolve(x) {
    if (Array.isArray(x)) return x.map((item) => this.#resolve(item));
    if (x instanceof LiveInput) {
      const db = feeds.get(x.connection).db();
      return x.view ? x.view(db) : db;
    }
    return this.#host.isConnection(x) ? feeds.get(x).db() : x;
  }

  // Each feed's matcher: the patterns of the sources its :in positions bind.
  #index(deps) {
    this.#matchers = new Map();
    for (const [feed, positions] of this.#bound) {
      const patterns = [...positions].flatMap((i) => (deps.in[i] ?? []).flatMap((s) => deps.sources[s] ?? []));
      if (patterns.length > 0) this.#matchers.set(feed, new Matcher(patterns));
    }
  }

  #fail(e) {
    this.stats.errors++;
    if (this.#onError) {
      try {
        this.#onError(e);
        return;
      } catch (thrown) {
        e = thrown;
      }
    }
    console.error('datalith: a subscribe() query failed', e);
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const feed of this.#bound.keys()) {
      feed.subs.delete(this);
      if (feed.subs.size === 0) {
        feed.stop();
        feeds.delete(feed.conn);
      }
    }
  }
}

// d.subscribe: checks the arguments and returns the unsubscribe function, which also
// carries the subscription's stats().
export function subscribe(host, query, inputs, callback, options = {}) {
  if (typeof query !== 'string') throw new Error('subscribe(): a query is EDN text (a string)');
  if (!Array.isArray(inputs)) throw new Error('subscribe(): inputs must be an array (as d.q takes them, with connections allowed)');
  if (typeof callback !== 'function') throw new Error('subscribe(): the callback must be a function');
  const onError = options?.onError;
  if (onError !== undefined && typeof onError !== 'function') throw new Error('subscribe(): options.onError must be a function');
  const sub = new Subscription(host, query, inputs, callback, onError);
  const unsubscribe = () => sub.close();
  unsubscribe.stats = () => ({ ...sub.stats });
  return unsubscribe;
}
