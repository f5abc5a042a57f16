// Prepended to datalith_wasm.mjs (--extern-pre-js). Emscripten 3.1.6's loader reads
// CommonJS's `__dirname` under Node even in the ES module it emits; give it one, in
// module scope so nothing leaks. Files are never read by path: pass `wasmBinary`.
var __dirname = '.';
