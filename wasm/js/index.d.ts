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
}

/** A pulled entity: attribute names without the colon (`'product/name'`) to values. */
export interface PullResult {
  [attribute: string]: unknown;
}

export type IndexName = 'eavt' | 'aevt' | 'avet' | 'vaet' | ':eavt' | ':aevt' | ':avet' | ':vaet';

export interface StoreConfig {
  backend: 'memory' | 'indexeddb';
  /** The memory store's key in this process, or the IndexedDB database `datalith:<id>`. */
  id: string;
}

export interface DatabaseConfig {
  store: StoreConfig;
  /** 'write' (default): attributes must be declared; 'read': any attribute is accepted. */
  schemaFlexibility?: 'read' | 'write';
  /** false drops retracted datoms (no asOf/since/history). Default true. */
  keepHistory?: boolean;
}

/** Storage reads of a database so far (IndexedDB; zeros for the memory backend). */
export interface StoreStats {
  nodesRead: number;
  bytesRead: number;
  batches: number;
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
  /** Applies and stores a transaction; EDN text is accepted as is. */
  transact(txData: TxData | string): Promise<TxReport>;
  /** The current snapshot. */
  db(): Db;
  /** Calls `callback` after each commit of this database; returns a function that stops it. */
  listen(callback: (report: TxReport) => void): () => void;
  stats(): StoreStats;
  close(): Promise<void>;
}

/**
 * A query input: a Db, JS data, EDN text (`d.edn()`; a string bound to `%` is read as
 * rules), or arrays mixing data and Dbs (`[['acme', db1], ['globex', db2]]`).
 */
export type QueryInput = Db | Value | readonly QueryInput[];

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
  uuid(text: string): Uuid;
  edn(text: string): EdnText;
}

/** Loads the WebAssembly module (once) and returns the API. */
export function init(): Promise<Datalith>;
