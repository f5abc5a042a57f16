// Database values and connections.
//
// A `Db` is an immutable snapshot: a handful of shared pointers to persistent index
// roots. Copies are free; a Db stays valid and unchanged however far the writer moves
// on. Db methods are thread-safe (they only read immutable nodes and a thread-safe
// node cache).
//
// A `Connection` is the mutable reference to one database in one store: it owns the
// single writer. `Transact` applies a transaction in memory and returns at once with
// the new snapshot; the commit becomes durable at the next `Flush()`, which writes all
// pending transactions as one commit (group commit): new nodes first, then the commit
// record, then a compare-and-set of the branch head. A crash loses at most the
// unflushed transactions and always leaves the store at a completed commit.
// Connection methods are thread-safe and serialised.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "datalith/datom.h"
#include "datalith/edn.h"
#include "datalith/schema.h"
#include "datalith/status.h"
#include "datalith/store.h"

namespace datalith {

namespace internal {
struct DbState;
class DatomCursor;
}  // namespace internal

// Iterates datoms of one index of one Db, in index order.
class Db;

class DatomIterator {
 public:
  DatomIterator();
  ~DatomIterator();
  DatomIterator(DatomIterator&&) noexcept;
  DatomIterator& operator=(DatomIterator&&) noexcept;

  bool Valid() const;
  void Next();
  const Datom& datom() const;
  // Not OK after a storage error (then Valid() is false).
  const Status& status() const;
  // Moves forward to the first datom at or after the key of `components` (leading
  // parts of this iterator's index order, as for Db::DatomsIter), within the
  // iterator's range; a datom at or after that key stays current. Never moves back.
  // For skip-scans over ascending keys: a target near the current position costs a
  // binary search in one leaf. Errors are those of DatomsIter, or storage errors.
  Status SkipTo(const std::vector<Value>& components);
  // SkipTo({first, second}) of an index whose keys start with two ids (EAVT: e a;
  // AEVT: a e; VAET: v a), without encoding components: the inner loop of skip-scans
  // and pulls. InvalidArgument on AVET.
  Status SkipToIds(EntityId first, EntityId second);

 private:
  friend class Db;
  DatomIterator(std::unique_ptr<internal::DatomCursor> c, const Db& db, IndexType index);
  std::unique_ptr<internal::DatomCursor> cursor_;
  std::unique_ptr<Db> db_;  // for encoding SkipTo's components
  IndexType index_ = IndexType::kEavt;
};

struct DbStats {
  uint64_t datoms[kIndexCount] = {};          // current datoms per index
  uint64_t history_datoms[kIndexCount] = {};  // history entries per index
  uint64_t max_eid = 0;
  EntityId max_tx = 0;
};

class Db {
 public:
  Db();  // an empty, unusable database; Connection::db() gives real ones

  // The newest transaction this snapshot includes (its own basis, before filters).
  EntityId basis_tx() const;
  const Schema& schema() const;

  // Time views. asOf: the database as it was right after `tx` (a tx id; a number
  // below kTx0 counts transactions: t=1 is the first). since: only datoms added
  // after `tx`. history: every assertion and retraction ever, with `added` flags.
  // Views compose: db.AsOf(t2).Since(t1).
  Db AsOf(EntityId tx) const;
  // The database as of the last transaction whose :db/txInstant <= millis.
  Result<Db> AsOfInstant(int64_t millis) const;
  Db Since(EntityId tx) const;
  Result<Db> SinceInstant(int64_t millis) const;
  Db History() const;
  std::optional<EntityId> as_of() const { return as_of_; }
  std::optional<EntityId> since() const { return since_; }
  bool is_history() const { return history_; }

  // Index access. `components` are the leading parts of the index order: entity ids
  // as Ref or Long (or a lookup ref / ident), attributes as Keyword (or id), values,
  // tx as Long. `Datoms` gives exactly the datoms matching the components.
  Result<std::vector<Datom>> Datoms(IndexType index, const std::vector<Value>& components) const;
  Result<DatomIterator> DatomsIter(IndexType index, const std::vector<Value>& components) const;
  // Every datom from the position of `components` to the end of the index.
  Result<DatomIterator> SeekDatoms(IndexType index, const std::vector<Value>& components) const;
  // AVET datoms of `attr` with start <= v < end (either bound may be absent).
  Result<std::vector<Datom>> IndexRange(const std::string& attr, const std::optional<Value>& start,
                                        const std::optional<Value>& end) const;
  // Number of current datoms matching the components, in O(tree depth) (ignores
  // time filters: an estimate for the planner on filtered views).
  Result<uint64_t> Count(IndexType index, const std::vector<Value>& components) const;
  // Current datoms from the position of `from` through the last one matching `through`
  // (e.g. AVET {:a lo} .. {:a hi}: the values lo <= v <= hi), in O(tree depth).
  Result<uint64_t> CountRange(IndexType index, const std::vector<Value>& from,
                              const std::vector<Value>& through) const;

  // Resolves an entity reference: Long/Ref id, Keyword ident, or a lookup ref
  // Tuple [attr value] on a unique attribute. NotFound if it names nothing.
  Result<EntityId> Entid(const Value& ref) const;
  // The attribute id for a keyword (without colon), or an error naming it.
  Result<EntityId> AttrId(const std::string& ident) const;
  // A readable datom: [e :attr v tx added].
  std::string DatomString(const Datom& d) const;

  Result<DbStats> Stats() const;
  bool valid() const { return state_ != nullptr; }
  const std::shared_ptr<const internal::DbState>& state() const { return state_; }
  explicit Db(std::shared_ptr<const internal::DbState> s) : state_(std::move(s)) {}

 private:
  // The key bytes of `components` in `index` order (entity refs resolved).
  Result<std::string> KeyPrefix(IndexType index, const std::vector<Value>& components) const;
  Result<DatomIterator> Iter(IndexType index, const std::vector<Value>& components,
                             bool bounded) const;
  friend class DatomIterator;
  std::shared_ptr<const internal::DbState> state_;
  std::optional<EntityId> as_of_;
  std::optional<EntityId> since_;
  bool history_ = false;
};

struct TxReport {
  Db db_before;
  Db db_after;
  std::vector<Datom> tx_data;  // what the transaction changed, incl. the tx entity
  std::map<std::string, EntityId> tempids;  // "-1", "order-1", "datomic.tx"
  EntityId tx = 0;
  // The transaction's client id was already in the database: nothing was applied;
  // `tx` and `tempids` are the original transaction's, `tx_data` is empty and
  // db_before == db_after.
  bool duplicate = false;
};

// Options of one transaction.
struct TxOptions {
  // An idempotency key chosen by the client (1-64 characters of [A-Za-z0-9._:-]),
  // recorded on the tx entity as :datalith.tx/client in the same commit. A transaction
  // whose client id the database (pending transactions included) already holds applies
  // nothing and reports the original (TxReport::duplicate), so a resend after a lost
  // answer never applies twice. A rejected transaction records nothing.
  std::optional<std::string> client_id;
};

// OK if `id` is a valid client id, else InvalidArgument naming the problem.
Status CheckClientId(std::string_view id);

struct CreateOptions {
  SchemaFlexibility schema_flexibility = SchemaFlexibility::kWrite;
  bool keep_history = true;  // false: retracted datoms are dropped (no asOf/history)
  std::string branch = "main";
  size_t cache_bytes = size_t{256} << 20;
  // Group commit: Transact flushes by itself once this many transactions, or this
  // many bytes of new index keys, are pending. 1 = durable on every Transact.
  size_t max_pending_tx = 512;
  size_t max_pending_bytes = size_t{64} << 20;
};

struct OpenOptions {
  std::string branch = "main";
  size_t cache_bytes = size_t{256} << 20;
  size_t max_pending_tx = 512;
  size_t max_pending_bytes = size_t{64} << 20;
};

// One entry of the commit log (newest first).
struct CommitInfo {
  Address address;
  Address parent;   // zero for the first commit
  EntityId first_tx = 0;
  EntityId last_tx = 0;
  int64_t instant = 0;  // :db/txInstant of last_tx
  uint64_t datoms = 0;  // current datoms in EAVT after it
};

// One transaction of the log (Connection::TxRange, ApplyLog).
struct LogEntry {
  EntityId tx = 0;
  std::vector<Datom> datoms;  // what it changed, EAVT order, as TxReport::tx_data
};

// What the last Flush wrote.
struct FlushStats {
  uint64_t transactions = 0;
  uint64_t nodes_written = 0;
  uint64_t bytes_written = 0;
  Address commit;
};

// Node cache counters of a connection.
struct CacheStats {
  uint64_t loads = 0;       // nodes read from the store
  uint64_t load_bytes = 0;  // blob bytes read
  uint64_t hits = 0;
  uint64_t cached_nodes = 0;
  uint64_t cached_bytes = 0;
};

struct GcOptions {
  // Commits to keep along the head's parent chain (the head counts as one). Nodes
  // reachable from none of them are deleted, and so are older commit records.
  size_t keep_commits = 1;
};

struct GcStats {
  uint64_t marked = 0;
  uint64_t deleted = 0;
};

class Connection {
 public:
  // Creates the database in `store` (error if the branch exists) and connects.
  static Result<std::shared_ptr<Connection>> Create(std::shared_ptr<Store> store,
                                                    const CreateOptions& options = {});
  // Connects to an existing database: reads the head and its commit record only.
  static Result<std::shared_ptr<Connection>> Open(std::shared_ptr<Store> store,
                                                  const OpenOptions& options = {});
  static Result<bool> Exists(Store& store, const std::string& branch = "main");

  ~Connection();  // flushes pending transactions (errors are dropped: Flush first)

  // The current snapshot (including unflushed transactions).
  Db db() const;

  // Applies tx data (an EDN vector of entity maps and list forms). Atomic: on error
  // nothing changes and the message names the offending form and why. A transaction
  // that fills the group (max_pending_tx/bytes) flushes it; if that flush fails, the
  // transaction is not applied and its error is the flush's (earlier pending
  // transactions stay pending).
  Result<TxReport> Transact(std::string_view edn_text, const TxOptions& options = {});
  Result<TxReport> Transact(const edn::Node& tx_data, const TxOptions& options = {});

  // Makes every pending transaction durable as one commit.
  Status Flush();
  FlushStats last_flush() const;
  size_t pending_tx() const;

  // Re-reads the head (written by another process, for read-only followers).
  // Returns true if the snapshot moved. Fails if this connection has pending writes.
  Result<bool> Refresh();
  // Drops the pending (unflushed) transactions, then moves to the store's head: an
  // optimistic view (a replica's pending writes over the server's snapshot) starts over.
  // If the move fails, the transactions are dropped all the same.
  Status Reset();

  // The commit log from the head backwards (at most `limit` entries).
  Result<std::vector<CommitInfo>> Log(size_t limit = SIZE_MAX) const;
  // The transaction log: the transactions with start <= tx < end (end 0: no bound),
  // pending ones included, oldest first, each with its datoms. It reaches back as far as
  // the commits GC kept, and not before the first commit written with a log (Datalith
  // 0.2: docs/format.md §4.1).
  Result<std::vector<LogEntry>> TxRange(EntityId start = 0, EntityId end = 0) const;
  // Deletes nodes and commit records not reachable from the kept commits. Flushes
  // first. Readers of other processes holding older commits lose them.
  Result<GcStats> Gc(const GcOptions& options = {});

  Store& store() const;
  CacheStats cache_stats() const;

  // ---- Replication (used by the sync server; docs/sync-protocol.md) ----
  // The durable head commit: what the last Flush wrote or Open/Refresh read.
  Address head_commit() const;
  // The blobs a replica holding commit `have` (zero: nothing) lacks to hold commit
  // `want`: the tree nodes reachable from `want`'s roots and not from `have`'s (parents
  // before children; cost proportional to the difference), then `want`'s commit record
  // (left out when want == have). Not the log segments: a replica is sent those only to
  // replay or report them (LogsAfter). NotFound if either commit is not in the store.
  Result<std::vector<Address>> BlobsToReach(const Address& want, const Address& have) const;
  // For a replica whose commit this store no longer holds (GC'd): the root node
  // addresses of a commit (the non-empty trees), and the child addresses of a tree node
  // (none for a leaf), so a caller can walk down asking the replica what it already has.
  Result<std::vector<Address>> CommitRoots(const Address& commit) const;
  Result<std::vector<Address>> NodeChildren(const Address& node) const;
  // The log segments of each commit after `have` up to `want`, oldest commit first,
  // found along want's parents within `limit` steps; empty if `have` is not among them
  // or a commit on the way has no log (written before it, or GC'd).
  Result<std::vector<std::vector<Address>>> LogsAfter(const Address& have, const Address& want,
                                                      size_t limit) const;
  // A replica holding its durable head H: rebuilds the commits that follow H from their
  // logs (`segments`: per commit, oldest first, the log segment addresses, which must be
  // in the store) by replaying their transactions, and checks that the last one has the
  // address `want`. Equal addresses prove equal databases, so on a match it stores the
  // nodes it built and the commit record, moves the head to `want` and returns the
  // transactions; on a mismatch it returns Corruption naming both addresses and changes
  // nothing. Fails if this connection has pending transactions. With `adopt` false the
  // store gets it all but this connection stays at the old head until Refresh (an
  // asynchronous store exposes the new snapshot only once its owner has made it durable).
  // `rebuilt`, if given, receives the rebuilt snapshot (for naming the entries' attributes).
  Result<std::vector<LogEntry>> ApplyLog(const Address& want,
                                         const std::vector<std::vector<Address>>& segments,
                                         bool adopt = true, Db* rebuilt = nullptr);
  // The transactions in log segments held by the store (a replica reporting what a
  // node-diff update covered), oldest first.
  Result<std::vector<LogEntry>> ReadLog(const std::vector<Address>& segments) const;

  struct Impl;  // opaque; defined in conn/connection.cpp

 private:
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace datalith
