// datalith in Node 20+: the package's entry under the "node" condition of
// package.json's exports (index.cjs for require()). The API is api.js; this file loads
// the WASM module from the package's own files.

import { readFile } from 'node:fs/promises';
import { initWith } from './api.js';

export { Uuid } from './edn.js';

// Loads the WASM module (once) and returns the API.
export const init = initWith(async () => {
  const { default: factory } = await import('../dist/datalith_wasm.mjs');
  // Emscripten 3.1.6's loader cannot fetch a file path under Node (docs/wasm.md).
  return factory({ wasmBinary: await readFile(new URL('../dist/datalith_wasm.wasm', import.meta.url)) });
}, { WebSocket: nodeWebSocket });

// Node 20 has no WebSocket: the optional peer dependency `ws`.
async function nodeWebSocket() {
  const name = 'ws';  // a variable: bundlers targeting Node must not require the optional package
  try {
    return (await import(name)).default;
  } catch (e) {
    throw new Error(`sync needs a WebSocket: this runtime has none and the optional package 'ws' is not installed (npm install ws): ${e.message}`);
  }
}
