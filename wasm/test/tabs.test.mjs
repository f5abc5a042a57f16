// wasm/js/tabs.js in Node: the write lock without Web Locks (Node 20 has no
// navigator.locks: fn just runs), the lock name and options passed to Web Locks where
// they exist, and announcements between two Tabs objects of one database (Node has
// BroadcastChannel), never to the sender. The browser behaviour: tabs-browser.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tabs } from '../js/tabs.js';

test('without Web Locks, lock() runs fn and resolves to its result', async () => {
  assert.equal(globalThis.navigator?.locks, undefined);
  const tabs = new Tabs('datalith:t1');
  let ran = false;
  const p = tabs.lock('write', async () => { ran = true; return 42; });
  assert.equal(await p, 42);
  assert.ok(ran);
  await assert.rejects(tabs.lock('write', async () => { throw new Error('boom'); }), /boom/);
  tabs.close();
});

test('with Web Locks, lock() requests `<name>:<what>` with the options given', async () => {
  const calls = [];
  const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', { configurable: true, value: { locks: {
    request: async (name, options, fn) => { calls.push([name, options]); return fn({ name }); } } } });
  try {
    const tabs = new Tabs('datalith:t2');
    assert.equal(await tabs.lock('write', async (lock) => lock.name), 'datalith:t2:write');
    await tabs.lock('leader', async () => {}, { ifAvailable: true });
    assert.deepEqual(calls, [['datalith:t2:write', {}], ['datalith:t2:leader', { ifAvailable: true }]]);
    tabs.close();
  } finally {
    if (had) Object.defineProperty(globalThis, 'navigator', had);
    else delete globalThis.navigator;
  }
});

test('post() reaches the other Tabs objects of the database, not the sender nor other databases', async () => {
  const [a, b, other] = [new Tabs('datalith:t3'), new Tabs('datalith:t3'), new Tabs('datalith:t4')];
  const got = { a: [], b: [], other: [] };
  a.onMessage((m) => got.a.push(m));
  const stopB = b.onMessage((m) => got.b.push(m));
  other.onMessage((m) => got.other.push(m));
  a.post({ type: 'head', head: 'h1' });
  await new Promise((r) => setTimeout(r, 50));
  stopB();
  a.post({ type: 'head', head: 'h2' });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(got, { a: [], b: [{ type: 'head', head: 'h1' }], other: [] });
  for (const t of [a, b, other]) t.close();
});
