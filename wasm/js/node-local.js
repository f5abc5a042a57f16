// `datalith/local` in Node 20+ (the "node" condition of package.json's exports): the
// module for local databases only (local.js), loaded from the package's own files.

import { readFile } from 'node:fs/promises';
import { initWith } from './api.js';

export { Uuid } from './edn.js';

// Loads the WASM module (once) and returns the API.
export const init = initWith(async () => {
  const { default: factory } = await import('../dist/datalith_wasm_local.mjs');
  return factory({ wasmBinary: await readFile(new URL('../dist/datalith_wasm_local.wasm', import.meta.url)) });
}, { local: true });
