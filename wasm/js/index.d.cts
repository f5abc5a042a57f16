// The types of `require('datalith')` (index.cjs): those of the ES module (index.d.ts),
// whose init() this one loads. Uuid is a type only here: `d.uuid(text)` makes one.
import type { Datalith } from './index.js';

export type * from './index.js';
export declare function init(): Promise<Datalith>;
