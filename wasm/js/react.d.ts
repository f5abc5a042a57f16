// Types of `datalith/react` (written by hand; checked by wasm/test/types.test.ts).
import type { Datalith, SubscribeInput } from './index.js';

/** What `useQuery` returns: a new object when the result (or an error) arrives, the same one otherwise. */
export interface QueryState<T> {
  /** The latest result; undefined until the first. */
  data: T | undefined;
  /** The latest error (see SubscribeOptions.onError); cleared by the next result. */
  error: (Error & { code?: string }) | undefined;
  /** True until the first result or error. */
  loading: boolean;
}

/**
 * A reactive query in a React component, over `d.subscribe`: re-renders when the
 * result changes. `d` may be null while `init()` is pending. Inputs equal from one
 * render to the next (values by value; Connections, snapshots and live inputs by
 * identity) keep the subscription.
 */
export function useQuery<T = unknown>(d: Datalith | null | undefined, query: string,
  inputs?: readonly SubscribeInput[]): QueryState<T>;
