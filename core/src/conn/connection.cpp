// Connection (datalith/db.h): the one writer of a database in this process. Applies
// transactions through the transactor, groups them into commits (nodes, then the
// commit record, then a compare-and-set of the branch head), and reads heads, the
// commit log and GC marks back from the store.
#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include "datalith/db.h"
#include "conn/commit.h"
#include "db/db_state.h"
#include "db/tx_log.h"
#include "tx/transactor.h"

namespace datalith {
namespace {

using internal::Commit;
using internal::DbState;
using internal::LoadCommit;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The datoms every database starts with: the system attributes.
Result<std::shared_ptr<DbState>> Bootstrap(const CreateOptions& o,
                                           const std::shared_ptr<index::NodeSource>& src) {
  auto s = std::make_shared<DbState>();
  s->src = src;
  s->schema = Schema::Bootstrap(o.schema_flexibility);
  s->keep_history = o.keep_history;
  s->max_tx = kTx0;
  std::vector<Datom> datoms;
  for (const auto& [id, a] : s->schema->attributes()) {
    datoms.push_back({id, sys::kIdent, Value::Keyword(a.ident), kTx0, true});
    datoms.push_back({id, sys::kValueType, Value::Keyword(ValueTypeKeyword(a.type)), kTx0, true});
    datoms.push_back({id, sys::kCardinality,
                      Value::Keyword(a.many ? "db.cardinality/many" : "db.cardinality/one"), kTx0, true});
    if (a.unique == Unique::kIdentity)
      datoms.push_back({id, sys::kUnique, Value::Keyword("db.unique/identity"), kTx0, true});
  }
  datoms.push_back({kTx0, sys::kTxInstant, Value::Instant(0), kTx0, true});
  for (int i = 0; i < kIndexCount; ++i) {
    std::vector<index::Edit> edits;
    for (const Datom& d : datoms) {
      if (static_cast<IndexType>(i) == IndexType::kVaet) continue;  // no refs here
      std::string key;
      internal::EncodeKey(static_cast<IndexType>(i), d, false, &key);
      edits.push_back({std::move(key), true});
    }
    index::SortEdits(&edits);
    DL_ASSIGN_OR_RETURN(s->current[i], index::Apply(*src, s->current[i], edits));
  }
  return s;
}

// Logged transactions as readers see them: a retraction names the retracting tx.
std::vector<LogEntry> Entries(std::vector<internal::LoggedTx> txs, EntityId start, EntityId end) {
  std::vector<LogEntry> out;
  for (internal::LoggedTx& t : txs) {
    if (t.tx < start || (end != 0 && t.tx >= end)) continue;
    for (Datom& d : t.datoms) d.tx = t.tx;
    out.push_back(LogEntry{t.tx, std::move(t.datoms)});
  }
  return out;
}

// `s` with its live indices folded into its trees (`s` itself if it has none).
Result<std::shared_ptr<const DbState>> Folded(std::shared_ptr<const DbState> s) {
  if (!internal::HasLive(*s)) return s;
  auto folded = std::make_shared<DbState>(*s);
  DL_RETURN_IF_ERROR(internal::FoldLive(folded.get()));
  return std::shared_ptr<const DbState>(std::move(folded));
}

// Encodes and hashes every node of the state's eight trees not yet persisted (the
// state must have no live indices: see Folded).
void PersistTrees(const DbState& s, std::vector<std::pair<Address, std::string>>* blobs,
                  std::vector<index::NodePtr>* fresh) {
  for (const auto* trees : {s.current, s.history}) {
    for (int i = 0; i < kIndexCount; ++i) index::Persist(trees[i], blobs, fresh);
  }
}

// The nodes of `fresh` (by address) reachable from `root` through in-memory nodes.
void KeepReachable(const index::Child& root,
                   std::unordered_map<Address, std::string, AddressHash>* fresh,
                   std::vector<std::pair<Address, std::string>>* out) {
  if (!root.ptr) return;
  auto it = fresh->find(root.ptr->address());
  if (it == fresh->end()) return;  // stored before, with its subtree
  out->emplace_back(it->first, std::move(it->second));
  fresh->erase(it);
  for (const index::Child& c : root.ptr->children()) KeepReachable(c, fresh, out);
}

}  // namespace

struct Connection::Impl {
  std::shared_ptr<Store> store;
  std::shared_ptr<index::NodeSource> src;
  std::string branch;
  size_t max_pending_tx;
  size_t max_pending_bytes;

  mutable std::mutex mu;
  std::shared_ptr<const DbState> state;  // includes pending transactions
  std::shared_ptr<const DbState> durable;  // with pending transactions: the state before them
  std::optional<std::string> head;       // head value we last wrote or read
  Address head_commit;                   // the durable commit
  EntityId first_pending_tx = 0;
  size_t pending_tx = 0;
  size_t pending_bytes = 0;
  std::vector<std::string> pending_log;  // the pending transactions' log records
  FlushStats last_flush;

  Status FlushLocked();
  // Writes a commit: `blobs` (new nodes and log segments), then the commit record,
  // then moves the head; on success `next` (whose roots `fresh` persisted) becomes the
  // durable state. `fresh` nodes get their addresses cleared if the blobs were not stored.
  Status WriteCommit(std::vector<std::pair<Address, std::string>> blobs,
                     const std::vector<index::NodePtr>& fresh, const std::string& canonical,
                     std::shared_ptr<DbState> next, size_t transactions, bool adopt = true);
  Status AdoptHead(const std::string& value);
  // A commit's log segments, decoded, oldest transaction first.
  Status ReadSegments(const std::vector<Address>& segments, std::vector<internal::LoggedTx>* out) const;
};

Status Connection::Impl::ReadSegments(const std::vector<Address>& segments,
                                      std::vector<internal::LoggedTx>* out) const {
  for (const Address& a : segments) {
    DL_ASSIGN_OR_RETURN(std::string blob, store->Get(a));
    DL_ASSIGN_OR_RETURN(std::string canonical, UnwrapBlob(blob, a));
    Status s = internal::DecodeLogSegment(canonical, out);
    if (!s.ok()) return Status::Corruption(a.Hex() + ": " + s.message());
  }
  return Status::Ok();
}

Status Connection::Impl::AdoptHead(const std::string& value) {
  DL_ASSIGN_OR_RETURN(Address addr, Address::FromHex(value));
  DL_ASSIGN_OR_RETURN(Commit c, LoadCommit(*store, addr, src));
  state = std::move(c.state);
  head = value;
  head_commit = addr;
  return Status::Ok();
}

Status Connection::Impl::FlushLocked() {
  if (pending_tx == 0) return Status::Ok();
  std::vector<std::pair<Address, std::string>> blobs;
  std::vector<index::NodePtr> fresh;
  DL_ASSIGN_OR_RETURN(state, Folded(state));
  PersistTrees(*state, &blobs, &fresh);
  std::vector<Address> log;
  for (std::string& segment : internal::PackLogSegments(pending_log)) {
    log.push_back(Address::Of(segment));
    blobs.emplace_back(log.back(), WrapBlob(segment));
  }
  std::string canonical = internal::EncodeCommit(*state, head_commit, first_pending_tx, log);
  DL_RETURN_IF_ERROR(WriteCommit(std::move(blobs), fresh, canonical, std::make_shared<DbState>(*state), pending_tx));
  pending_tx = 0;
  pending_bytes = 0;
  pending_log.clear();
  return Status::Ok();
}

Status Connection::Impl::WriteCommit(std::vector<std::pair<Address, std::string>> blobs,
                                     const std::vector<index::NodePtr>& fresh,
                                     const std::string& canonical, std::shared_ptr<DbState> next,
                                     size_t transactions, bool adopt) {
  Address commit = Address::Of(canonical);
  uint64_t bytes = 0;
  for (const auto& b : blobs) bytes += b.second.size();
  std::string commit_blob = WrapBlob(canonical);
  bytes += commit_blob.size();
  const size_t written = blobs.size() + 1;
  blobs.emplace_back(commit, std::move(commit_blob));
  // Nodes first, then the commit record, then the head (CasHead syncs the blobs).
  Status put = store->Put(blobs);
  if (!put.ok()) {
    // Not stored: the next flush must write these nodes again.
    for (const auto& n : fresh) n->ClearAddress();
    return put.WithContext("flush: writing nodes");
  }
  Status cas = store->CasHead(branch, head, commit.Hex());
  if (!cas.ok()) {
    if (cas.code() == Code::kConflict)
      return Status::Conflict("flush: head '" + branch + "' was moved by another writer");
    return cas.WithContext("flush: moving head");
  }
  if (!adopt) {  // the nodes stay cached for when Refresh adopts the head
    for (const auto& n : fresh) src->Remember(index::Detached(n));
    return Status::Ok();
  }
  head = commit.Hex();
  head_commit = commit;
  // Rebase the state on addresses: the in-memory nodes go to the cache (they stay
  // shared with snapshots already handed out), so memory stays bounded.
  for (auto* trees : {next->current, next->history}) {
    for (int i = 0; i < kIndexCount; ++i) {
      if (!trees[i].empty()) trees[i] = index::Child{nullptr, trees[i].address(), trees[i].count};
    }
  }
  next->commit = commit;
  for (const auto& n : fresh) src->Remember(index::Detached(n));
  state = std::move(next);
  last_flush = FlushStats{transactions, written, bytes, commit};
  return Status::Ok();
}

// Shared by Create and Open: both option structs carry these fields.
template <class Options>
std::unique_ptr<Connection::Impl> MakeImpl(const std::shared_ptr<Store>& store, const Options& o) {
  auto impl = std::make_unique<Connection::Impl>();
  impl->store = store;
  impl->src = std::make_shared<index::NodeSource>(store, o.cache_bytes);
  impl->branch = o.branch;
  impl->max_pending_tx = std::max<size_t>(1, o.max_pending_tx);
  impl->max_pending_bytes = o.max_pending_bytes;
  return impl;
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  (void)impl_->FlushLocked();
}

Result<bool> Connection::Exists(Store& store, const std::string& branch) {
  DL_ASSIGN_OR_RETURN(std::optional<std::string> head, store.GetHead(branch));
  return head.has_value();
}

Result<std::shared_ptr<Connection>> Connection::Create(std::shared_ptr<Store> store,
                                                       const CreateOptions& o) {
  DL_ASSIGN_OR_RETURN(bool exists, Exists(*store, o.branch));
  if (exists) return Status::Conflict("database '" + o.branch + "' already exists");
  auto impl = MakeImpl(store, o);
  DL_ASSIGN_OR_RETURN(auto state, Bootstrap(o, impl->src));
  impl->state = std::move(state);
  impl->pending_tx = 1;
  impl->first_pending_tx = kTx0;
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    Status s = impl->FlushLocked();
    if (s.code() == Code::kConflict) return Status::Conflict("database '" + o.branch + "' already exists");
    DL_RETURN_IF_ERROR(s);
  }
  return std::shared_ptr<Connection>(new Connection(std::move(impl)));
}

Result<std::shared_ptr<Connection>> Connection::Open(std::shared_ptr<Store> store,
                                                     const OpenOptions& o) {
  DL_ASSIGN_OR_RETURN(std::optional<std::string> head, store->GetHead(o.branch));
  if (!head) return Status::NotFound("no database '" + o.branch + "' in this store");
  auto impl = MakeImpl(store, o);
  DL_RETURN_IF_ERROR(impl->AdoptHead(*head));
  return std::shared_ptr<Connection>(new Connection(std::move(impl)));
}

Db Connection::db() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return Db(impl_->state);
}

Result<TxReport> Connection::Transact(std::string_view edn_text, const TxOptions& options) {
  DL_ASSIGN_OR_RETURN(edn::Node node, edn::ReadOne(edn_text));
  return Transact(node, options);
}

Result<TxReport> Connection::Transact(const edn::Node& tx_data, const TxOptions& options) {
  const std::string client = options.client_id.value_or("");
  if (options.client_id) DL_RETURN_IF_ERROR(CheckClientId(client));
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto before = internal::Settled(impl_->state);
  if (options.client_id) {
    // Looked up in the state with the pending transactions: a second copy in the same
    // group commit is a duplicate too. The lock keeps the check and the apply together.
    DL_ASSIGN_OR_RETURN(std::optional<internal::ClientTx> seen, internal::FindClientTx(before, client));
    if (seen) {
      TxReport dup;
      dup.db_before = dup.db_after = Db(before);
      dup.tempids = std::move(seen->tempids);
      dup.tx = seen->tx;
      dup.duplicate = true;
      return dup;
    }
  }
  DL_ASSIGN_OR_RETURN(internal::TxOutput out, internal::Transact(before, tx_data, NowMillis(), client));
  TxReport report;
  report.db_before = Db(before);
  report.db_after = Db(out.after);
  report.tx_data = std::move(out.tx_data);
  report.tempids = std::move(out.tempids);
  report.tx = out.tx;
  const size_t pending_tx = impl_->pending_tx, pending_bytes = impl_->pending_bytes;
  const EntityId first_pending_tx = impl_->first_pending_tx;
  impl_->state = std::move(out.after);
  if (impl_->pending_tx++ == 0) {
    impl_->first_pending_tx = report.tx;
    impl_->durable = before;
  }
  impl_->pending_bytes += out.key_bytes + out.log_record.size();
  impl_->pending_log.push_back(std::move(out.log_record));
  if (impl_->pending_tx >= impl_->max_pending_tx || impl_->pending_bytes >= impl_->max_pending_bytes) {
    // A transaction that triggers a flush is applied only if that commit is written:
    // on failure it is undone and the caller gets the error; the transactions pending
    // before it stay pending for the next flush.
    Status flushed = impl_->FlushLocked();
    if (!flushed.ok()) {
      impl_->state = std::move(before);
      impl_->pending_log.pop_back();
      impl_->pending_tx = pending_tx;
      impl_->pending_bytes = pending_bytes;
      impl_->first_pending_tx = first_pending_tx;
      return flushed.WithContext("transaction not applied");
    }
  }
  return report;
}

Status Connection::Flush() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->FlushLocked();
}

FlushStats Connection::last_flush() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->last_flush;
}

size_t Connection::pending_tx() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->pending_tx;
}

Result<bool> Connection::Refresh() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  DL_ASSIGN_OR_RETURN(std::optional<std::string> head, impl_->store->GetHead(impl_->branch));
  if (!head) return Status::NotFound("database '" + impl_->branch + "' was deleted");
  if (head == impl_->head) return false;
  if (impl_->pending_tx > 0)
    return Status::Conflict("cannot refresh with unflushed transactions");
  DL_RETURN_IF_ERROR(impl_->AdoptHead(*head));
  return true;
}

Status Connection::Reset() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& m = *impl_;
  if (m.pending_tx > 0) {  // dropped first, so that even a failed move below leaves none
    m.state = std::move(m.durable);
    m.pending_tx = 0;
    m.pending_bytes = 0;
    m.pending_log.clear();
  }
  DL_ASSIGN_OR_RETURN(std::optional<std::string> head, m.store->GetHead(m.branch));
  if (!head) return Status::NotFound("database '" + m.branch + "' was deleted");
  if (head != m.head) DL_RETURN_IF_ERROR(m.AdoptHead(*head));
  return Status::Ok();
}

Result<std::vector<CommitInfo>> Connection::Log(size_t limit) const {
  Address addr;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    addr = impl_->head_commit;
  }
  std::vector<CommitInfo> out;
  while (!addr.IsZero() && out.size() < limit) {
    auto c = LoadCommit(*impl_->store, addr, impl_->src);
    if (!c.ok()) {
      // GC may have removed older commits: the log ends there.
      if (c.status().code() == Code::kNotFound && !out.empty()) break;
      return c.status();
    }
    CommitInfo info;
    info.address = addr;
    info.parent = c->parent;
    info.first_tx = c->first_tx;
    info.last_tx = c->state->max_tx;
    info.instant = c->state->last_instant;
    info.datoms = internal::TreeCount(*c->state, false, 0);
    out.push_back(info);
    addr = c->parent;
  }
  return out;
}

Result<GcStats> Connection::Gc(const GcOptions& options) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  DL_RETURN_IF_ERROR(impl_->FlushLocked());
  std::unordered_set<Address, AddressHash> live;
  Address addr = impl_->head_commit;
  for (size_t kept = 0; kept < std::max<size_t>(1, options.keep_commits) && !addr.IsZero(); ++kept) {
    auto c = LoadCommit(*impl_->store, addr, impl_->src);
    if (!c.ok()) {
      if (c.status().code() == Code::kNotFound && kept > 0) break;
      return c.status();
    }
    live.insert(addr);
    live.insert(c->log.begin(), c->log.end());
    for (const auto* trees : {c->state->current, c->state->history}) {
      for (int i = 0; i < kIndexCount; ++i)
        DL_RETURN_IF_ERROR(index::MarkReachable(*impl_->src, trees[i].addr, &live));
    }
    addr = c->parent;
  }
  DL_ASSIGN_OR_RETURN(std::vector<Address> all, impl_->store->List());
  GcStats stats;
  stats.marked = live.size();
  std::vector<Address> dead;
  for (const Address& a : all) {
    if (!live.count(a)) dead.push_back(a);
  }
  DL_RETURN_IF_ERROR(impl_->store->DeleteMany(dead));
  stats.deleted = dead.size();
  return stats;
}

Store& Connection::store() const { return *impl_->store; }

Address Connection::head_commit() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->head_commit;
}

Result<std::vector<Address>> Connection::CommitRoots(const Address& commit) const {
  DL_ASSIGN_OR_RETURN(Commit c, LoadCommit(*impl_->store, commit, impl_->src));
  std::vector<Address> roots;
  for (const auto* trees : {c.state->current, c.state->history}) {
    for (int i = 0; i < kIndexCount; ++i) {
      if (!trees[i].empty()) roots.push_back(trees[i].addr);
    }
  }
  return roots;
}

Result<std::vector<Address>> Connection::BlobsToReach(const Address& want,
                                                      const Address& have) const {
  DL_ASSIGN_OR_RETURN(std::vector<Address> want_roots, CommitRoots(want));
  std::vector<Address> have_roots;
  if (!have.IsZero()) {
    DL_ASSIGN_OR_RETURN(have_roots, CommitRoots(have));
  }
  DL_ASSIGN_OR_RETURN(std::vector<Address> out,
                      index::NodesOnlyIn(*impl_->src, want_roots, have_roots));
  if (want != have) out.push_back(want);
  return out;
}

Result<std::vector<std::vector<Address>>> Connection::LogsAfter(const Address& have,
                                                                const Address& want,
                                                                size_t limit) const {
  std::vector<std::vector<Address>> logs;
  Address at = want;
  while (at != have && logs.size() < limit && !at.IsZero()) {
    auto c = LoadCommit(*impl_->store, at, impl_->src);
    if (!c.ok()) {
      if (c.status().code() == Code::kNotFound && at != want) return std::vector<std::vector<Address>>();  // GC'd
      return c.status();
    }
    if (c->log.empty()) return std::vector<std::vector<Address>>();  // written before the log
    logs.push_back(std::move(c->log));
    at = c->parent;
  }
  if (at != have) return std::vector<std::vector<Address>>();
  std::reverse(logs.begin(), logs.end());
  return logs;
}

Result<std::vector<LogEntry>> Connection::ReadLog(const std::vector<Address>& segments) const {
  std::vector<internal::LoggedTx> txs;
  DL_RETURN_IF_ERROR(impl_->ReadSegments(segments, &txs));
  return Entries(std::move(txs), 0, 0);
}

Result<std::vector<LogEntry>> Connection::TxRange(EntityId start, EntityId end) const {
  std::vector<std::string> pending;
  Address addr;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    pending = impl_->pending_log;
    addr = impl_->head_commit;
  }
  // Commits newest first, back to the one holding `start` (or as far as the log goes).
  std::vector<std::vector<Address>> logs;
  while (!addr.IsZero()) {
    auto c = LoadCommit(*impl_->store, addr, impl_->src);
    if (!c.ok()) {
      if (c.status().code() == Code::kNotFound && !logs.empty()) break;  // GC'd
      return c.status();
    }
    if (end == 0 || c->first_tx < end) logs.push_back(c->log);
    if (c->first_tx <= start || c->log.empty()) break;
    addr = c->parent;
  }
  std::vector<internal::LoggedTx> txs;
  for (auto it = logs.rbegin(); it != logs.rend(); ++it) DL_RETURN_IF_ERROR(impl_->ReadSegments(*it, &txs));
  for (const std::string& segment : internal::PackLogSegments(pending))
    DL_RETURN_IF_ERROR(internal::DecodeLogSegment(segment, &txs));
  return Entries(std::move(txs), start, end);
}

Result<std::vector<LogEntry>> Connection::ApplyLog(
    const Address& want, const std::vector<std::vector<Address>>& segments, bool adopt, Db* rebuilt) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& m = *impl_;
  if (m.pending_tx > 0) return Status::Conflict("cannot apply a log with unflushed transactions");
  if (segments.empty()) return Status::Invalid("no commits to apply");
  std::shared_ptr<const DbState> state = m.state;
  Address parent = m.head_commit;
  std::vector<LogEntry> entries;
  std::unordered_map<Address, std::string, AddressHash> built;  // every node persisted on the way
  std::vector<index::NodePtr> fresh;
  std::string canonical;
  size_t transactions = 0;
  for (const std::vector<Address>& commit_log : segments) {
    std::vector<internal::LoggedTx> txs;
    DL_RETURN_IF_ERROR(m.ReadSegments(commit_log, &txs));
    if (txs.empty()) return Status::Corruption("a commit's log holds no transactions");
    const EntityId first_tx = txs.front().tx;
    for (const internal::LoggedTx& t : txs) {
      DL_ASSIGN_OR_RETURN(internal::TxOutput out, internal::Replay(state, t));
      entries.push_back(LogEntry{t.tx, std::move(out.tx_data)});
      state = std::move(out.after);
      ++transactions;
    }
    // The commit's address needs its roots': persist (hash) what this commit built.
    std::vector<std::pair<Address, std::string>> blobs;
    DL_ASSIGN_OR_RETURN(state, Folded(state));
    PersistTrees(*state, &blobs, &fresh);
    for (auto& [addr, blob] : blobs) built.emplace(addr, std::move(blob));
    canonical = internal::EncodeCommit(*state, parent, first_tx, commit_log);
    parent = Address::Of(canonical);
  }
  // (The replayed nodes belong to no state but `state`: on failure they go with it.)
  if (parent != want) return Status::Corruption("the log rebuilt commit " + parent.Hex() + ", not " + want.Hex());
  // Store only what the last commit reaches (earlier commits' nodes may be replaced).
  std::vector<std::pair<Address, std::string>> blobs;
  for (const auto* trees : {state->current, state->history}) {
    for (int i = 0; i < kIndexCount; ++i) KeepReachable(trees[i], &built, &blobs);
  }
  DL_RETURN_IF_ERROR(m.WriteCommit(std::move(blobs), fresh, canonical,
                                   std::make_shared<DbState>(*state), transactions, adopt));
  if (rebuilt) *rebuilt = Db(state);
  return entries;
}

Result<std::vector<Address>> Connection::NodeChildren(const Address& node) const {
  DL_ASSIGN_OR_RETURN(index::NodePtr n, impl_->src->Load(node));
  std::vector<Address> out;
  out.reserve(n->children().size());
  for (const index::Child& c : n->children()) out.push_back(c.address());
  return out;
}

CacheStats Connection::cache_stats() const {
  auto s = impl_->src->stats();
  return CacheStats{s.loads, s.load_bytes, s.hits, s.cached_nodes, s.cached_bytes};
}

}  // namespace datalith
