// A replica's outbox and optimistic view (docs/offline.md). Each write on a replica is
// applied at once to the view (a second raw connection on the replica's store, at the
// server's snapshot, holding the pending writes unflushed), appended to durable storage
// (IndexedDB: one record per write), and sent by the sync client with its client id.
// When a server update arrives, the view is rebuilt over it from what is still pending
// (a rebase). Everything here runs in the session's queue (api.js), after the update or
// transaction queued before it.

import { parseReport } from './edn.js';

const CLIENT_ATTR = ':datalith.tx/client';

const outboxError = (message, code) => Object.assign(new Error(message), { code });

function newClientId() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The outbox of a memory replica: kept with its store for the life of the process.
export class MemoryOutboxStorage {
  #records = new Map();
  #seq = 0;
  async load() { return [...this.#records.values()].map((r) => ({ ...r })); }
  async add(record) {
    const seq = ++this.#seq;
    this.#records.set(seq, { ...record, seq });
    return seq;
  }
  async put(record) { this.#records.set(record.seq, { ...record }); }
  async remove(seqs) { for (const s of seqs) this.#records.delete(s); }
}

// The datoms of a transaction other than its tx entity's, as comparable text.
function bodyOf(txId, txData) {
  return txData.filter((d) => d[0] !== txId).map((d) => JSON.stringify([d[0], d[1], d[2], d[4]])).join('\n');
}

export class Outbox {
  // Oldest first: { seq, clientId, tx (EDN), at, state: 'pending' | 'sent' | 'rejected',
  // error, local (the view's report, null when it no longer applies there), server (the
  // server's report), waiters }.
  entries = [];
  view = null;         // the raw connection of the optimistic view; null when nothing is pending
  onChange = () => {}; // the pending count changed (sync.js emits 'outbox')
  onRejected = () => {};
  #core;
  #session;
  #storage;
  #answered = new Map();  // client id → entry committed (seen in a log) before its answer

  constructor(core, session, storage) {
    this.#core = core;
    this.#session = session;
    this.#storage = storage;
  }

  async load() {
    const records = await this.#storage.load();
    this.entries = records.sort((a, b) => a.seq - b.seq).map((r) => ({
      ...r, state: r.state === 'rejected' ? 'rejected' : 'pending', local: null, server: null, waiters: [],
    }));
    if (this.pending > 0 && this.#session.placeholder === null) await this.rebuild();
  }

  get pending() {
    let n = 0;
    for (const e of this.entries) if (e.state !== 'rejected') n++;
    return n;
  }

  // What conn.db() shows: the view while something is pending, else the snapshot.
  get conn() {
    return this.view ?? this.#session.conn;
  }

  list() {
    return this.entries.map((e) => ({
      clientId: e.clientId, tx: e.tx, state: e.state, at: e.at, ...(e.error ? { error: e.error } : {}),
    }));
  }

  // The next writes to send (sync.js), oldest first: first those committed whose
  // answer was lost (sent again for it: the server answers with the original outcome).
  *unsent() {
    for (const e of this.#answered.values()) if (e.state === 'pending') yield e;
    for (const e of this.entries) if (e.state === 'pending') yield e;
  }

  // Applies `edn` to the view and appends it; returns its entry. Throws (nothing
  // stored, the view unchanged) if it does not apply on the replica's snapshot.
  async add(edn) {
    const s = this.#session, { raw } = this.#core;
    if (s.placeholder !== null) {
      throw outboxError('this replica has no snapshot yet (it has never synced): a write needs one to apply to; ' +
        'wait for synced()', 'no_snapshot');
    }
    await this.#openView();
    let local;
    try {
      local = await this.#core.call([s.store], () => raw.connApply(this.view, edn), parseReport);
    } catch (e) {
      // As the server would answer it (the same code for both).
      throw Object.assign(new Error(`the transaction does not apply to the replica: ${e.message}`), { code: 'tx_failed', cause: e });
    }
    const record = { clientId: newClientId(), tx: edn, at: Date.now(), state: 'pending' };
    try {
      record.seq = await this.#storage.add(record);
    } catch (e) {
      await this.rebuild();  // takes it out of the view again
      throw new Error(`the transaction could not be stored in the outbox: ${e.message}`);
    }
    const entry = { ...record, local, server: null, waiters: [] };
    this.entries.push(entry);
    s.notify({ txId: local.txId, tempids: local.tempids, txData: local.txData, pending: true, clientId: entry.clientId });
    this.onChange();
    return entry;
  }

  // The report `transact(tx, { wait: 'local' })` resolves with.
  localReport(entry) {
    const { txId, tempids, txData } = entry.local;
    return { txId, tempids, txData, pending: true, clientId: entry.clientId };
  }

  // Resolves with the server's report once the commit holding `entry` is in the replica.
  settled(entry) {
    return new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
  }

  // A server update moved the replica to a snapshot whose newest tx is `headTx`; `txs`
  // are its transactions ({ txId, txData }, oldest first) or null when not known. The
  // writes it committed leave the outbox; the view is rebuilt over the new snapshot
  // unless it already shows the same (the next pending writes, with the same datoms).
  async afterUpdate(txs, headTx) {
    const live = this.entries.filter((e) => e.state !== 'rejected');
    if (live.length === 0 && this.view === null) return false;
    const byClient = new Map();
    for (const t of txs ?? []) {
      const d = t.txData.find((x) => x[1] === CLIENT_ATTR && x[0] === t.txId && x[4]);
      if (d) byClient.set(d[2], t);
    }
    const done = [];
    for (const e of live) {
      const t = byClient.get(e.clientId);
      if (t || (e.server && e.server.txId <= headTx)) done.push({ e, t });
    }
    // The fast path: the update is exactly the next pending writes, each with the
    // datoms (and so the entity and tx ids) the view gave it.
    const fast = txs !== null && done.length === txs.length &&
      done.every(({ e, t }, i) => e === live[i] && t && e.local && t.txId === e.local.txId &&
        bodyOf(t.txId, t.txData) === bodyOf(e.local.txId, e.local.txData));
    await this.#remove(done.map(({ e }) => e));
    for (const { e, t } of done) {
      if (e.server) this.#resolve(e);
      else this.#answered.set(e.clientId, e);  // its tx_ok comes later (or is lost: lost())
    }
    if (fast && this.pending > 0) return false;
    await this.rebuild();
    return true;
  }

  // The server's answer to a sent write: `report` ({ txId, tempids, commit, duplicate }).
  async answered(entry, report) {
    entry.server = report;
    if (this.#answered.delete(entry.clientId)) return this.#resolve(entry);  // already left the outbox
    if (report.txId > this.#session.basis(this.#core.raw)) {  // the newest tx the replica holds
      entry.state = 'sent';
      return;  // it leaves the outbox with the update that brings its commit
    }
    // The replica already holds the commit (an update without its log came first): the
    // view shows the write twice until it is rebuilt without it.
    await this.#remove([entry]);
    this.#resolve(entry);
    await this.#rebuildAndTell(report.txId);
  }

  // The server refused a sent write (or it cannot be sent): it leaves the view; the
  // outbox keeps it as rejected until discard().
  async rejected(entry, error) {
    entry.state = 'rejected';
    entry.error = { code: error.code ?? 'tx_failed', message: error.message };
    const { local, server, waiters, ...record } = entry;
    try {
      await this.#storage.put(record);
    } catch (e) {
      console.warn(`datalith: could not mark a rejected write in the outbox: ${e.message}`);
    }
    await this.#rebuildAndTell();
    for (const w of waiters.splice(0)) w.reject(error);
    this.onChange();
    this.onRejected(entry);
  }

  // A sent write whose answer was lost: pending again (resent with the same client id).
  lost(entry) {
    if (entry.state === 'sent' && !entry.server) entry.state = 'pending';
  }

  async discard(clientId) {
    const entry = this.entries.find((e) => e.clientId === clientId);
    if (!entry) throw outboxError(`no write ${clientId} in the outbox`, 'not_found');
    if (entry.state === 'sent') {
      throw outboxError(`write ${clientId} was sent to the server, which may be committing it: it cannot be discarded`, 'sent');
    }
    const wasPending = entry.state === 'pending';
    await this.#remove([entry]);
    if (!wasPending) return;
    await this.#rebuildAndTell();
    const error = outboxError(`write ${clientId} was discarded`, 'discarded');
    for (const w of entry.waiters.splice(0)) w.reject(error);
  }

  // The view again: the replica's snapshot plus every pending write, in order. A write
  // that no longer applies on the new snapshot stays pending (the server decides) but
  // is left out of the view.
  async rebuild() {
    const { raw } = this.#core, store = this.#session.store;
    if (this.pending === 0) return this.#closeView();
    if (this.view === null) await this.#openView();
    else await this.#core.call([store], () => raw.connReset(this.view));
    for (const e of this.entries) {
      if (e.state === 'rejected') continue;
      try {
        e.local = await this.#core.call([store], () => raw.connApply(this.view, e.tx), parseReport);
      } catch {
        e.local = null;
      }
    }
  }

  // The view changed without a server update (a write left it): the listeners get a
  // `reset` report, so subscriptions run again.
  async #rebuildAndTell(txId = 0) {
    await this.rebuild();
    this.#session.notify({ txId, tempids: {}, txData: [], reset: true });
  }

  // The promises of this page's writes reject with `error` (syncing stopped for good, or
  // the connection closed); the writes stay in the outbox.
  rejectWaiters(error) {
    for (const e of this.entries) for (const w of e.waiters.splice(0)) w.reject(error);
    for (const e of this.#answered.values()) for (const w of e.waiters.splice(0)) w.reject(error);
    this.#answered.clear();
  }

  close(error) {
    this.rejectWaiters(error);
    this.#closeView();
  }

  async #openView() {
    if (this.view !== null) return;
    const s = this.#session, { raw } = this.#core;
    this.view = await this.#core.call([s.store], () => raw.connOpenView(s.store.id));
  }

  #closeView() {
    if (this.view === null) return;
    const { raw } = this.#core;
    // A released connection flushes what it holds: drop the pending writes first
    // (connReset drops them even when its move to the head answers `missing`).
    raw.connReset(this.view);
    raw.connRelease(this.view);
    this.view = null;
  }

  async #remove(entries) {
    if (entries.length === 0) return;
    const gone = new Set(entries);
    this.entries = this.entries.filter((e) => !gone.has(e));
    await this.#storage.remove(entries.map((e) => e.seq));
    this.onChange();
  }

  #resolve(entry) {
    const r = entry.server;
    const report = { txId: r.txId, tempids: r.tempids ?? {}, txData: [], datoms: r.datoms, commit: r.commit,
      clientId: entry.clientId, ...(r.duplicate ? { duplicate: true } : {}) };
    for (const w of entry.waiters.splice(0)) w.resolve(report);
  }
}
