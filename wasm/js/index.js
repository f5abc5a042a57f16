// datalith in browsers and workers: the package's default entry (Node gets node.js, by
// the "node" condition of package.json's exports). The API is api.js; this file loads
// the WASM module and holds no Node code, so bundlers need no config for it.
//
//   const d = await init();
//   await d.createDatabase(cfg); const conn = await d.connect(cfg);
//   await conn.transact([...]); const db = conn.db(); await d.q(query, db);

import { initWith } from './api.js';

export { Uuid } from './edn.js';

// Loads the WASM module (once) and returns the API.
export const init = initWith(async () => {
  const { default: factory } = await import('../dist/datalith_wasm.mjs');
  let fail;
  const failed = new Promise((resolve, reject) => { fail = reject; });
  const started = factory({
    // The loader asks locateFile for the .wasm's name even though instantiateWasm
    // fetches it; without locateFile it would compute `new URL(…, import.meta.url)`,
    // which throws where import.meta is empty (esbuild's iife output).
    locateFile: (file) => file,
    // Emscripten 3.1.6 does not notice when this fails: `failed` rejects instead.
    instantiateWasm(imports, receive) {
      instantiate(imports).then(({ instance }) => receive(instance), fail);
      return {};
    },
  });
  return Promise.race([started, failed]);
});

// The .wasm: fetched from beside this file, where Vite and webpack (and a page loading
// the package unbundled) put it: they rewrite `new URL('…', import.meta.url)` to the
// asset they emit, often under a hashed name. esbuild and Rollup copy no asset (the
// fetch fails, or there is no import.meta.url at all): then the same bytes come from
// datalith_wasm.inline.mjs, gzipped and in base64, by a dynamic import that bundlers
// splitting dynamic imports leave out of every page that found the file.
async function instantiate(imports) {
  let url = null;
  try {
    url = new URL('../dist/datalith_wasm.wasm', import.meta.url);
  } catch {}  // import.meta.url is undefined (esbuild's iife output)
  const response = url && await fetch(url).catch(() => null);
  if (response?.ok) {
    if (response.headers.get('content-type')?.split(';')[0].trim() === 'application/wasm') {
      return WebAssembly.instantiateStreaming(response, imports);
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    // An app server that answers unknown paths with its page (status 200) sends no wasm.
    if (bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d) {
      return WebAssembly.instantiate(bytes, imports);
    }
  }
  // webpack always emits the .wasm (and would emit this as a chunk it never loads).
  const { default: base64 } = await import(/* webpackIgnore: true */ '../dist/datalith_wasm.inline.mjs');
  const text = atob(base64);
  const gzipped = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) gzipped[i] = text.charCodeAt(i);
  const wasm = new Blob([gzipped]).stream().pipeThrough(new DecompressionStream('gzip'));
  return WebAssembly.instantiate(await new Response(wasm).arrayBuffer(), imports);
}
