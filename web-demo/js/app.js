// The demo page: every panel is a query over the local replicas, re-run whenever a
// replica changes (a sync brought a commit, or this tab wrote). A panel whose
// databases have not arrived yet shows what it waits for instead of an empty result.
import { init } from '../vendor/datalith/wasm/js/index.js';
import * as Q from './queries.js';
import { Replicas, TENANTS, tenantDb } from './replicas.js';
import { $, h, fmt, bytes, table, rowsOf, barChart, errorPosition, txRef } from './ui.js';
import { bindInputs, findColumns, usesDefault, explainSourceError } from './console-inputs.js';

const params = new URLSearchParams(location.search);
const demo = (window.demo = { ready: false, renders: 0, consoleRuns: 0, errors: [] });

// ---- start ----

async function start() {
  registerServiceWorker();
  setStatus('connecting', 'loading…');
  const config = await (await fetch('vendor/config.json')).json();
  const mode = params.has('local') ? 'local' : params.has('buckets') ? 'buckets' : 'sync';
  if (mode === 'buckets') config.buckets = await (await fetch('vendor/buckets.json', { cache: 'no-store' })).json();
  const d = await init();
  $('#version').textContent = `datalith ${d.version}`;
  const replicas = new Replicas(d, mode);
  Object.assign(demo, { d, replicas, buckets: config.buckets });
  replicas.on('change', (name) => schedule(name));
  replicas.on('state', () => showState(replicas));
  replicas.on('sync', (name, ev) => onSyncEvent(replicas, name, ev));
  setupStatic();
  await replicas.open(config);
  demo.opened = true;
  setupControls(d, replicas);
  showState(replicas);
  await schedule();  // panels whose databases have not arrived show that they wait
  await replicas.firstSync();
  await schedule();
  demo.ready = true;
  document.body.dataset.ready = 'true';
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || params.has('nosw')) return;
  navigator.serviceWorker.register('sw.js').then(
    (reg) => { demo.sw = reg; },
    (e) => console.warn('service worker not registered:', e.message));
}

// ---- state and sync display ----

function setStatus(state, text) {
  const el = $('#status');
  el.dataset.state = state;
  $('#status-text').textContent = text;
}

const STATE_TEXT = {
  live: 'live: in sync with the server', syncing: 'syncing…', connecting: 'connecting…',
  offline: 'offline: answering from IndexedDB', local: 'local mode (memory, no server)',
  published: 'no database server: published databases read from two static buckets',
};

function showState(replicas) {
  const overall = replicas.overall();
  setStatus(overall, STATE_TEXT[overall] ?? overall);
  const banner = $('#banner');
  if (overall === 'offline') {
    banner.hidden = false;
    banner.className = 'banner offline';
    banner.textContent = 'The server is unreachable. Every panel keeps answering from the replicas in IndexedDB; ' +
      'writes are disabled until it is back, and the replicas catch up on their own when it returns.';
  } else if (overall === 'local') {
    banner.hidden = false;
    banner.className = 'banner';
    banner.textContent = 'Local mode: memory databases seeded in this tab, no server, no sync.';
  } else if (overall === 'published') {
    banner.hidden = false;
    banner.className = 'banner';
    banner.textContent = `No database server: the catalog is read from team A's bucket (${demo.buckets.catalog}), the ` +
      `inventory from team B's (${demo.buckets.inventory}), lazily and verified, as the objects \`datalith publish\` wrote; ` +
      'the tenants are seeded in this tab and the watchlist lives in its IndexedDB.';
  } else {
    banner.hidden = true;
  }
  renderSyncTable(replicas);
  showProgress(replicas);
  showWaiting(replicas);
  updateWriteControls(replicas);
  showRole(replicas);
}

// Which tab of this browser holds the connections: the tabs that open the same replica
// share it and its one socket (the package elects one; the others follow it).
function showRole(replicas) {
  const el = $('#sync-role');
  const conns = Object.values(replicas.conns).filter(Boolean);
  if (replicas.mode !== 'sync' || conns.length === 0) return void (el.textContent = '');
  const leading = conns.filter((c) => c.syncRole === 'leader').length;
  el.dataset.role = leading === conns.length ? 'leader' : leading === 0 ? 'follower' : 'mixed';
  el.textContent = leading === conns.length
    ? 'This tab holds the connection to the server for every tab of this browser (one socket per database); other tabs follow it.'
    : leading === 0
      ? 'Another tab of this browser holds the connection to the server: this one reads the same replicas and sends its writes through it. Close that tab and this one takes over.'
      : `This tab syncs ${leading} of ${conns.length} databases for this browser's tabs; another tab syncs the rest.`;
}

function renderSyncTable(replicas) {
  const body = $('#sync-table tbody');
  body.replaceChildren(...Object.keys(replicas.conns).filter((n) => replicas.conns[n]).map((name) => {
    const s = replicas.stats[name], state = replicas.state(name);
    // The update under way, if any ("…"), else the last one.
    const nodes = s.pending ? `${s.pending.nodes}…` : s.lastApply === 'log' ? 'log' : s.lastNodes ?? '–';
    const size = s.pending ? `${bytes(s.pending.bytes)}…` : s.lastBytes === null ? '–' : bytes(s.lastBytes);
    return h('tr', { 'data-db': name },
      h('td', {}, name), h('td', {}, h('span', { class: `pill ${state}` }, state)),
      h('td', { class: 'num' }, replicas.hasData(name) ? txRef(replicas.conns[name].db().basisT) : '–'),
      h('td', { class: 'num' }, String(s.updates)), h('td', { class: 'num' }, nodes), h('td', { class: 'num' }, size));
  }));
}

// The first sync: how many databases have arrived, and the nodes and bytes received
// so far (the sync client's progress events). Hidden once every database holds data.
function showProgress(replicas) {
  const el = $('#sync-progress');
  const names = Object.keys(replicas.conns);
  const waiting = names.filter((n) => !replicas.hasData(n));
  el.hidden = !demo.opened || waiting.length === 0;
  if (el.hidden) return;
  const { nodes, bytes: received } = replicas.received();
  const bar = $('#sync-progress-bar');
  bar.max = names.length;
  bar.value = names.length - waiting.length;
  el.dataset.nodes = String(nodes);
  el.dataset.bytes = String(received);
  const offline = waiting.every((n) => replicas.state(n) === 'offline');
  $('#sync-progress-text').textContent = offline
    ? `The server is unreachable and this browser holds no copy of ${waiting.join(', ')} yet; waiting for it.`
    : `First sync: ${names.length - waiting.length} of ${names.length} databases · ${nodes} nodes · ${bytes(received)} received`;
}

function onSyncEvent(replicas, name, ev) {
  if (ev.type === 'outbox') showPending(replicas);
  if (ev.type === 'role') showRole(replicas);
  if (ev.type === 'rejected') {
    // A write made offline that the server refused: say so, then drop it from the outbox.
    $('#write-result').replaceChildren(h('span', { class: 'up' }, `the server refused a write made offline (${name}): ${ev.error.message}`));
    replicas.conns[name].discard(ev.clientId).catch(() => {});
  }
  if (ev.type === 'progress') {
    renderSyncTable(replicas);
    showProgress(replicas);
    showWaiting(replicas);
  }
  if (ev.type !== 'update') return;
  const log = $('#sync-log');
  // A live replica gets a commit as its datoms (a log it replays), a first or late sync as nodes.
  const what = ev.apply === 'log' ? `datoms (log), ${bytes(ev.frameBytes)} on the wire`
    : `${ev.nodes} nodes, ${bytes(ev.frameBytes)} on the wire`;
  log.prepend(h('li', { 'data-apply': ev.apply, 'data-wire': String(ev.frameBytes) }, h('b', {}, name), ' ', txRef(ev.tx), `: ${what}`,
    ev.ms !== undefined ? ` in ${ev.ms} ms` : '', ` · ${new Date().toLocaleTimeString()}`));
  while (log.children.length > 30) log.lastChild.remove();
  renderSyncTable(replicas);
  showProgress(replicas);
}

// ---- rendering ----

// What the page shows, in the order it is refreshed: the databases each part reads
// ('tenants': every tenant's) and the boxes its results go in (which show what they
// wait for until those databases hold data). A change re-runs only what reads it.
const PANELS = [
  { id: 'join', reads: ['catalog', 'inventory'], boxes: ['#join-result'], meta: '#join-meta', run: renderJoin },
  { id: 'dashboard', reads: ['catalog', 'inventory'], boxes: ['#chart-stock', '#chart-category'], live: true, run: subscribeStockCharts },
  { id: 'time', reads: ['catalog', 'inventory'], boxes: ['#time-result'], meta: '#time-meta', run: renderTime },
  { id: 'dashboard', reads: ['tenants'], boxes: ['#chart-orders'], live: true, run: subscribeOrdersChart },
  { id: 'tenants', reads: ['catalog', 'tenants'], boxes: ['#tenants-result', '#tenants-categories'], meta: '#tenants-meta',
    run: renderTenants },
  { id: 'watch', reads: ['catalog', 'inventory', 'watchlist'], boxes: ['#watch-result'], meta: '#watch-meta', run: renderWatch },
  { id: 'forms', reads: ['catalog', 'inventory'], boxes: [], run: refreshForms },
];

let queued = null;           // the render that will take what is dirty
let chain = Promise.resolve();
let dirty = new Set();

// Coalesces re-renders: at most one running, one more queued; resolves when the render
// that includes this call's `what` is done. `what`: database names or panel ids;
// nothing means everything.
function schedule(...what) {
  if (!demo.opened) return Promise.resolve();
  for (const w of what.length ? what : ['*']) dirty.add(w.startsWith('tenant-') ? 'tenants' : w);
  queued ??= chain = chain.then(() => new Promise((r) => setTimeout(r, 15))).then(() => {
    queued = null;
    const now = dirty;
    dirty = new Set();
    return render(now);
  }).catch((e) => console.error('render', e));
  return queued;
}

async function render(what) {
  const { d, replicas } = demo;
  const snaps = replicas.snapshots();
  for (const p of PANELS) {
    if (!(what.has('*') || what.has(p.id) || p.reads.some((r) => what.has(r)))) continue;
    if (replicas.missing(p.reads).length) showLoading(replicas, p);
    else if (!(p.live && subscriptions.has(p.run))) await guard(p, () => p.run(d, snaps));
  }
  if (consoleWaiting) await runConsole(d, replicas);
  renderSyncTable(replicas);
  updateWriteControls(replicas);
  demo.renders++;
  document.body.dataset.renders = String(demo.renders);
}

const setBoxes = (p, state) => p.boxes.forEach((sel) => { $(sel).dataset.state = state; });

// What a panel waits for, with the nodes and bytes of those databases received so far.
function waitingText(replicas, reads) {
  const missing = replicas.missing(reads);
  if (!missing.length) return 'Loading…';  // arrived: the next render shows it
  if (missing.every((n) => replicas.state(n) === 'offline')) {
    return `No data yet: the server is unreachable and this browser holds no copy of ${missing.join(', ')}.`;
  }
  const got = replicas.received(missing);
  return `Loading ${missing.join(', ')}… ${got.nodes} nodes, ${bytes(got.bytes)} received`;
}

function showLoading(replicas, p) {
  const text = waitingText(replicas, p.reads);
  for (const sel of p.boxes) {
    const box = $(sel);
    box.dataset.state = 'loading';
    box.replaceChildren(h('p', { class: 'loading' }, text));
  }
  if (p.meta) $(p.meta).replaceChildren();
  if (p.id === 'time') $('#time-commit-label').textContent = '';
}

// Refreshes the loading boxes' counts (on progress events), without running queries.
function showWaiting(replicas) {
  if (!demo.opened) return;
  for (const p of PANELS) {
    if (p.boxes.some((sel) => $(sel).dataset.state === 'loading') && replicas.missing(p.reads).length) {
      showLoading(replicas, p);
    }
  }
  if (consoleWaiting && replicas.missing(consoleWaiting).length) showConsoleWaiting(replicas);
}

async function guard(p, fn) {
  try {
    await fn();
    setBoxes(p, 'ready');
  } catch (e) {
    setBoxes(p, 'error');
    demo.errors.push(`${p.id}: ${e.message}`);
    if (p.meta) $(p.meta).replaceChildren(h('span', { class: 'up' }, `error: ${e.message}`));
    console.error(p.id, e);
  }
}

async function timed(fn) {
  const t0 = performance.now();
  const result = await fn();
  return [result, performance.now() - t0];
}
const ms = (t) => `${t < 10 ? t.toFixed(1) : Math.round(t)} ms`;

// Query text with its keywords, variables, sources and strings marked up.
function showQuery(el, text) {
  el.replaceChildren();
  for (const m of text.matchAll(/("(?:[^"\\]|\\.)*")|(:[\w./-]+)|(\?[\w-]+)|(\$[\w-]*)|([^":?$]+|[":?$])/g)) {
    const [tok, str, kw, v, src] = m;
    const cls = str ? 'str' : kw ? 'kw' : v ? 'var' : src ? 'src' : null;
    el.append(cls ? h('span', { class: cls }, tok) : tok);
  }
}

// Cross-database join.
async function renderJoin(d, s) {
  const max = Number($('#join-max').value);
  const [rows, t] = await timed(() => d.q(Q.JOIN, s.catalog, s.inventory, max));
  rows.sort((a, b) => a[0].localeCompare(b[0]));
  $('#join-meta').replaceChildren(h('b', {}, `${rows.length} products`), ` in stock at ≤ ${max} · ${ms(t)} · catalog at `,
    txRef(s.catalog.basisT), ', inventory at ', txRef(s.inventory.basisT));
  $('#join-result').replaceChildren(table(['sku', 'name', 'price', 'stock'], rows, { limit: 400, numeric: [2, 3] }));
}

// The watchlist (the page's own database) joined with the catalog and the inventory,
// wherever those come from (replicas, published buckets, memory).
async function renderWatch(d, s) {
  const [rows, t] = await timed(() => d.q(Q.WATCH, s.watchlist, s.catalog, s.inventory));
  rows.sort((a, b) => a[0].localeCompare(b[0]));
  $('#watch-meta').replaceChildren(h('b', {}, `${rows.length} watched`), ` · ${ms(t)} · three databases: `,
    demo.replicas.mode === 'local' ? 'memory' : 'IndexedDB', ' × catalog × inventory');
  $('#watch-result').replaceChildren(table(['sku', 'name', 'price', 'stock'], rows, { numeric: [2, 3] }));
}

// Time travel: the catalog's commits on a slider; a date overrides.
const time = { commits: [], index: null, date: null };

async function renderTime(d, s) {
  const commits = (await d.q(Q.CATALOG_TXS, s.catalog))
    .filter(([, inst]) => inst.getTime() > 0).sort((a, b) => a[0] - b[0]);
  const slider = $('#time-commit');
  time.commits = commits;
  slider.max = String(Math.max(0, commits.length - 1));
  // The January price list by default (commit 2: the first holding products).
  if (time.index === null || time.index >= commits.length) time.index = Math.min(1, commits.length - 1);
  slider.value = String(time.index);
  if (!commits.length) {
    $('#time-commit-label').textContent = 'the catalog has no commits yet';
    $('#time-meta').replaceChildren();
    $('#time-result').replaceChildren();
    return;
  }
  let then;
  if (time.date) {
    then = s.catalog.asOf(time.date);
    $('#time-commit-label').textContent = `as of ${fmt(time.date)}`;
  } else {
    const [tx, inst, note] = commits[time.index];
    then = s.catalog.asOf(tx);
    $('#time-commit-label').replaceChildren('commit ', txRef(tx), ` of ${commits.length} · ${fmt(inst)} · ${note || '(no note)'}`);
  }
  const [rows, t] = await timed(() => d.q(Q.TIME_TRAVEL, then, s.catalog, s.inventory));
  const delta = (r) => r[3] - r[2];
  rows.sort((a, b) => Math.abs(delta(b)) - Math.abs(delta(a)) || a[0].localeCompare(b[0]));
  const changed = rows.filter((r) => Math.abs(delta(r)) > 1e-9).length;
  $('#time-meta').replaceChildren(h('b', {}, `${rows.length} products`),
    ` of that catalog are in stock now; ${changed} priced differently today · ${ms(t)}`);
  const shown = rows.map((r) => [r[0], r[1], r[2], r[3], r[3] - r[2], r[4]]);
  $('#time-result').replaceChildren(table(['sku', 'name', 'price then', 'price now', 'change', 'stock now'], shown, {
    limit: 300, numeric: [2, 3, 4, 5],
    cell: (v, i) => (i === 4 ? h('span', { class: v > 1e-9 ? 'up' : v < -1e-9 ? 'down' : null },
      Math.abs(v) < 1e-9 ? '–' : `${v > 0 ? '+' : ''}${v.toFixed(2)}`) : fmt(v)),
  }));
}

// Multi-tenant analytics.
async function renderTenants(d, s) {
  const status = $('#tenants-status').value;
  const [[rows, cats], t] = await timed(() => Promise.all([
    d.q(Q.TENANTS, s.tenants, status), d.q(Q.TENANT_TOP_CATEGORY, s.catalog, s.tenants)]));
  rows.sort((a, b) => b[2] - a[2]);
  const sum = rows.reduce((acc, r) => acc + r[1], 0);
  $('#tenants-meta').replaceChildren(h('b', {}, `${sum} ${status.slice(1)} orders`), ` across ${TENANTS.length} databases · ${ms(t)} (both queries)`);
  $('#tenants-result').replaceChildren(table(['tenant', 'orders', 'total'], rows, { numeric: [1, 2] }));
  const categories = [...new Set(cats.map((r) => r[1]))].sort();
  const pivot = TENANTS.map((tn) => [tn, ...categories.map((c) => cats.find((r) => r[0] === tn && r[1] === c)?.[2] ?? 0)]);
  $('#tenants-categories').replaceChildren(table(['tenant', ...categories.map((c) => c.replace(':category/', ''))], pivot,
    { numeric: categories.map((_, i) => i + 1) }));
}

// Dashboard charts: stock (catalog × inventory) and orders (tenants).
// The dashboard's charts are reactive queries (d.subscribe) over the live connections,
// started once their databases hold data: a chart is redrawn when a commit changes its
// result, and only then; commits that cannot change it (other attributes, other
// databases) do not even re-run its query. The panel's meta line counts both.
const subscriptions = new Map();  // panel run function → its subscriptions' stop functions

function subscribePanel(key, p, queries) {
  const { d } = demo;
  const stops = queries.map(([query, inputs, draw]) => d.subscribe(query, inputs, (rows) => {
    draw(rows);
    setBoxes(p, 'ready');
    showLiveMeta();
  }, { onError: (e) => {
    setBoxes(p, 'error');
    demo.errors.push(`${p.id}: ${e.message}`);
    console.error(p.id, e);
  } }));
  subscriptions.set(key, stops);
}

function showLiveMeta() {
  const stats = [...subscriptions.values()].flat().map((stop) => stop.stats());
  const sum = (k) => stats.reduce((n, st) => n + st[k], 0);
  const el = $('#dashboard-meta');
  el.dataset.redraws = String(sum('callbacks'));
  el.dataset.skipped = String(sum('skipped'));
  el.textContent = `${stats.length} live queries: ${sum('callbacks')} redraws, ${sum('runs')} runs; ` +
    `${sum('skipped')} commits skipped without running (they cannot change a chart)`;
}

function subscribeStockCharts(d) {
  const c = demo.replicas.conns;
  subscribePanel(subscribeStockCharts, PANELS.find((p) => p.run === subscribeStockCharts), [
    [Q.STOCK, [c.catalog, c.inventory], (stock) => {
      stock.sort((a, b) => b[3] - a[3] || a[0].localeCompare(b[0]));  // most recently changed first
      barChart($('#chart-stock'), stock.slice(0, 20).map((r) => ({ label: `${r[0]} ${r[1].replace(/ \d+$/, '')}`, value: r[2] })),
        { labelWidth: 210 });
    }],
    [Q.STOCK_BY_CATEGORY, [c.catalog, c.inventory], (perCat) => {
      perCat.sort((a, b) => a[0].localeCompare(b[0]));
      barChart($('#chart-category'), perCat.map((r) => ({ label: r[0].replace(':category/', ''), value: r[1] })), { labelWidth: 100 });
    }],
  ]);
}

function subscribeOrdersChart(d) {
  const c = demo.replicas.conns;
  const statuses = ['completed', 'pending', 'cancelled'];
  subscribePanel(subscribeOrdersChart, PANELS.find((p) => p.run === subscribeOrdersChart), [
    [Q.ORDERS_BY_STATUS, [TENANTS.map((t) => [t, c[tenantDb(t)]])], (orders) => {
      barChart($('#chart-orders'), TENANTS.map((tn) => {
        const parts = statuses.map((st) => ({ value: orders.find((r) => r[0] === tn && r[1] === `:${st}`)?.[2] ?? 0, cls: st }));
        return { label: tn, value: parts.reduce((a, p) => a + p.value, 0), parts };
      }), { labelWidth: 100 });
    }],
  ]);
}

// The forms' data: SKU suggestions, and whether "Add a product" creates or updates.
async function refreshForms(d, s) {
  const skus = await d.q('[:find [?sku ...] :where [_ :inventory/sku ?sku]]', s.inventory);
  $('#sku-list').replaceChildren(...skus.sort().slice(0, 400).map((sku) => h('option', { value: sku })));
  await showProductTarget(d, s);
}

// ---- writes ----

// What each form writes (and reads: the order form prices the order from the catalog).
const FORMS = {
  'stock-form': () => ({ writes: ['inventory'], reads: ['inventory'] }),
  'product-form': () => ({ writes: ['catalog', 'inventory'], reads: ['catalog', 'inventory'] }),
  'order-form': () => ({ writes: [tenantDb($('#order-tenant').value)], reads: ['catalog'] }),
};

// Writes work offline (docs/offline.md): they apply to the replicas at once and wait in
// their outboxes until the server returns. A button is disabled only until the data its
// form reads and writes has arrived (a replica with no snapshot takes no writes).
const OFFLINE_NOTE = 'offline — saved here, sent when the server returns';
const PUBLISHED_NOTE = 'read-only: a published database (publish a new version with datalith publish)';
function updateWriteControls(replicas) {
  if (!demo.opened) return;
  for (const [id, what] of Object.entries(FORMS)) {
    const { writes, reads } = what();
    const waiting = replicas.missing([...writes, ...reads]).length > 0;
    const published = writes.some((n) => replicas.state(n) === 'published');
    const form = $(`#${id}`);
    form.dataset.blocked = waiting ? 'waiting' : published ? 'published' : '';
    form.querySelector('button[type=submit]').disabled = waiting || published;
    form.querySelector('.why').textContent = waiting ? 'waiting for the first sync…' : published ? PUBLISHED_NOTE
      : writes.some((n) => replicas.state(n) === 'offline') ? OFFLINE_NOTE : '';
  }
  showPending(replicas);
}

// transact()'s options for a write to database `name`: while it is not live, resolve
// once the write is in its outbox (the server's answer comes when it returns).
const writeOpts = (replicas, name) => ({ wait: ['live', 'local'].includes(replicas.state(name)) ? 'server' : 'local' });

// "N writes waiting for the server", over every replica's outbox.
function showPending(replicas) {
  const n = Object.values(replicas.conns).reduce((sum, c) => sum + (c?.pending ?? 0), 0);
  $('#write-pending').textContent = n === 0 ? '' : `${n} write${n === 1 ? '' : 's'} waiting for the server`;
}

async function write(what, fn) {
  const out = $('#write-result');
  out.textContent = `sending ${what}…`;
  const t0 = performance.now();
  try {
    const reports = await fn();
    if (reports.some((r) => r.pending)) {
      return out.replaceChildren(h('b', {}, `saved ${what} here`), ` in ${ms(performance.now() - t0)}: `,
        'queued offline, it goes to the server when it returns');
    }
    out.replaceChildren(h('b', {}, `saved ${what}`), ': ',
      ...reports.flatMap((r, i) => (i ? [', ', txRef(r.txId)] : [txRef(r.txId)])),
      ` committed by the server and received back in ${ms(performance.now() - t0)}`);
  } catch (e) {
    out.replaceChildren(h('span', { class: 'up' }, `not saved (${what}): ${e.message}`));
  }
}

// "Add a product" validates before it writes, and says before saving whether the SKU
// is new (add) or already in the catalog (update: its current values are shown).
const SKU_RE = /^[A-Za-z0-9-]{1,20}$/;  // what the input's pattern attribute allows
const SKU_RULE = 'a SKU is 1 to 20 letters, digits or dashes (no spaces)';
let productSeq = 0;

async function lookupProduct(d, s, sku) {
  const [product, stock] = await Promise.all([
    d.q('[:find (pull ?p [:product/name :product/price :product/category]) . :in $ ?sku :where [?p :product/sku ?sku]]',
      s.catalog, sku),
    d.q('[:find ?stock . :in $ ?sku :where [?i :inventory/sku ?sku] [?i :inventory/stock ?stock]]', s.inventory, sku)]);
  return { product, stock };
}

async function showProductTarget(d, s) {
  const sku = $('#product-sku').value.trim();
  const seq = ++productSeq;
  const show = (label, bad, ...text) => {
    $('#product-save').textContent = label;
    $('#product-note').className = bad ? 'note bad' : 'note';
    $('#product-note').replaceChildren(...text);
  };
  if (!sku) return show('Add product', false);
  if (!SKU_RE.test(sku)) return show('Add product', true, `“${sku}” is not a valid SKU: ${SKU_RULE}.`);
  if (demo.replicas.missing(['catalog', 'inventory']).length) return show(`Add product ${sku}`, false);
  const { product, stock } = await lookupProduct(d, s, sku);
  if (seq !== productSeq) return undefined;  // the SKU changed meanwhile
  if (!product) return show(`Add product ${sku}`, false, `${sku} is not in the catalog: saving adds it.`);
  return show(`Update product ${sku}`, false, h('b', {}, `${sku} exists`), `: “${product['product/name']}”, `,
    `${fmt(product['product/price'])}, ${String(product['product/category']).replace(':category/', '')}, `,
    `stock ${stock ?? 'none'}. Saving replaces these values.`);
}

// The product form's fields, or the problems that keep it from being saved.
function readProduct() {
  const field = (id) => $(`#product-${id}`);
  const sku = field('sku').value.trim(), name = field('name').value.trim();
  const price = field('price').value === '' ? NaN : Number(field('price').value);
  const stock = field('stock').value === '' ? NaN : Number(field('stock').value);
  const problems = [];
  if (!SKU_RE.test(sku)) problems.push(['sku', sku ? `“${sku}” is not a valid SKU: ${SKU_RULE}` : `the SKU is empty: ${SKU_RULE}`]);
  if (!name) problems.push(['name', 'the name is empty']);
  if (!(Number.isFinite(price) && price >= 0)) problems.push(['price', 'the price must be a number of 0 or more']);
  if (!(Number.isInteger(stock) && stock >= 0)) problems.push(['stock', 'the stock must be a whole number of 0 or more']);
  for (const id of ['sku', 'name', 'price', 'stock']) {
    if (problems.some(([f]) => f === id)) field(id).setAttribute('aria-invalid', 'true');
    else field(id).removeAttribute('aria-invalid');
  }
  return { sku, name, price, stock, category: $('#product-category').value, problems };
}

async function saveProduct(d, replicas) {
  const p = readProduct();
  if (p.problems.length) {
    const note = $('#product-note');
    note.className = 'note bad';
    note.textContent = `Not saved: ${p.problems.map(([, m]) => m).join('; ')}.`;
    $(`#product-${p.problems[0][0]}`).focus();
    return;
  }
  const { product, stock } = await lookupProduct(d, replicas.snapshots(), p.sku);
  const inventory = { 'inventory/sku': p.sku, 'inventory/stock': p.stock };
  if (stock === null || stock === undefined) inventory['inventory/warehouse'] = 'north';
  await write(`${product ? 'updated' : 'new'} product ${p.sku}`, async () => [
    await replicas.conns.catalog.transact([{ 'product/sku': p.sku, 'product/name': p.name, 'product/price': p.price,
      'product/category': `:category/${p.category}` }], writeOpts(replicas, 'catalog')),
    await replicas.conns.inventory.transact([inventory], writeOpts(replicas, 'inventory'))]);
}

// ---- controls ----

function setupStatic() {
  showQuery($('#join-query'), Q.JOIN);
  showQuery($('#time-query'), Q.TIME_TRAVEL);
  showQuery($('#tenants-query'), Q.TENANTS);
}

function setupControls(d, replicas) {
  const max = $('#join-max');
  max.addEventListener('input', () => { $('#join-max-out').textContent = max.value; schedule('join'); });
  $('#time-commit').addEventListener('input', (e) => {
    time.index = Number(e.target.value);
    time.date = null;
    $('#time-date').value = '';
    schedule('time');
  });
  $('#time-date').addEventListener('change', (e) => {
    time.date = e.target.value ? new Date(e.target.value) : null;
    schedule('time');
  });
  $('#tenants-status').addEventListener('change', () => schedule('tenants'));

  $('#stock-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const sku = $('#stock-sku').value.trim(), stock = Number($('#stock-value').value);
    write(`stock of ${sku} → ${stock}`, async () => {
      // Conditional on the count this page shows (:db/cas): if someone else changed it
      // meanwhile (say, while this page was offline), the server refuses the write.
      const conn = replicas.conns.inventory;
      const seen = await d.q('[:find ?n . :in $ ?sku :where [?i :inventory/sku ?sku] [?i :inventory/stock ?n]]', conn.db(), sku);
      const tx = seen === null || seen === undefined ? [{ 'inventory/sku': sku, 'inventory/stock': stock }]
        : [[':db/cas', ['inventory/sku', sku], 'inventory/stock', seen, stock]];
      return [await conn.transact(tx, writeOpts(replicas, 'inventory'))];
    });
  });
  $('#product-sku').addEventListener('input', () => {
    $('#product-sku').removeAttribute('aria-invalid');
    showProductTarget(d, replicas.snapshots()).catch((e) => { $('#product-note').textContent = `lookup failed: ${e.message}`; });
  });
  $('#product-form').addEventListener('submit', (e) => {
    e.preventDefault();
    saveProduct(d, replicas).catch((err) => {
      $('#write-result').replaceChildren(h('span', { class: 'up' }, `not saved: ${err.message}`));
    });
  });

  $('#watch-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const sku = $('#watch-sku').value.trim();
    if (!sku) return;
    replicas.watchlist.transact([{ 'watch/sku': sku, 'watch/added': new Date() }])
      .then(() => { $('#watch-sku').value = ''; })
      .catch((err) => { $('#watch-meta').replaceChildren(h('span', { class: 'up' }, `not saved: ${err.message}`)); });
  });

  $('#order-tenant').append(...TENANTS.map((t) => h('option', { value: t }, t)));
  $('#order-tenant').addEventListener('change', () => updateWriteControls(replicas));
  $('#order-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const tenant = $('#order-tenant').value, sku = $('#order-sku').value.trim(), qty = Number($('#order-qty').value);
    write(`order of ${qty} × ${sku} for ${tenant}`, async () => {
      const price = await d.q('[:find ?price . :in $ ?sku :where [?p :product/sku ?sku] [?p :product/price ?price]]',
        replicas.conns.catalog.db(), sku);
      if (price === null || price === undefined) throw new Error(`no product ${sku} in the catalog`);
      const id = `${tenant}-web-${Date.now().toString(36)}`;
      return [await replicas.conns[tenantDb(tenant)].transact([{ 'order/id': id, 'order/sku': sku, 'order/qty': qty,
        'order/status': ':completed', 'order/total': Math.round(qty * price * 100) / 100, 'order/placed': new Date() }],
      writeOpts(replicas, tenantDb(tenant)))];
    });
  });

  // Console.
  const input = $('#console-input'), examples = $('#console-examples'), dflt = $('#console-default');
  input.value = Q.CONSOLE_EXAMPLE;
  examples.append(h('option', { value: '', disabled: true, selected: true }, 'choose one…'),
    ...Object.keys(Q.CONSOLE_EXAMPLES).map((k) => h('option', { value: k }, k)));
  examples.addEventListener('change', () => { input.value = Q.CONSOLE_EXAMPLES[examples.value]; runConsole(d, replicas); });
  dflt.append(...['catalog', 'inventory', ...TENANTS].map((n) => h('option', { value: n }, n)));
  dflt.addEventListener('change', () => runConsole(d, replicas));
  $('#console-run').addEventListener('click', () => runConsole(d, replicas));
  input.addEventListener('input', () => {
    examples.value = '';  // no longer the example it was
    showDefaultUse(input.value);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runConsole(d, replicas); }
  });
  runConsole(d, replicas);
}

// ---- console ----

// The "$ is" choice only matters to a query that binds $ (no :in, or :in naming $).
function showDefaultUse(text) {
  const used = usesDefault(text);
  $('#console-default').disabled = !used;
  $('#console-default-note').textContent = used ? '' : 'not used: this query’s :in does not name $';
}

let consoleWaiting = null;  // the databases a console query waits for (it runs when they arrive)

function showConsoleWaiting(replicas) {
  const result = $('#console-result');
  result.dataset.state = 'loading';
  result.replaceChildren(h('p', { class: 'loading' }, waitingText(replicas, consoleWaiting)));
}

async function runConsole(d, replicas) {
  const text = $('#console-input').value;
  const err = $('#console-error'), meta = $('#console-meta'), result = $('#console-result');
  showDefaultUse(text);
  err.hidden = true;
  consoleWaiting = null;
  let snaps = null;
  try {
    snaps = replicas.snapshots();
    const { inputs, reads } = bindInputs(text, snaps, $('#console-default').value);
    consoleWaiting = replicas.missing(reads).length ? reads : null;
    if (consoleWaiting) {
      meta.replaceChildren();
      showConsoleWaiting(replicas);
      return;
    }
    const [value, t] = await timed(() => d.q(text, ...inputs));
    const { head, rows } = rowsOf(value);
    const cols = findColumns(text);
    meta.replaceChildren(h('b', {}, `${rows.length} ${rows.length === 1 ? 'row' : 'rows'}`), ` · ${ms(t)}`);
    result.replaceChildren(table(head ?? (cols && cols.length === (rows[0]?.length ?? cols.length) ? cols : null), rows, { limit: 500 }));
    result.dataset.state = 'ready';
  } catch (e) {
    meta.replaceChildren(h('span', { class: 'up' }, 'error'));
    result.replaceChildren();
    result.dataset.state = 'error';
    err.hidden = false;
    err.textContent = e.message;
    const pos = errorPosition(e.message);
    if (pos) {
      const lines = text.split('\n');
      const line = lines[pos.line - 1] ?? '';
      err.textContent += `\n\n${String(pos.line).padStart(3)} | ${line}\n    | ${' '.repeat(Math.max(0, pos.col - 1))}^`;
      const offset = lines.slice(0, pos.line - 1).reduce((a, l) => a + l.length + 1, 0) + pos.col - 1;
      $('#console-input').setSelectionRange(offset, Math.min(text.length, offset + 1));
    }
    const why = snaps && explainSourceError(e.message, text, snaps);
    if (why) err.textContent += `\n\n${why}`;
    err.dataset.line = pos?.line ?? '';
    err.dataset.col = pos?.col ?? '';
  } finally {
    demo.consoleRuns++;
  }
}

start().catch((e) => {
  console.error(e);
  setStatus('offline', 'failed to start');
  const banner = $('#banner');
  banner.hidden = false;
  banner.className = 'banner offline';
  banner.textContent = `The demo could not start: ${e.message}`;
  demo.error = e.message;
});
