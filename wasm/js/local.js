// `datalith/local` in browsers and workers: the package's API on the WASM module for
// pages with local databases only (memory and IndexedDB; wasm/README.md, "Local
// databases only"; docs/wasm.md, "Building"). The module leaves out zstd's decoder and
// the calls of replicas and the sync client, 25 KB gzipped: a replica (config.sync) or
// a published database (the http backend) is refused with an error that names the full
// package, 'datalith'.

import { initWith } from './api.js';
import { loadModule } from './browser-load.js';

export { Uuid } from './edn.js';

// Loads the WASM module (once) and returns the API.
export const init = initWith(() => loadModule(
  () => import('../dist/datalith_wasm_local.mjs'),
  () => new URL('../dist/datalith_wasm_local.wasm', import.meta.url),
  () => import(/* webpackIgnore: true */ '../dist/datalith_wasm_local.inline.mjs')), { local: true });
