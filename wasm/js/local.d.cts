// The types of `require('datalith/local')` (local.cjs): those of index.d.cts.
export type * from './index.cjs';
export { init } from './index.cjs';
