// A replica's sync as its connections see it (session.sync), and one replica per
// browser (docs/offline.md, "Tabs"). The tabs of one origin that open the same
// IndexedDB replica elect a leader with the Web Lock `datalith:<id>:sync`, held for the
// life of the tab's session: the leader runs the SyncClient (the one socket); the
// others (followers) read the same IndexedDB store, follow the heads it stores, and
// mirror its sync state, all through the replica's BroadcastChannel (tabs.js). Every
// tab's writes go into the shared IndexedDB outbox; the leader sends them all. When the
// leader's session ends (the tab closes), the next tab in the lock's queue catches up
// with the stored head and outbox and opens the socket: writes sent but unanswered are
// sent again with their client ids, which the server dedupes.
//
// Messages on the channel ({ type, ... }):
//   sync      leader → all: a sync event, with the leader's state, access and server head
//   sync?     a new follower → leader: send your state
//   outbox    a tab appended to (or marked) the outbox: load the new records
//   rejected  leader → all: { clientId, error } the server refused a write
//   heal      follower → leader: a node under the stored head is missing; sync in full
//   discard   follower → leader: { id, clientId } discard this write (only the sender
//             knows whether it was sent)
//   discarded leader → all: { id, clientId } it left the outbox; or { id, error }
// Memory replicas and runtimes without Web Locks (Node) have no other tab: the tab is
// the leader.

const DISCARD_TIMEOUT_MS = 5000;
// Sync events of one tab only (each tab's outbox makes its own).
const LOCAL_EVENTS = new Set(['outbox', 'rejected']);
const NO_STATS = { updates: 0, logUpdates: 0, resends: 0, nodes: 0, bytes: 0, frameBytes: 0, frames: 0, reconnects: 0 };

const shareError = (message, code) => Object.assign(new Error(message), { code });
const plainError = (e) => (e ? { message: e.message, code: e.code } : null);
const realError = (e) => (e ? shareError(e.message, e.code) : null);

// The sync state of another tab, as its messages tell it.
class Mirror {
  state = 'connecting';
  access = null;
  serverHead = null;
  error = null;
  stats = { ...NO_STATS };
}

export class ReplicaSync {
  role = 'leader';   // 'leader': this tab syncs; 'follower': another tab does
  #source = null;    // the SyncClient, or the Mirror of the leader
  #replica;          // api.js: { head, outbox, follow(), refresh(), enqueue(fn) }
  #makeClient;       // () => a SyncClient emitting through this object
  #tabs;
  #listeners = new Set();
  #waiters = [];
  #closed = false;
  #release = null;   // ends the leader's hold on the lock
  #abort = null;     // withdraws a follower's place in the lock's queue
  #stopListening = () => {};
  #requests = new Map();  // discard id → { resolve, reject, timer }
  #nextRequest = 1;
  #logs = [];        // a follower's: the log segments of the updates the leader stored, not yet read

  constructor(key, replica, makeClient, tabs) {
    this.key = key;
    this.#replica = replica;
    this.#makeClient = makeClient;
    this.#tabs = tabs;
    replica.outbox.onChange = () => this.emit({ type: 'outbox' });
    replica.outbox.onRejected = (e) => {
      this.emit(rejectedEvent(e));
      if (this.role === 'leader') this.#tabs?.post({ type: 'rejected', clientId: e.clientId, error: e.error });
    };
  }

  start() {
    if (!this.#tabs || !globalThis.navigator?.locks) {
      this.#tabs = null;
      this.#source = this.#makeClient();
      return this.#source.start();
    }
    this.#stopListening = this.#tabs.onMessage((m) => this.#onMessage(m));
    this.#source = new Mirror();
    this.role = 'follower';
    // Leader at once if no tab is; else wait in the lock's queue.
    const hold = (lock) => {
      if (!lock || this.#closed) return undefined;
      return new Promise((resolve) => {
        this.#release = resolve;
        this.#lead();
      });
    };
    this.#tabs.lock('sync', hold, { ifAvailable: true }).then(() => {
      if (this.#release || this.#closed) return;
      this.#tabs.post({ type: 'sync?' });
      this.#abort = new AbortController();
      this.#tabs.lock('sync', hold, { signal: this.#abort.signal }).catch(() => {});  // aborted on close
    });
  }

  // This tab now holds the lock: catch up with what the old leader stored (its last
  // head, the outbox), then open the socket.
  #lead() {
    this.#replica.enqueue(async () => {
      await this.#replica.follow();
      await this.#replica.refresh();
    }).catch((e) => console.warn(`datalith sync: catching up with the stored replica failed: ${e.message}`))
      .then(() => {
        if (this.#closed) return;
        const mirror = this.#source;
        this.role = 'leader';
        this.#source = this.#makeClient();
        Object.assign(this.#source.stats, mirror.stats);
        this.emit({ type: 'role', role: 'leader' });
        this.#source.start();
      });
  }

  get state() { return this.#source?.state ?? 'connecting'; }
  get access() { return this.#source?.access ?? null; }
  get serverHead() { return this.#source?.serverHead ?? null; }
  get error() { return this.#source?.error ?? null; }
  get stats() { return this.#source?.stats ?? NO_STATS; }

  // Also tells `callback`, right after, of every rejected write the outbox keeps (so a
  // page reloaded after a rejection learns of it).
  onSync(callback) {
    if (typeof callback !== 'function') throw new Error('onSync() takes a function');
    this.#listeners.add(callback);
    const kept = this.#replica.outbox.entries.filter((e) => e.state === 'rejected');
    if (kept.length > 0) {
      queueMicrotask(() => {
        if (!this.#listeners.has(callback)) return;
        for (const e of kept) this.#call(callback, this.#event(rejectedEvent(e)));
      });
    }
    return () => { this.#listeners.delete(callback); };
  }

  // An onSync event: what happened, with the state, head and pending count now.
  #event(what) {
    return { state: this.state, head: this.#replica.head, pending: this.#replica.outbox.pending, ...what };
  }

  // The SyncClient (or, in a follower, the leader's message) reports `what`. An
  // update's `log` (its commits' log segments, stored with it) is for the followers.
  emit({ log, ...what }) {
    const ev = this.#event(what);
    for (const cb of this.#listeners) this.#call(cb, ev);
    if (this.role === 'leader' && this.#tabs && !LOCAL_EVENTS.has(what.type) && what.type !== 'role') this.#tell({ ...what, log });
  }

  #tell(what) {
    const s = this.#source;
    const ev = { ...what, ...(what.error ? { error: plainError(what.error) } : {}) };
    this.#tabs.post({ type: 'sync', ev, state: s.state, access: s.access, serverHead: s.serverHead,
      error: plainError(s.error), stats: s.stats });
  }

  #call(cb, ev) {
    try {
      cb(ev);
    } catch (e) {
      console.error('datalith: an onSync() callback threw', e);
    }
  }

  // Resolves when the replica holds the head the server announced last (state 'live').
  synced() {
    if (this.error) return Promise.reject(this.error);
    if (this.#closed) return Promise.reject(new Error('this connection is closed'));
    if (this.#live()) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #live() {
    return this.state === 'live' && (this.role === 'leader' || this.#replica.head === this.serverHead);
  }

  // The SyncClient: live (no error), or stopped for good (`error`).
  settle(error) {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) (error ? w.reject(error) : w.resolve());
  }

  // A write was added to the outbox: the leader sends it; a follower tells the leader
  // (and every tab shows it).
  kick() {
    if (this.role === 'leader') this.#source?.kick();
    this.#tabs?.post({ type: 'outbox' });
  }

  // A node under the replica's head is missing (api.js): the leader syncs it again in
  // full; a follower asks the leader to.
  heal() {
    if (this.role === 'leader') this.#source?.heal?.();
    else this.#tabs.post({ type: 'heal' });
  }

  // Discards a write: a follower asks the leader, which alone knows whether it was sent.
  discard(clientId) {
    if (this.role === 'leader') return this.#replica.enqueue(() => this.#discardHere(clientId));
    return new Promise((resolve, reject) => {
      const id = `${Math.random().toString(36).slice(2)}-${this.#nextRequest++}`;
      const timer = setTimeout(() => {
        this.#requests.delete(id);
        reject(shareError(`no tab answered the discard of ${clientId} in ${DISCARD_TIMEOUT_MS} ms (the tab that syncs is changing): try again`, 'no_leader'));
      }, DISCARD_TIMEOUT_MS);
      this.#requests.set(id, { resolve, reject, timer });
      this.#tabs.post({ type: 'discard', id, clientId });
    });
  }

  async #discardHere(clientId, id) {
    try {
      await this.#replica.outbox.discard(clientId);
    } catch (e) {
      if (id !== undefined) this.#tabs.post({ type: 'discarded', id, error: plainError(e) });
      throw e;
    }
    this.#tabs?.post({ type: 'discarded', id, clientId });
  }

  #onMessage(m) {
    if (this.#closed || typeof m?.type !== 'string') return;
    const { outbox } = this.#replica;
    const leader = this.role === 'leader';
    switch (m.type) {
      case 'sync':
        if (!leader) this.#mirror(m);
        break;
      case 'sync?':
        if (leader) this.#tell({ type: 'state' });
        break;
      case 'outbox':
        this.#replica.enqueue(() => this.#replica.refresh()).then(() => leader && this.#source.kick(),
          (e) => console.warn(`datalith: could not read another tab's writes: ${e.message}`));
        break;
      case 'rejected':
        if (!leader) this.#replica.enqueue(() => outbox.rejectedElsewhere(m.clientId, realError(m.error)));
        break;
      case 'heal':
        if (leader) this.heal();
        break;
      case 'discard':
        if (leader) this.#replica.enqueue(() => this.#discardHere(m.clientId, m.id)).catch(() => {});
        break;
      case 'discarded': {
        const request = this.#requests.get(m.id);
        if (!m.error && !leader) this.#replica.enqueue(() => outbox.dropped(m.clientId));
        if (!request) break;
        this.#requests.delete(m.id);
        clearTimeout(request.timer);
        if (m.error) request.reject(realError(m.error));
        else this.#replica.enqueue(() => {}).then(request.resolve);  // after it left this tab's view
        break;
      }
      default:
        break;  // a local database's 'head', or another version's message
    }
  }

  // The leader's sync event: take its state; after an update, follow the head it
  // stored first, so the event comes when this tab shows the update too.
  #mirror(m) {
    const mirror = this.#source;
    const stateChanged = mirror.state !== m.state;
    Object.assign(mirror, { state: m.state, access: m.access, serverHead: m.serverHead, error: realError(m.error), stats: m.stats });
    const ev = { ...m.ev, ...(m.ev.error ? { error: realError(m.ev.error) } : {}) };
    if (ev.type === 'update') this.#logs.push(ev.log ?? null);
    const after = ev.type === 'update' ? this.#replica.enqueue(() => this.#replica.follow(this.#logs.splice(0))) : Promise.resolve();
    after.catch((e) => console.warn(`datalith: could not follow the head another tab stored: ${e.message}`))
      .then(() => {
        if (this.#closed) return;
        if (ev.type !== 'state' || stateChanged) this.emit(ev);
        if (mirror.error && ev.fatal) this.settle(mirror.error);
        else if (this.#live()) this.settle();
      });
  }

  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopListening();
    this.#abort?.abort();
    for (const { reject, timer } of this.#requests.values()) {
      clearTimeout(timer);
      reject(new Error('this connection is closed'));
    }
    this.#requests.clear();
    this.settle(new Error('this connection is closed'));
    if (this.role === 'leader') await this.#source?.close();
    else if (this.#source) this.#source.state = 'offline';
    this.#listeners.clear();
    this.#release?.();  // the next tab in the queue becomes the leader
  }
}

function rejectedEvent(e) {
  return { type: 'rejected', clientId: e.clientId, tx: e.tx, error: shareError(e.error.message, e.error.code) };
}
