// Type-level test of wasm/js/index.d.ts through the package's own exports map:
//   npx tsc --noEmit --strict --target es2022 --module nodenext wasm/test/types.test.ts
// Compiles only; each @ts-expect-error line must be a type error.
import { init, Uuid } from 'datalith';
import { useQuery, type QueryState } from 'datalith/react';
import type { Connection, Datalith, Datom, Db, DatabaseConfig, OutboxEntry, PendingTxReport, PullResult, TxReport, StoreStats, SubscriptionStats, SyncEvent, SyncState, SyncTxReport, Unsubscribe } from 'datalith';

async function usage(): Promise<void> {
  const d: Datalith = await init();
  const cfg: DatabaseConfig = { store: { backend: 'memory', id: 'catalog' }, schemaFlexibility: 'read' };
  await d.createDatabase(cfg);
  const exists: boolean = await d.databaseExists(cfg);
  const conn: Connection = await d.connect(cfg);

  const report: TxReport = await conn.transact([
    { 'product/sku': 'W001', 'product/name': 'Widget', 'product/price': 9.99, ':product/tags': [':a', ':b'] },
    { 'db/id': 'g', 'product/sku': 'G001', 'product/added': new Date(), 'product/id': d.uuid('5a0c3f1e-0000-4000-8000-00000000000a') },
    [':db/add', 'g', 'product/name', 'Gizmo'],
    [':db/retract', ['product/sku', 'W001'], 'product/price', 9.99],
    [':db/add', 'g', 'product/big', 2n ** 60n],
  ]);
  const txId: number = report.txId;
  const eid: number = report.tempids['g'];
  const datom: Datom = report.txData[0];
  const [e, a, , tx, added] = datom;
  const s: string = a;
  void [exists, txId, eid, e, s, tx, added];
  await conn.transact('[[:db/add "x" :product/sku "X1"]]');

  const db: Db = conn.db();
  const basis: number = db.basisT;
  const views: Db[] = [db.asOf(txId), db.asOf(new Date()), db.since(3), db.history(), db.asOf(1n)];
  const p: PullResult | null = await db.pull('[* {:product/parts [*]}]', ['product/sku', 'W001']);
  const many: (PullResult | null)[] = await db.pullMany('[:product/name]', [eid, ['product/sku', 'G001'], ':db/ident']);
  const ds: Datom[] = await db.datoms('avet', 'product/sku', 'W001');
  await db.datoms(':eavt');
  void [basis, views, p, many, ds];

  const rows = await d.q<[string, number][]>('[:find ?n ?p :where [?e :product/name ?n] [?e :product/price ?p]]', db);
  const first: string | undefined = rows[0]?.[0];
  const anything: unknown = await d.q('[:find ?t (count ?o) :in [[?t $db] ...] :where [$db ?o :order/status]]',
    [['acme', db], ['globex', db.asOf(txId)]]);
  await d.q('[:find ?e :in $ % ?min :where (r ?e)]', db, '[[(r ?e) [?e :a]]]', 10, d.edn('[*]'), new Set([1, 2]));
  void [first, anything];

  const stop: () => void = conn.listen((r: TxReport) => { void r.tempids; });
  // Reactive queries: live connections and views next to snapshots and values.
  const live: Unsubscribe = d.subscribe<string[]>('[:find [?n ...] :in $ $h ?min :where [_ :product/name ?n]]',
    [conn, d.live(conn, (x: Db) => x.history()), 10], (names: string[]) => { void names.length; },
    { onError: (err) => { void err.code; } });
  const subStats: SubscriptionStats = live.stats();
  void subStats.runs;
  live();
  const queryState: QueryState<string[]> = useQuery<string[]>(d, '[:find [?n ...] :where [_ :product/name ?n]]', [conn]);
  const names: string[] | undefined = queryState.data;
  void [names, queryState.loading, queryState.error?.message, useQuery(null, '[:find ?x]')];
  stop();
  const stats: StoreStats = conn.stats();
  const nodes: number = stats.nodesRead + stats.batches + stats.bytesRead;
  void nodes;
  const u: Uuid = d.uuid('5a0c3f1e-0000-4000-8000-00000000000a');
  const text: string = u.toString();
  const version: string = d.version;
  void [text, version];
  await conn.close();
  await d.deleteDatabase(cfg);

  // A replica of a server's database.
  const replica: Connection = await d.connect({
    store: { backend: 'indexeddb', id: 'inventory' },
    sync: { url: 'ws://127.0.0.1:8080/sync', db: 'inventory', token: 't', backoff: { initialMs: 100 } },
  });
  const state: SyncState | null = replica.syncState;
  const role: 'leader' | 'follower' | null = replica.syncRole;
  const unsubscribe: () => void = replica.onSync((ev: SyncEvent) => {
    if (ev.type === 'update') {
      const n: number = ev.nodes + ev.bytes;
      const c: string = ev.commit;
      void [n, c];
    }
  });
  await replica.synced();
  const sent = (await replica.transact([{ 'item/sku': 'A-1' }])) as SyncTxReport;
  const where: string = sent.commit;
  const local: PendingTxReport = await replica.transact([{ 'item/sku': 'A-2' }], { wait: 'local' });
  const queued: number = replica.pending;
  const entries: OutboxEntry[] = replica.outbox();
  if (entries[0]?.state === 'rejected') await replica.discard(entries[0].clientId);
  replica.onSync((ev) => {
    if (ev.type === 'rejected') void [ev.clientId, ev.tx, ev.error.code, ev.pending];
  });
  void [state, role, unsubscribe, where, local.clientId, queued];
  // @ts-expect-error wait is 'server' or 'local'
  await replica.transact('[]', { wait: 'soon' });
  // @ts-expect-error syncState is read-only
  replica.syncState = 'live';
  // @ts-expect-error sync needs a url, a db and a token
  await d.connect({ store: { backend: 'memory', id: 'x' }, sync: { url: 'ws://x/sync' } });

  const pub = await d.connect({ store: { backend: 'http', url: 'https://cdn.example/catalog/', cache: 'memory', refreshMs: 60000 } });
  const moved: boolean = await pub.refresh();
  const requests: number | undefined = pub.stats().requests;
  void moved, requests;
  // @ts-expect-error an http store has a url, not an id
  await d.connect({ store: { backend: 'http', id: 'x' } });
  // @ts-expect-error unknown backend
  await d.connect({ store: { backend: 'localstorage', id: 'x' } });
  // @ts-expect-error schemaFlexibility is 'read' or 'write'
  await d.connect({ store: { backend: 'memory', id: 'x' }, schemaFlexibility: 'loose' });
  // @ts-expect-error transaction data is an array or EDN text
  await conn.transact({ 'product/sku': 'W001' });
  // @ts-expect-error functions are not values
  await conn.transact([{ 'product/sku': () => 1 }]);
  // @ts-expect-error unknown index
  await db.datoms('xyz');
  // @ts-expect-error asOf takes a tx id or a Date
  db.asOf('yesterday');
  // @ts-expect-error basisT is read-only
  db.basisT = 3;
  // @ts-expect-error pull patterns are EDN strings
  await db.pull(['*'], 1);
  // @ts-expect-error listen callbacks take a report
  conn.listen((r: string) => r);
  // @ts-expect-error subscribe takes its inputs as an array
  d.subscribe('[:find ?x]', conn, () => {});
  // @ts-expect-error a view maps a Db to a Db
  d.live(conn, (x: Db) => x.basisT);
}

void usage;
