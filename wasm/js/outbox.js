// A replica's outbox and optimistic view (docs/offline.md). Each write on a replica is
// applied at once to the view (a second raw connection on the replica's store, at the
// server's snapshot, holding the pending writes unflushed), appended to durable storage
// (IndexedDB: one record per write), and sent by the sync client with its client id.
// When a server update arrives, the view is rebuilt over it from what is still pending
// (a rebase). Everything here runs in the session's queue (api.js), after the update or
// transaction queued before it.

import { ednString, parseReport } from './edn.js';

const CLIENT_ATTR = ':datalith.tx/client';
const TEMPIDS_ATTR = ':datalith.tx/tempids';
const COMMITTED_QUERY = '[:find ?c ?t ?m :in $ [?c ...] :where [?t :datalith.tx/client ?c] [?t :datalith.tx/tempids ?m]]';

const outboxError = (message, code) => Object.assign(new Error(message), { code });

function newClientId() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The outbox of a memory replica: kept with its store for the life of the process.
export class MemoryOutboxStorage {
  #records = new Map();
  #seq = 0;
  async load(after = 0) { return [...this.#records.values()].filter((r) => r.seq > after).map((r) => ({ ...r })); }
  async add(record) {
    const seq = ++this.#seq;
    this.#records.set(seq, { ...record, seq });
    return seq;
  }
  async put(record) { this.#records.set(record.seq, { ...record }); }
  async remove(seqs) { for (const s of seqs) this.#records.delete(s); }
}

// The server's report of a write read from its commit's log entry `t` (a write this tab
// did not send, or sent before another tab took over): the tempids the server recorded
// with it (an EDN map of string → id).
function logReport(t, commit) {
  const d = t.txData.find((x) => x[0] === t.txId && x[1] === TEMPIDS_ATTR && x[4]);
  const tempids = {};
  for (const m of String(d?.[2] ?? '').matchAll(/"((?:[^"\\]|\\.)*)"\s+(-?\d+)/g)) tempids[JSON.parse(`"${m[1]}"`)] = Number(m[2]);
  return { txId: t.txId, tempids, commit, ...(t.found ? {} : { datoms: t.txData.length }) };
}

const toEntry = (r) => ({ ...r, state: r.state === 'rejected' ? 'rejected' : 'pending', local: null, server: null, waiters: [] });

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
  #answered = new Map();  // client id → entry sent, committed (seen in a log) before its answer
  #loadedUpTo = 0;        // the newest seq read from storage: refresh() reads those after it
  #gone = new Map();      // client id → seq of entries that left, newer than #loadedUpTo

  constructor(core, session, storage) {
    this.#core = core;
    this.#session = session;
    this.#storage = storage;
  }

  async load() {
    const records = await this.#storage.load();
    this.entries = records.sort((a, b) => a.seq - b.seq).map(toEntry);
    this.#loadedUpTo = this.entries.at(-1)?.seq ?? 0;
    if (this.pending > 0 && this.#session.placeholder === null) await this.rebuild();
  }

  // Other tabs appended to the shared outbox (share.js): their records join this tab's
  // entries in order, and its view. Entries never leave here: a committed one leaves
  // with the update that brings its commit, a discarded or rejected one by message.
  async refresh() {
    const records = await this.#storage.load(this.#loadedUpTo);
    if (records.length === 0) return;
    const known = new Set(this.entries.map((e) => e.seq));
    const last = this.entries.at(-1)?.seq ?? 0;
    const fresh = records.filter((r) => !known.has(r.seq) && !this.#gone.has(r.clientId)).map(toEntry);
    for (const r of records) this.#loadedUpTo = Math.max(this.#loadedUpTo, r.seq);
    for (const [id, seq] of this.#gone) if (seq <= this.#loadedUpTo) this.#gone.delete(id);
    if (fresh.length === 0) return;
    fresh.sort((a, b) => a.seq - b.seq);
    const s = this.#session;
    if (s.placeholder !== null || fresh[0].seq < last) {
      this.entries.push(...fresh);
      this.entries.sort((a, b) => a.seq - b.seq);
      // Without a snapshot they are applied with the first one; else the view again.
      if (s.placeholder === null) await this.#rebuildAndTell();
      return this.onChange();
    }
    // Applied to the view before they count as pending, so the count and the view agree.
    const { raw } = this.#core;
    for (const e of fresh) {
      if (e.state === 'rejected') continue;
      await this.#openView();
      e.local = await this.#core.call([s.store], () => raw.connApply(this.view, e.tx), parseReport)
        .catch(() => null);  // it stays pending: the server decides
    }
    this.entries.push(...fresh);
    this.onChange();
    for (const e of fresh) {
      if (e.local) s.notify({ txId: e.local.txId, tempids: e.local.tempids, txData: e.local.txData, pending: true, clientId: e.clientId });
    }
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
  async afterUpdate(txs, headTx, commit) {
    const live = this.entries.filter((e) => e.state !== 'rejected');
    if (live.length === 0 && this.view === null) return false;
    const byClient = new Map();
    for (const t of txs ?? await this.#foundInSnapshot(live)) {
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
      // A write this tab sent: its tx_ok comes later (or is lost: lost() sends it again).
      if (!e.server && e.state === 'sent') this.#answered.set(e.clientId, e);
      else this.#resolve(e, e.server ?? logReport(t, commit));
    }
    if (fast && this.pending > 0) return false;
    await this.rebuild();
    return true;
  }

  // An update came without its log: the writes the new snapshot holds, found by their
  // client ids, as log entries holding just those datoms. Not those this tab sent: their
  // answers come.
  async #foundInSnapshot(entries) {
    const ids = entries.filter((e) => !e.server && e.state !== 'sent').map((e) => ednString(e.clientId));
    if (ids.length === 0) return [];
    const { raw } = this.#core, s = this.#session;
    const db = raw.connDb(s.conn);
    try {
      const inputs = JSON.stringify([{ db }, { edn: `[${ids.join(' ')}]` }]);
      const rows = await this.#core.call([s.store], () => raw.q(COMMITTED_QUERY, inputs));
      return rows.map(([c, t, m]) => ({ txId: t, found: true, txData: [[t, CLIENT_ATTR, c, t, true], [t, TEMPIDS_ATTR, m, t, true]] }));
    } catch {
      return [];  // no write with a client id was ever committed: the attributes do not exist yet
    } finally {
      raw.dbRelease(db);
    }
  }

  // The server's answer to a sent write: `report` ({ txId, tempids, commit, duplicate }).
  async answered(entry, report) {
    entry.server = report;
    if (this.#answered.delete(entry.clientId)) return this.#resolve(entry, report);  // already left the outbox
    if (entry.left) return;  // resolved from its commit's log
    if (report.txId > this.#session.basis(this.#core.raw)) {  // the newest tx the replica holds
      entry.state = 'sent';
      return;  // it leaves the outbox with the update that brings its commit
    }
    // The replica already holds the commit (an update without its log came first): the
    // view shows the write twice until it is rebuilt without it.
    await this.#remove([entry]);
    this.#resolve(entry, report);
    await this.#rebuildAndTell(report.txId);
  }

  // The server refused a sent write (or it cannot be sent): it leaves the view; the
  // outbox keeps it as rejected until discard(). `store`: false when the tab that sent
  // it already marked it so in the shared outbox.
  async rejected(entry, error, store = true) {
    entry.state = 'rejected';
    entry.error = { code: error.code ?? 'tx_failed', message: error.message };
    const { local, server, waiters, left, ...record } = entry;
    try {
      if (store) await this.#storage.put(record);
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

  // Another tab's message (share.js): the tab that sent a write was told it is refused.
  async rejectedElsewhere(clientId, error) {
    const entry = this.entries.find((e) => e.clientId === clientId);
    if (entry && entry.state !== 'rejected') await this.rejected(entry, error, false);
  }

  async discard(clientId) {
    const entry = this.entries.find((e) => e.clientId === clientId);
    if (!entry) throw outboxError(`no write ${clientId} in the outbox`, 'not_found');
    if (entry.state === 'sent') {
      throw outboxError(`write ${clientId} was sent to the server, which may be committing it: it cannot be discarded`, 'sent');
    }
    await this.#drop(entry);
  }

  // Another tab discarded it (share.js).
  async dropped(clientId) {
    const entry = this.entries.find((e) => e.clientId === clientId);
    if (entry) await this.#drop(entry);
  }

  async #drop(entry) {
    const wasPending = entry.state !== 'rejected';
    await this.#remove([entry]);
    if (!wasPending) return;
    await this.#rebuildAndTell();
    const error = outboxError(`write ${entry.clientId} was discarded`, 'discarded');
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
    for (const e of entries) {
      e.left = true;
      if (e.seq > this.#loadedUpTo) this.#gone.set(e.clientId, e.seq);
    }
    await this.#storage.remove(entries.map((e) => e.seq));
    this.onChange();
  }

  #resolve(entry, r) {
    const report = { txId: r.txId, tempids: r.tempids ?? {}, txData: [], datoms: r.datoms, commit: r.commit,
      clientId: entry.clientId, ...(r.duplicate ? { duplicate: true } : {}) };
    for (const w of entry.waiters.splice(0)) w.resolve(report);
  }
}
