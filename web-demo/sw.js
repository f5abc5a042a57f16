// The demo's service worker: lets the page load with the server down. On install it
// caches the page, its modules, the package's JS and .wasm (the list is
// vendor/config.json's `files`); every same-origin GET then goes to the network first
// (so a running server always serves the current files, and the cache is refreshed)
// and falls back to the cache when the server is unreachable. The sync WebSocket, the
// HTTP API and the metrics are never cached.
const CACHE = 'datalith-demo-v1';
const NEVER = /^\/(sync|health|metrics|db\/)/;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const config = await (await fetch('vendor/config.json', { cache: 'no-store' })).json();
    await cache.addAll(['./', 'vendor/config.json', ...config.files]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== location.origin || NEVER.test(url.pathname)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req, { cache: 'no-store' });
      if (res.ok) await cache.put(req, res.clone());
      return res;
    } catch (e) {
      const hit = await cache.match(req, { ignoreSearch: true }) ??
        (req.mode === 'navigate' ? await cache.match('./') : undefined);
      if (hit) return hit;
      throw e;
    }
  })());
});
