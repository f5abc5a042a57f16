// Types of the `datalith` package (written by hand; checked by wasm/test/types.test.ts).

/** A uuid value (`d.uuid(text)`); results hold uuids as Uuid objects. */
export class Uuid {
  /** @throws Error unless `text` is 8-4-4-4-12 hex digits. */
  constructor(text: string);
  toString(): string;
  toJSON(): string;
  equals(other: unknown): boolean;
}

/** EDN text passed through untouched (`d.edn('[*]')`), e.g. a pull pattern as a query input. */
export interface EdnText {
  readonly text: string;
}

/** A keyword: a string with a leading colon, e.g. `':product/name'`. */
export type Keyword = `:${string}`;

/**
 * A value crossing the boundary. JS → EDN: strings starting with ':' are keywords
 * ('\\:' escapes the colon), integral numbers longs, other numbers doubles, BigInt a
 * long, Date an instant, Uuid a uuid, arrays vectors, Sets sets, Maps and plain objects
 * maps. Results use the same conventions (longs beyond 2^53 come back as BigInt).
 */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Date
  | Uuid
  | EdnText
  | readonly Value[]
  | ReadonlySet<Value>
  | ReadonlyMap<Value, Value>
  | { readonly [key: string]: Value | undefined };

/** Entity ids are numbers. */
export type EntityId = number;
/** `['person/email', 'ann@example.com']`: the attribute may omit the colon. */
export type LookupRef = readonly [attribute: string, value: Value];
/** An entity position: an id, a lookup ref, an ident keyword or (in transactions) a tempid string. */
export type EntityRef = EntityId | LookupRef | string;

/** An entity map: attribute names (with or without the colon) to values. */
export type EntityMap = { readonly [attribute: string]: Value | undefined };
/** `[':db/add', eid, 'product/name', 'Gizmo']`, `[':db/retractEntity', eid]`, `[':db/cas', ...]`, ... */
export type ListForm = readonly [op: string, ...args: Value[]];
export type TxData = readonly (EntityMap | ListForm)[];

/** `[e, a, v, tx, added]`; `a` is the attribute's keyword. */
export type Datom = [e: EntityId, a: Keyword, v: unknown, tx: number, added: boolean];

export interface TxReport {
  txId: number;
  /** Tempid → entity id; includes `"datomic.tx"`. */
  tempids: Record<string, EntityId>;
  txData: Datom[];
  /** On a replica (config.sync): the server commit this report belongs to. */
  commit?: string;
  /**
   * On a replica: the update skipped transactions it cannot report (a first sync, or a
   * replica too far behind); `txData` is empty and anything may have changed.
   */
  reset?: true;
}

/** One transaction of the log (`conn.log()`). */
export interface LogEntry {
  txId: number;
  txData: Datom[];
}

/** A pulled entity: attribute names without the colon (`'product/name'`) to values. */
export interface PullResult {
  [attribute: string]: unknown;
}

export type IndexName = 'eavt' | 'aevt' | 'avet' | 'vaet' | ':eavt' | ':aevt' | ':avet' | ':vaet';

export type StoreConfig = LocalStoreConfig | HttpStoreConfig;

export interface LocalStoreConfig {
  backend: 'memory' | 'indexeddb';
  /** The memory store's key in this process, or the IndexedDB database `datalith:<id>`. */
  id: string;
}

/**
 * A database published with `datalith publish` on a static host (any web server, bucket
 * or CDN; docs/format.md §6): read-only, read lazily, every object verified against its
 * address. `transact` rejects with code 'read_only'.
 */
export interface HttpStoreConfig {
  backend: 'http';
  /** The http:// or https:// prefix it is published at (the folder holding `heads/` and `blobs/`). */
  url: string;
  /**
   * Where verified objects are kept: 'indexeddb' (the default where IndexedDB exists:
   * the database `datalith-http:<url>`, so a page opens it offline and answers what it
   * read before) or 'memory' (64 MB at most).
   */
  cache?: 'indexeddb' | 'memory';
  /** Read the head again every this many milliseconds (at least 100); else only on `refresh()`. */
  refreshMs?: number;
  /** The function that fetches (default: the global fetch), e.g. to sign requests to a private bucket. */
  fetch?: (url: string, init?: { cache?: string }) => Promise<Response>;
}

/** A replica's server (docs/sync-protocol.md). */
export interface SyncConfig {
  /** `ws://HOST:PORT/sync` or `wss://…`. */
  url: string;
  /** The server's database name: `[A-Za-z0-9_-]{1,64}`. */
  db: string;
  /** A read or write token of that database (at most 256 bytes). */
  token: string;
  /** Reconnect delays: jittered exponential from `initialMs` (250) up to `maxMs` (30 000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Give up on an attempt that has no `welcome` after this long (15 000 ms). */
  timeoutMs?: number;
  /** A WebSocket class to use instead of `globalThis.WebSocket` or the `ws` package. */
  WebSocket?: unknown;
}

export type SyncState = 'connecting' | 'syncing' | 'live' | 'offline';

/** `conn.onSync` events; every one carries the state and the replica's head. */
export type SyncEvent = { state: SyncState; head: string | null } & (
  | { type: 'state'; code?: number; reason?: string; retryInMs?: number; error?: Error }
  /** A NODES frame arrived: totals so far for the update being received. */
  | { type: 'progress'; nodes: number; bytes: number; frames: number }
  /** The server asked which of `addresses` nodes the replica holds. */
  | { type: 'probe'; addresses: number; held: number }
  /** An update is stored and exposed: the commit reached and what it took. */
  | { type: 'update'; commit: string; tx: number; apply: 'log' | 'nodes'; nodes: number; bytes: number; frameBytes: number; frames: number; ms: number }
  | { type: 'error'; error: Error & { code?: string }; fatal: boolean }
  /** The outbox's pending count changed (`pending`). */
  | { type: 'outbox' }
  /** This tab became the one that syncs the replica for the browser's tabs. */
  | { type: 'role'; role: 'leader' }
  /** The server refused a pending write; told again to each new `onSync` until `discard`. */
  | { type: 'rejected'; clientId: string; tx: string; error: Error & { code?: string } }) & {
  /** Writes in the replica's outbox not yet committed (docs/offline.md). */
  pending: number;
};

export interface SyncStats {
  updates: number;
  /** Updates that came as logs the replica replayed (the rest came as nodes). */
  logUpdates: number;
  /** Logs that did not rebuild the server's commit (the nodes were sent instead). */
  resends: number;
  nodes: number;
  /** Blob bytes as stored. */
  bytes: number;
  /** NODES frame bytes as received (after the frame header; zstd-compressed or not). */
  frameBytes: number;
  frames: number;
  reconnects: number;
}

/**
 * A replica's transaction report: the server's. `txData` is empty (the replica receives
 * nodes, not datoms); `datoms` counts what the transaction changed; `commit` is the
 * server commit that holds it.
 */
export interface SyncTxReport extends TxReport {
  datoms: number;
  commit: string;
  /** The write's client id (docs/offline.md). */
  clientId: string;
  /** The server had committed this write already (a resend after a lost answer). */
  duplicate?: true;
}

/** A replica's write as applied to its optimistic view: tempids map to provisional ids. */
export interface PendingTxReport extends TxReport {
  pending: true;
  clientId: string;
}

/** A write in a replica's outbox. */
export interface OutboxEntry {
  clientId: string;
  /** The transaction as EDN text. */
  tx: string;
  state: 'pending' | 'sent' | 'rejected';
  error?: { code: string; message: string };
  /** When it was made (ms since the epoch). */
  at: number;
}

export interface DatabaseConfig {
  store: StoreConfig;
  /**
   * Makes the database a replica of a datalith-server's database. `connect` opens the
   * local replica at once (empty before its first sync) and syncs in the background;
   * `transact` goes to the server.
   */
  sync?: SyncConfig;
  /** 'write' (default): attributes must be declared; 'read': any attribute is accepted. */
  schemaFlexibility?: 'read' | 'write';
  /** false drops retracted datoms (no asOf/since/history). Default true. */
  keepHistory?: boolean;
}

/** Storage reads of a database so far (IndexedDB, http; zeros for the memory backend). */
export interface StoreStats {
  /** Nodes read from storage (for http: fetched from the host). */
  nodesRead: number;
  bytesRead: number;
  batches: number;
  /** http: requests to the host, heads included. */
  requests?: number;
  /** http: nodes the cache answered. */
  cacheHits?: number;
}

/** An immutable database value. */
export interface Db {
  /** The newest transaction the snapshot includes. */
  readonly basisT: number;
  /** The database right after a transaction (tx id or count of transactions) or at an instant. */
  asOf(t: number | bigint | Date): Db;
  /** Only what was asserted or retracted after `t`. */
  since(t: number | bigint | Date): Db;
  /** Every assertion and retraction, with their `added` flags. */
  history(): Db;
  /** `pattern` is EDN text, e.g. `'[* {:product/parts [*]}]'`; null if the entity has nothing. */
  pull(pattern: string | EdnText, entity: EntityRef): Promise<PullResult | null>;
  pullMany(pattern: string | EdnText, entities: readonly EntityRef[]): Promise<(PullResult | null)[]>;
  /** Components in index order: entities (ids or lookup refs), attributes, values. */
  datoms(index: IndexName, ...components: Value[]): Promise<Datom[]>;
}

export interface Connection {
  /**
   * Applies and stores a transaction; EDN text is accepted as is. Transactions made
   * together are one group commit. On a replica, online or offline, it is applied to the
   * replica's view at once and kept in its outbox until the server commits it
   * (docs/offline.md): the promise resolves with the server's report (a `SyncTxReport`)
   * once the commit is in the replica, or with `{ wait: 'local' }` with the view's report
   * (a `PendingTxReport`) at once. It rejects with `code` 'tx_failed' (it does not apply
   * to the replica, or the server refused it), 'no_snapshot' (never synced), 'forbidden',
   * 'message_too_large', 'discarded', or 'unknown_outcome' (a server that cannot dedupe
   * resends lost the answer).
   * On IndexedDB, tabs writing one database take turns (a Web Lock); `code` 'conflict'
   * only if a tab without Web Locks committed first: nothing of this transaction was
   * stored and the connection continues from the stored head.
   */
  transact(txData: TxData | string): Promise<TxReport>;
  transact(txData: TxData | string, options: { wait: 'server' }): Promise<TxReport>;
  transact(txData: TxData | string, options: { wait: 'local' }): Promise<PendingTxReport>;
  /** A replica's writes not yet committed by the server (0 without `config.sync`). */
  readonly pending: number;
  /** The replica's outbox, oldest first. Throws without `config.sync`. */
  outbox(): OutboxEntry[];
  /** Drops a write not yet sent, or a rejected one (rejects with `code` 'sent' or 'not_found'). */
  discard(clientId: string): Promise<void>;
  /** The replica's sync state; null without `config.sync`. */
  readonly syncState: SyncState | null;
  /**
   * 'leader' if this tab syncs the replica (holds the socket), 'follower' if another
   * tab of this browser does it for this one; null without `config.sync`.
   */
  readonly syncRole: 'leader' | 'follower' | null;
  /** Sync progress; returns a function that stops it. Throws without `config.sync`. */
  onSync(callback: (event: SyncEvent) => void): () => void;
  /**
   * Resolves when the replica holds the server's head (state 'live'); rejects when
   * syncing stopped for good (`code` 'bad_token', 'unknown_database', 'version_mismatch')
   * or the connection is closed.
   */
  synced(): Promise<void>;
  /** Totals received by the sync client; null without `config.sync`. */
  syncStats(): SyncStats | null;
  /** The current snapshot. */
  db(): Db;
  /**
   * Calls `callback` after each transaction of this database, in order; returns a
   * function that stops it. On a replica, after each update from the server: one report
   * per transaction it brought (`txData` from the commits' logs, `tempids` empty,
   * `commit` the server commit), or one report with `reset: true` when the update
   * cannot say what changed (a first sync, a replica far behind). On a local IndexedDB
   * database, also after each commit of another tab (`tempids` empty; `reset: true`
   * if its transactions cannot be read).
   */
  listen(callback: (report: TxReport) => void): () => void;
  /**
   * The transaction log of a local database: the transactions with `from <= txId < to`
   * (each optional), oldest first, with their datoms. It reaches back as far as the
   * database's commits do (`datalith gc` shortens it). Not available on a replica.
   */
  log(range?: { from?: number; to?: number }): Promise<LogEntry[]>;
  /**
   * A published database (the http backend): reads its head again; true if the
   * connection moved to a newer commit (listeners then get one report with `reset: true`).
   * Snapshots taken before keep their data.
   */
  refresh(): Promise<boolean>;
  stats(): StoreStats;
  close(): Promise<void>;
}

/**
 * A query input: a Db, JS data, EDN text (`d.edn()`; a string bound to `%` is read as
 * rules), or arrays mixing data and Dbs (`[['acme', db1], ['globex', db2]]`).
 */
export type QueryInput = Db | Value | readonly QueryInput[];

/** A live input of `subscribe`: the connection's current snapshot through `view` at each run. */
export interface LiveInput {
  readonly connection: Connection;
  readonly view: ((db: Db) => Db) | null;
}

/**
 * An input of `subscribe`: what `q` takes, plus live inputs: a Connection (its current
 * snapshot at each run) or `d.live(conn, view)`, also inside arrays.
 */
export type SubscribeInput = QueryInput | Connection | LiveInput | readonly SubscribeInput[];

export interface SubscribeOptions {
  /**
   * Errors of the subscription. A malformed query, rules or inputs (or a closed
   * connection) end it after one call; a failed run is reported and the next change
   * runs again. A callback that throws is reported here too. Default: console.error.
   */
  onError?: (error: Error & { code?: string }) => void;
}

export interface SubscriptionStats {
  /** Queries run (the first one included). */
  runs: number;
  /** Transactions of a live input whose datoms the query's dependencies do not match: not run. */
  skipped: number;
  /** Results passed to the callback (runs whose result differed from the last one). */
  callbacks: number;
  errors: number;
}

/** Stops a subscription (idempotent). */
export interface Unsubscribe {
  (): void;
  stats(): SubscriptionStats;
}

export interface Datalith {
  /** Package and storage format version of the WASM core. */
  readonly version: string;
  /** @throws Error if the database exists. */
  createDatabase(config: DatabaseConfig): Promise<void>;
  databaseExists(config: DatabaseConfig): Promise<boolean>;
  /** @throws Error while the database has open connections. */
  deleteDatabase(config: DatabaseConfig): Promise<void>;
  /** Connections to one database share its writer and listeners. */
  connect(config: DatabaseConfig): Promise<Connection>;
  /**
   * Runs a Datalog query (EDN text). Relations come back as arrays of arrays; `[?x ...]`
   * as an array, `?x .` as a value, `[?a ?b]` as one array, `:keys` as objects.
   */
  q<T = unknown>(query: string, ...inputs: QueryInput[]): Promise<T>;
  /**
   * A reactive query: calls `callback` with the result now and again after each
   * transaction of a live input that changes it, never for one that does not (a
   * transaction whose datoms cannot change the result does not even run the query).
   * Transactions that arrive while a run is under way make one more run.
   */
  subscribe<T = unknown>(query: string, inputs: readonly SubscribeInput[], callback: (result: T) => void,
    options?: SubscribeOptions): Unsubscribe;
  /** A live input: `connection`'s current snapshot through `view` (e.g. `(db) => db.history()`) at each run. */
  live(connection: Connection, view?: (db: Db) => Db): LiveInput;
  uuid(text: string): Uuid;
  edn(text: string): EdnText;
}

/** Loads the WebAssembly module (once) and returns the API. */
export function init(): Promise<Datalith>;
