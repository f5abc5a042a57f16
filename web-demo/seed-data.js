// The demo's sample data, deterministic (a seeded PRNG, fixed dates): a product
// catalog with a year of price history, an inventory, and one orders database per
// tenant. Each database is a list of transactions as EDN text, seeded in order.
// Used by web-demo/server/serve.mjs (through the server's HTTP transact endpoint) and
// by the page's `?local` mode (memory databases, no server).

export const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];
export const tenantDb = (t) => `tenant-${t}`;
export const DATABASES = ['catalog', 'inventory', ...TENANTS.map(tenantDb)];

// mulberry32: small, fast, and the same numbers everywhere.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CATEGORIES = {
  tools: ['Hammer', 'Wrench', 'Screwdriver', 'Pliers', 'Saw', 'Chisel', 'Drill', 'Level'],
  garden: ['Rake', 'Shovel', 'Hose', 'Planter', 'Trowel', 'Sprinkler', 'Shears'],
  kitchen: ['Kettle', 'Skillet', 'Whisk', 'Colander', 'Grater', 'Ladle', 'Teapot'],
  office: ['Stapler', 'Notebook', 'Lamp', 'Binder', 'Marker', 'Chair', 'Shelf'],
  outdoor: ['Tent', 'Lantern', 'Backpack', 'Cooler', 'Hammock', 'Compass'],
};
const ADJECTIVES = ['Classic', 'Pro', 'Compact', 'Heavy-duty', 'Eco', 'Deluxe', 'Mini', 'Travel', 'Smart', 'Basic'];
const WAREHOUSES = ['north', 'south', 'east'];

const str = (s) => JSON.stringify(s);  // EDN strings escape like JSON for this data
const num = (x) => (Number.isInteger(x) ? `${x}.0` : String(x));
const money = (x) => Math.round(x * 100) / 100;
const inst = (iso) => `#inst ${str(iso)}`;
const txMeta = (iso, note) => `{:db/id "datomic.tx" :db/txInstant ${inst(iso)} :tx/note ${str(note)}}`;
const sku = (i) => `SKU-${String(i).padStart(4, '0')}`;

const INITIAL_PRODUCTS = 240;
const SUMMER_PRODUCTS = 60;
const ORDERS_PER_TENANT = [620, 480, 350, 300, 250];

// The products, deterministic: [{sku, name, category, price}].
function products() {
  const r = rng(7);
  const names = Object.entries(CATEGORIES).flatMap(([cat, items]) => items.map((n) => [cat, n]));
  const out = [];
  for (let i = 1; i <= INITIAL_PRODUCTS + SUMMER_PRODUCTS; i++) {
    const [category, noun] = names[Math.floor(r() * names.length)];
    const adj = ADJECTIVES[Math.floor(r() * ADJECTIVES.length)];
    out.push({ sku: sku(i), name: `${adj} ${noun} ${i}`, category, price: money(3 + r() * 180) });
  }
  return out;
}

// Catalog: schema, the January list, then dated price changes and a summer range.
export function catalogTxs() {
  const r = rng(11);
  const all = products();
  const first = all.slice(0, INITIAL_PRODUCTS), summer = all.slice(INITIAL_PRODUCTS);
  const price = new Map(all.map((p) => [p.sku, p.price]));
  const product = (p) => `{:product/sku ${str(p.sku)} :product/name ${str(p.name)} ` +
    `:product/category :category/${p.category} :product/price ${num(p.price)}}`;
  const reprice = (iso, note, pick, factor) => {
    const forms = [];
    for (const p of all) {
      if (!price.has(p.sku) || !pick(p)) continue;
      const v = money(price.get(p.sku) * factor(p));
      price.set(p.sku, v);
      forms.push(`{:product/sku ${str(p.sku)} :product/price ${num(v)}}`);
    }
    return `[${txMeta(iso, note)}\n${forms.join('\n')}]`;
  };
  for (const p of summer) price.delete(p.sku);  // not in the catalog before June
  const txs = [
    `[{:db/id "datomic.tx" :db/txInstant ${inst('2024-01-01T08:00:00.000Z')}}
      {:db/ident :product/sku :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
      {:db/ident :product/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one}
      {:db/ident :product/category :db/valueType :db.type/keyword :db/cardinality :db.cardinality/one}
      {:db/ident :product/price :db/valueType :db.type/double :db/cardinality :db.cardinality/one}
      {:db/ident :tx/note :db/valueType :db.type/string :db/cardinality :db.cardinality/one}]`,
    `[${txMeta('2024-01-02T09:00:00.000Z', 'January price list')}\n${first.map(product).join('\n')}]`,
    reprice('2024-03-15T09:00:00.000Z', 'Spring: tools and garden +8%',
      (p) => p.category === 'tools' || p.category === 'garden', () => 1.08),
  ];
  txs.push(`[${txMeta('2024-06-01T09:00:00.000Z', 'Summer range: 60 new products')}\n${summer.map(product).join('\n')}]`);
  for (const p of summer) price.set(p.sku, p.price);
  txs.push(reprice('2024-09-20T09:00:00.000Z', 'Autumn sale: outdoor -25%', (p) => p.category === 'outdoor', () => 0.75));
  txs.push(reprice('2024-12-01T09:00:00.000Z', 'Winter prices: kitchen and office revised',
    (p) => p.category === 'kitchen' || p.category === 'office', () => 0.9 + r() * 0.3));
  return txs;
}

// Inventory: stock per SKU and warehouse (a tenth of the products are out of stock;
// a few SKUs are stocked that the catalog no longer lists).
export function inventoryTxs() {
  const r = rng(23);
  const items = [];
  for (let i = 1; i <= INITIAL_PRODUCTS + SUMMER_PRODUCTS + 12; i++) {
    const out = r() < 0.1;
    const stock = out ? 0 : 1 + Math.floor(r() * 120);
    const wh = WAREHOUSES[Math.floor(r() * WAREHOUSES.length)];
    items.push(`{:inventory/sku ${str(sku(i))} :inventory/stock ${stock} :inventory/warehouse ${str(wh)}}`);
  }
  const chunks = [];
  for (let i = 0; i < items.length; i += 160) chunks.push(items.slice(i, i + 160));
  return [
    `[{:db/ident :inventory/sku :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
      {:db/ident :inventory/stock :db/valueType :db.type/long :db/cardinality :db.cardinality/one}
      {:db/ident :inventory/warehouse :db/valueType :db.type/string :db/cardinality :db.cardinality/one}]`,
    ...chunks.map((c) => `[${c.join('\n')}]`),
  ];
}

// Orders of one tenant: SKU, quantity, status, total, date in 2024.
export function tenantTxs(tenant) {
  const index = TENANTS.indexOf(tenant);
  if (index < 0) throw new Error(`unknown tenant ${tenant}`);
  const r = rng(101 + index);
  const all = products();
  const statuses = ['completed', 'completed', 'completed', 'pending', 'cancelled'];
  const orders = [];
  for (let i = 1; i <= ORDERS_PER_TENANT[index]; i++) {
    const p = all[Math.floor(r() * all.length)];
    const qty = 1 + Math.floor(r() * 9);
    const status = statuses[Math.floor(r() * statuses.length)];
    const day = new Date(Date.UTC(2024, 0, 1) + Math.floor(r() * 365) * 86400000).toISOString();
    orders.push(`{:order/id ${str(`${tenant}-${String(i).padStart(5, '0')}`)} :order/sku ${str(p.sku)} ` +
      `:order/qty ${qty} :order/status :${status} :order/total ${num(money(qty * p.price))} :order/placed ${inst(day)}}`);
  }
  const chunks = [];
  for (let i = 0; i < orders.length; i += 200) chunks.push(orders.slice(i, i + 200));
  return [
    `[{:db/ident :order/id :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
      {:db/ident :order/sku :db/valueType :db.type/string :db/cardinality :db.cardinality/one}
      {:db/ident :order/qty :db/valueType :db.type/long :db/cardinality :db.cardinality/one}
      {:db/ident :order/status :db/valueType :db.type/keyword :db/cardinality :db.cardinality/one}
      {:db/ident :order/total :db/valueType :db.type/double :db/cardinality :db.cardinality/one}
      {:db/ident :order/placed :db/valueType :db.type/instant :db/cardinality :db.cardinality/one}]`,
    ...chunks.map((c) => `[${c.join('\n')}]`),
  ];
}

// Every database's transactions, by database name.
export function seedTransactions() {
  const out = { catalog: catalogTxs(), inventory: inventoryTxs() };
  for (const t of TENANTS) out[tenantDb(t)] = tenantTxs(t);
  return out;
}
