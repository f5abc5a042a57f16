// Connection (datalith/db.h): the one writer of a database in this process. Applies
// transactions through the transactor, groups them into commits (nodes, then the
// commit record, then a compare-and-set of the branch head), and reads heads, the
// commit log and GC marks back from the store.
#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "datalith/db.h"
#include "conn/commit.h"
#include "db/db_state.h"
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

}  // namespace

struct Connection::Impl {
  std::shared_ptr<Store> store;
  std::shared_ptr<index::NodeSource> src;
  std::string branch;
  size_t max_pending_tx;
  size_t max_pending_bytes;

  mutable std::mutex mu;
  std::shared_ptr<const DbState> state;  // includes pending transactions
  std::optional<std::string> head;       // head value we last wrote or read
  Address head_commit;                   // the durable commit
  EntityId first_pending_tx = 0;
  size_t pending_tx = 0;
  size_t pending_bytes = 0;
  FlushStats last_flush;

  Status FlushLocked();
  Status AdoptHead(const std::string& value);
};

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
  for (const auto* trees : {state->current, state->history}) {
    for (int i = 0; i < kIndexCount; ++i) index::Persist(trees[i], &blobs, &fresh);
  }
  std::string canonical = internal::EncodeCommit(*state, head_commit, first_pending_tx);
  Address commit = Address::Of(canonical);
  uint64_t bytes = 0;
  for (const auto& b : blobs) bytes += b.second.size();
  std::string commit_blob = WrapBlob(canonical);
  bytes += commit_blob.size();
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
  head = commit.Hex();
  head_commit = commit;
  // Rebase the current state on addresses: the in-memory nodes go to the cache (they
  // stay shared with snapshots already handed out), so memory stays bounded.
  auto next = std::make_shared<DbState>(*state);
  for (auto* trees : {next->current, next->history}) {
    for (int i = 0; i < kIndexCount; ++i) {
      if (!trees[i].empty()) trees[i] = index::Child{nullptr, trees[i].address(), trees[i].count};
    }
  }
  next->commit = commit;
  for (const auto& n : fresh) src->Remember(index::Detached(n));
  state = std::move(next);
  last_flush = FlushStats{pending_tx, fresh.size() + 1, bytes, commit};
  pending_tx = 0;
  pending_bytes = 0;
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

Result<TxReport> Connection::Transact(std::string_view edn_text) {
  DL_ASSIGN_OR_RETURN(edn::Node node, edn::ReadOne(edn_text));
  return Transact(node);
}

Result<TxReport> Connection::Transact(const edn::Node& tx_data) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto before = impl_->state;
  DL_ASSIGN_OR_RETURN(internal::TxOutput out, internal::Transact(before, tx_data, NowMillis()));
  TxReport report;
  report.db_before = Db(before);
  report.db_after = Db(out.after);
  report.tx_data = std::move(out.tx_data);
  report.tempids = std::move(out.tempids);
  report.tx = out.tx;
  const size_t pending_tx = impl_->pending_tx, pending_bytes = impl_->pending_bytes;
  const EntityId first_pending_tx = impl_->first_pending_tx;
  impl_->state = std::move(out.after);
  if (impl_->pending_tx++ == 0) impl_->first_pending_tx = report.tx;
  impl_->pending_bytes += out.key_bytes;
  if (impl_->pending_tx >= impl_->max_pending_tx || impl_->pending_bytes >= impl_->max_pending_bytes) {
    // A transaction that triggers a flush is applied only if that commit is written:
    // on failure it is undone and the caller gets the error; the transactions pending
    // before it stay pending for the next flush.
    Status flushed = impl_->FlushLocked();
    if (!flushed.ok()) {
      impl_->state = std::move(before);
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
    info.datoms = c->state->current[0].count;
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
