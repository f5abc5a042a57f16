// Coordination between the tabs (pages, workers) of one origin that open the same
// IndexedDB database `name` (`datalith:<store id>`, idb-store.js):
// - lock(what, fn): runs fn holding the Web Lock `<name>:<what>`, one tab at a time
//   ('write': a local database's commits, api.js). The lock is released when fn's
//   promise settles, or when the tab goes away; fn may also hold it for the life of the
//   tab (a promise that settles on close), which makes the holder a leader. Without Web
//   Locks (Node, old browsers) fn just runs: there is no other tab to exclude, or
//   nothing to exclude it with (the head's compare-and-set still refuses a stale commit).
// - post(message) / onMessage(fn): a BroadcastChannel `<name>` to the other tabs (a
//   Tabs object does not receive its own messages); nothing without BroadcastChannel.
//   api.js posts { type: 'head', head } after each local commit.

export class Tabs {
  #channel;

  constructor(name) {
    this.name = name;
    this.#channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
  }

  // `options`: those of navigator.locks.request ({ ifAvailable, signal, mode, steal });
  // with ifAvailable, fn gets null when another tab holds the lock.
  lock(what, fn, options = {}) {
    const locks = globalThis.navigator?.locks;
    return locks ? locks.request(`${this.name}:${what}`, options, fn) : Promise.resolve().then(() => fn({ name: what }));
  }

  post(message) {
    this.#channel?.postMessage(message);
  }

  // Returns the function that stops it. Messages are { type, ... }: each user picks its own.
  onMessage(fn) {
    const listener = (e) => fn(e.data);
    this.#channel?.addEventListener('message', listener);
    return () => this.#channel?.removeEventListener('message', listener);
  }

  close() {
    this.#channel?.close();
  }
}
