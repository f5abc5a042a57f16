// datalith in browsers and workers: the package's default entry (Node gets node.js, by
// the "node" condition of package.json's exports). The API is api.js; this file loads
// the WASM module and holds no Node code, so bundlers need no config for it. A page
// with local databases only can import `datalith/local` instead (local.js: the same
// API on a smaller module).
//
//   const d = await init();
//   await d.createDatabase(cfg); const conn = await d.connect(cfg);
//   await conn.transact([...]); const db = conn.db(); await d.q(query, db);

import { initWith } from './api.js';
import { loadModule } from './browser-load.js';

export { Uuid } from './edn.js';

// Loads the WASM module (once) and returns the API. (webpack always emits the .wasm,
// and would emit the inlined copy as a chunk it never loads: webpackIgnore.)
export const init = initWith(() => loadModule(
  () => import('../dist/datalith_wasm.mjs'),
  () => new URL('../dist/datalith_wasm.wasm', import.meta.url),
  () => import(/* webpackIgnore: true */ '../dist/datalith_wasm.inline.mjs')));
