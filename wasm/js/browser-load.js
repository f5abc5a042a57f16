// Loads a WASM module in browsers and workers, for the browser entries (index.js: the
// whole package; local.js: `datalith/local`). Each entry passes its own files as
// literal specifiers, which is what bundlers look for:
//   factory(): import() of the Emscripten loader (.mjs);
//   wasmUrl(): `new URL('…/x.wasm', import.meta.url)`: Vite and webpack (and a page
//     loading the package unbundled) rewrite it to the asset they emit, often under a
//     hashed name;
//   inline(): import() of the same .wasm, gzipped and in base64 (wasm/build.sh), for
//     esbuild and Rollup, which copy no asset (the fetch fails, or there is no
//     import.meta.url at all); bundlers splitting dynamic imports leave it out of every
//     page that found the file.
export async function loadModule(factory, wasmUrl, inline) {
  const { default: start } = await factory();
  let fail;
  const failed = new Promise((resolve, reject) => { fail = reject; });
  const started = start({
    // The loader asks locateFile for the .wasm's name even though instantiateWasm
    // fetches it; without locateFile it would compute `new URL(…, import.meta.url)`,
    // which throws where import.meta is empty (esbuild's iife output).
    locateFile: (file) => file,
    // Emscripten 3.1.6 does not notice when this fails: `failed` rejects instead.
    instantiateWasm(imports, receive) {
      instantiate(imports, wasmUrl, inline).then(({ instance }) => receive(instance), fail);
      return {};
    },
  });
  return Promise.race([started, failed]);
}

async function instantiate(imports, wasmUrl, inline) {
  let url = null;
  try {
    url = wasmUrl();
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
  const { default: base64 } = await inline();
  const text = atob(base64);
  const gzipped = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) gzipped[i] = text.charCodeAt(i);
  const wasm = new Blob([gzipped]).stream().pipeThrough(new DecompressionStream('gzip'));
  return WebAssembly.instantiate(await new Response(wasm).arrayBuffer(), imports);
}
