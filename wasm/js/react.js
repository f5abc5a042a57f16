// datalith/react: useQuery(d, query, inputs), a React hook over d.subscribe
// (wasm/README.md, "React"). The component re-renders when the result changes, and
// only then: a transaction that cannot change the result does not even run the query.
import { useMemo, useSyncExternalStore } from 'react';
import { EdnText, Uuid } from './edn.js';

// { data, error, loading } of a query over live inputs (Connections, d.live(...),
// snapshots, values, rules: what d.subscribe takes). `d` may be null or undefined
// while init() is pending: the state stays loading. Inputs that are equal from one
// render to the next keep the subscription (see inputsKey).
export function useQuery(d, query, inputs = []) {
  const key = inputsKey([query, inputs]);
  // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` stands for query and inputs
  const source = useMemo(() => querySource(d, query, inputs), [d, key]);
  return useSyncExternalStore(source.subscribe, source.get, source.get);
}

// A subscription's state for useSyncExternalStore: a new object on each change, the
// same one otherwise (so an unchanged result renders nothing).
function querySource(d, query, inputs) {
  let state = { data: undefined, error: undefined, loading: true };
  return {
    get: () => state,
    subscribe(changed) {
      if (!d) return () => {};
      return d.subscribe(query, inputs, (data) => {
        state = { data, error: undefined, loading: false };
        changed();
      }, {
        onError: (error) => {
          state = { data: state.data, error, loading: false };
          changed();
        },
      });
    },
  };
}

const ids = new WeakMap();  // object → its number, for keys by identity
let lastId = 0;

// Text equal for inputs that mean the same query: strings, numbers, bigints,
// booleans, null, Dates, uuids, EDN text, arrays and plain objects by value;
// Connections, snapshots, live inputs, Sets and Maps by identity (create them outside
// the render, or memoize them).
function inputsKey(x) {
  switch (typeof x) {
    case 'string': return JSON.stringify(x);
    case 'number': return String(x);
    case 'bigint': return `${x}n`;
    case 'boolean': return String(x);
    case 'undefined': return 'undefined';
  }
  if (x === null) return 'null';
  if (Array.isArray(x)) return `[${x.map(inputsKey).join(',')}]`;
  if (x instanceof Date) return `#inst ${x.getTime()}`;
  if (x instanceof Uuid) return `#uuid ${x}`;
  if (x instanceof EdnText) return `#edn ${JSON.stringify(x.text)}`;
  if (Object.getPrototypeOf(x) === Object.prototype) {
    return `{${Object.keys(x).map((k) => `${JSON.stringify(k)}:${inputsKey(x[k])}`).join(',')}}`;
  }
  let id = ids.get(x);
  if (id === undefined) ids.set(x, (id = ++lastId));
  return `#${id}`;
}
