#include "database.h"

#include <algorithm>
#include <cmath>

namespace datalith::sync {
namespace {

// The writer flushes each group explicitly; the connection must never flush on its own.
constexpr size_t kNoAutoFlush = SIZE_MAX / 2;
// A group whose commit other servers keep beating is applied this many times at most.
constexpr int kMaxCommitAttempts = 8;

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Bucket i holds values up to 0.1 ms * 2^(i/4).
int BucketOf(double ms) {
  if (ms <= 0.1) return 0;
  int b = static_cast<int>(std::ceil(4 * std::log2(ms / 0.1)));
  return std::clamp(b, 0, 63);
}
double BucketUpper(int b) { return 0.1 * std::exp2(b / 4.0); }

// Every digest is compared, whichever matches.
bool DigestIn(const std::vector<Digest>& digests, const Digest& d) {
  bool found = false;
  for (const Digest& t : digests) found |= DigestsEqual(t, d);
  return found;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void LatencyHistogram::Add(double ms) {
  std::lock_guard<std::mutex> lock(mu_);
  ++buckets_[BucketOf(ms)];
  ++count_;
  sum_ += ms;
  max_ = std::max(max_, ms);
}

LatencyHistogram::Summary LatencyHistogram::Summarize() const {
  std::lock_guard<std::mutex> lock(mu_);
  Summary s;
  s.count = count_;
  if (count_ == 0) return s;
  s.mean = sum_ / count_;
  s.max = max_;
  auto quantile = [&](double q) {
    uint64_t want = static_cast<uint64_t>(std::ceil(q * count_)), seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += buckets_[b];
      if (seen >= want) return std::min(BucketUpper(b), max_);
    }
    return max_;
  };
  s.p50 = quantile(0.5);
  s.p90 = quantile(0.9);
  s.p99 = quantile(0.99);
  return s;
}

Result<std::shared_ptr<Database>> Database::Open(std::string name, std::shared_ptr<Store> store,
                                                 bool create, const Limits& limits) {
  std::shared_ptr<Connection> conn;
  DL_ASSIGN_OR_RETURN(bool exists, Connection::Exists(*store));
  if (!exists && create) {
    CreateOptions o;
    o.max_pending_tx = o.max_pending_bytes = kNoAutoFlush;
    DL_ASSIGN_OR_RETURN(conn, Connection::Create(store, o));
  } else {
    OpenOptions o;
    o.max_pending_tx = o.max_pending_bytes = kNoAutoFlush;
    DL_ASSIGN_OR_RETURN(conn, Connection::Open(store, o));
  }
  return std::shared_ptr<Database>(new Database(std::move(name), std::move(conn), limits));
}

Database::Database(std::string name, std::shared_ptr<Connection> conn, const Limits& limits)
    : name_(std::move(name)), conn_(std::move(conn)), limits_(limits) {
  head_ = {conn_->head_commit(), conn_->db().basis_tx()};
  writer_ = std::thread([this] { WriterLoop(); });
}

Database::~Database() { Close(); }

Database::Head Database::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_;
}

std::optional<ProtocolError> Database::Submit(edn::Node tx, std::optional<std::string> client,
                                              std::function<void(TxOutcome)> done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closing_) return ProtocolError{ErrorCode::kShuttingDown, "the server is shutting down"};
  if (queue_.size() >= limits_.max_queued_tx)
    return ProtocolError{ErrorCode::kOverloaded, "database '" + name_ + "' has " +
                                                     std::to_string(queue_.size()) + " queued transactions"};
  queue_.push_back({std::move(tx), std::move(client), std::move(done), std::chrono::steady_clock::now()});
  cv_.notify_one();
  return std::nullopt;
}

void Database::Subscribe(const std::shared_ptr<Subscriber>& s) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(subscribers_, [](const auto& w) { return w.expired(); });
  subscribers_.push_back(s);
}

void Database::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
}

bool Database::Quiet() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.empty() && !committing_;
}

void Database::HeadMoved() {
  std::lock_guard<std::mutex> lock(mu_);
  moved_ = true;
  cv_.notify_one();
}

void Database::WriterLoop() {
  std::vector<Pending> group;
  while (true) {
    bool moved;
    {
      std::unique_lock<std::mutex> lock(mu_);
      committing_ = false;
      cv_.wait(lock, [&] { return closing_ || !queue_.empty() || moved_; });
      if (queue_.empty() && closing_) return;  // closing and drained
      moved = moved_;
      moved_ = false;
      while (!queue_.empty() && group.size() < limits_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      committing_ = true;
    }
    // Another server committed: move there before applying (fewer conflicts) and push
    // it to this server's clients. (Fails only with a flush left pending: the next
    // group's flush then meets the moved head and starts again from it.)
    if (moved) FollowHead();
    if (!group.empty()) CommitGroup(&group);
    group.clear();
  }
}

void Database::FollowHead() {
  auto moved = conn_->Refresh();
  if (moved.ok() && *moved) {
    metrics_.external_commits++;
    Publish();
  }
}

// Applies the group's transactions one by one (each may fail alone), then makes them
// durable with one flush, publishes the new head, and answers each.
void Database::CommitGroup(std::vector<Pending>* group) {
  std::vector<TxOutcome> outcomes;
  size_t applied = 0;
  bool flush = false;
  Status s;
  // A store shared with other servers: one writer at a time across them, starting from
  // the newest head (the other servers' commits go to this one's clients too).
  auto lock = conn_->store().LockCommits();
  if (lock.ok() && *lock) FollowHead();
  for (int attempt = 1;; ++attempt) {
    outcomes.assign(group->size(), TxOutcome());
    applied = 0;
    for (size_t i = 0; i < group->size(); ++i) {
      TxOptions options;
      options.client_id = (*group)[i].client;
      auto r = conn_->Transact((*group)[i].tx, options);
      if (!r.ok()) {
        outcomes[i].error = ProtocolError{ErrorCode::kTxFailed, r.status().ToString()};
        continue;
      }
      TxReply& reply = outcomes[i].reply;
      reply.tx = r->tx;
      reply.tempids = std::move(r->tempids);
      reply.datoms = r->tx_data.size();
      reply.duplicate = r->duplicate;
      if (!r->duplicate) ++applied;
    }
    // A duplicate of a transaction still pending (its group's flush failed) is worth a
    // flush too: it gets a commit instead of commit_failed.
    const EntityId durable_tx = head().tx;
    flush = applied > 0 || std::any_of(outcomes.begin(), outcomes.end(), [&](const TxOutcome& o) {
              return !o.error && o.reply.duplicate && o.reply.tx > durable_tx;
            });
    s = flush ? conn_->Flush() : Status::Ok();
    if (s.code() != Code::kConflict) break;
    // Another server committed first (a shared store): drop this group's transactions
    // and apply them again on its head, so each runs against the state it commits on.
    metrics_.commit_conflicts++;
    Status reset = conn_->Reset();
    if (reset.ok() && attempt < kMaxCommitAttempts) continue;
    for (TxOutcome& o : outcomes) {
      if (o.error) continue;
      o.error = ProtocolError{ErrorCode::kOverloaded,
                              reset.ok() ? "other servers committed first " + std::to_string(attempt) +
                                               " times in a row; the transaction was not committed: send it again"
                                         : "the transaction was not committed (" + reset.ToString() + ")"};
    }
    flush = false;
    if (reset.ok()) Publish();  // the other servers' commits
    break;
  }
  if (flush) {
    Address commit = conn_->last_flush().commit;
    for (TxOutcome& o : outcomes) {
      if (o.error || o.reply.duplicate) continue;
      if (!s.ok()) {
        o.error = ProtocolError{ErrorCode::kCommitFailed,
                                "the transaction was applied but its commit failed (" +
                                    s.ToString() + "); it may still commit with a later one"};
      } else {
        o.reply.commit = commit;
      }
    }
    if (s.ok()) {
      metrics_.commits++;
      if (applied > 0) metrics_.group_size.Add(static_cast<double>(applied));
      Publish();
    }
  }
  AnswerDuplicates(s, &outcomes);
  for (size_t i = 0; i < group->size(); ++i) {
    TxOutcome& o = outcomes[i];
    o.latency_ms = MsSince((*group)[i].queued);
    if (o.error) {
      metrics_.tx_errors++;
    } else if (o.reply.duplicate) {
      metrics_.tx_duplicates++;
    } else {
      metrics_.transactions++;
      metrics_.tx_latency.Add(o.latency_ms);
    }
    (*group)[i].done(std::move(o));
  }
}

// A duplicate's original is in the durable head, unless it is a transaction of this
// group whose flush failed: then its outcome is as unknown as the original's.
void Database::AnswerDuplicates(const Status& flushed, std::vector<TxOutcome>* outcomes) {
  const Head durable = head();
  for (TxOutcome& o : *outcomes) {
    if (o.error || !o.reply.duplicate) continue;
    if (o.reply.tx <= durable.tx) {
      o.reply.commit = durable.commit;
    } else {
      o.error = ProtocolError{ErrorCode::kCommitFailed,
                              "the transaction with this client id was applied but its commit failed (" +
                                  flushed.ToString() + "); it may still commit with a later one"};
    }
  }
}

void Database::Publish() {
  std::vector<std::shared_ptr<Subscriber>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    head_ = {conn_->head_commit(), conn_->db().basis_tx()};
    for (const auto& w : subscribers_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (const auto& s : live) s->OnCommit();
}

bool ValidDatabaseName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

Registry::Digests Registry::DigestsOf(const DatabaseConfig& c) {
  Digests d;
  for (const std::string& t : c.read_tokens) d.read.push_back(Sha256(t));
  for (const std::string& t : c.write_tokens) d.write.push_back(Sha256(t));
  return d;
}

Registry::Registry(RegistryConfig config) : config_(std::move(config)), defaults_(DigestsOf(config_.default_tokens)) {
  for (const auto& [name, tokens] : config_.databases) listed_[name] = DigestsOf(tokens);
}

Status Registry::OpenListed() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, cfg] : config_.databases) {
      if (!ValidDatabaseName(name)) return Status::Invalid("bad database name '" + name + "'");
      DL_RETURN_IF_ERROR(OpenLocked(name, /*create=*/true).status());
    }
  }
  if (config_.postgres.empty()) return Status::Ok();
  // "<db> <head>", or "" after (re)connecting: every open database looks again.
  DL_ASSIGN_OR_RETURN(watch_, WatchPostgresHeads(config_.postgres, [this](const std::string& moved) {
    std::string db = moved.substr(0, moved.find(' '));
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, open] : open_) {
      if (moved.empty() || name == db) open->HeadMoved();
    }
  }));
  return Status::Ok();
}

Result<std::shared_ptr<Database>> Registry::OpenLocked(const std::string& name, bool create) {
  if (auto it = open_.find(name); it != open_.end()) return it->second;
  DL_ASSIGN_OR_RETURN(auto store, config_.postgres.empty() ? OpenFileStore(config_.data_dir + "/" + name, create)
                                                           : OpenPostgresStore(config_.postgres, name));
  DL_ASSIGN_OR_RETURN(auto db, Database::Open(name, store, create, config_.limits));
  db->idle_since_ms_ = NowMs();
  open_[name] = db;
  return db;
}

std::variant<std::pair<std::shared_ptr<Database>, Access>, ProtocolError> Registry::Authorize(
    const std::string& name, const std::string& token) {
  // One answer for a name that is not hosted and a token that does not grant it.
  const ProtocolError denied{ErrorCode::kBadToken,
                             "no database '" + name.substr(0, 64) + "' is open to this token"};
  auto listed = listed_.find(name);
  const bool known = listed != listed_.end();
  if (!known && !(config_.create_on_demand && ValidDatabaseName(name))) return denied;
  const Digests& tokens = known ? listed->second : defaults_;
  const Digest digest = Sha256(token);
  const bool write = DigestIn(tokens.write, digest), read = DigestIn(tokens.read, digest);
  if (!write && !read) return denied;
  const Access access = write ? Access::kWrite : Access::kRead;

  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return ProtocolError{ErrorCode::kShuttingDown, "the server is shutting down"};
  if (!open_.count(name) && open_.size() >= config_.limits.max_databases)
    return ProtocolError{ErrorCode::kOverloaded, std::to_string(open_.size()) +
                                                     " databases are open, the most this server hosts at once"};
  // Creating needs write access: a read token opens an on-demand database only if it exists.
  auto db = OpenLocked(name, /*create=*/known || access == Access::kWrite);
  if (!db.ok() && db.status().code() == Code::kNotFound)
    return ProtocolError{ErrorCode::kUnknownDatabase, "no database '" + name + "' (a read-only token does not create one)"};
  if (!db.ok()) return ProtocolError{ErrorCode::kInternal, db.status().ToString()};
  // The lease: a pointer that counts its holders (CloseIdle skips a held database).
  std::shared_ptr<Database> real = *db;
  real->leases_++;
  std::shared_ptr<Database> lease(real.get(), [real](Database* d) {
    d->idle_since_ms_ = NowMs();
    d->leases_--;
  });
  return std::make_pair(std::move(lease), access);
}

std::vector<std::string> Registry::CloseIdle() {
  std::vector<std::shared_ptr<Database>> idle;
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t before = NowMs() - static_cast<int64_t>(config_.limits.idle_close_ms);
    for (auto it = open_.begin(); it != open_.end();) {
      Database& db = *it->second;
      // Leases are taken under mu_: one seen as zero here cannot be taken concurrently.
      if (!listed_.count(it->first) && db.leases_ == 0 && db.idle_since_ms_ <= before && db.Quiet()) {
        names.push_back(it->first);
        idle.push_back(std::move(it->second));
        it = open_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& db : idle) db->Close();  // commits nothing: nothing is queued
  return names;
}

bool Registry::Admit() {
  if (clients_.fetch_add(1) < config_.limits.max_clients) return true;
  clients_--;
  return false;
}

std::vector<std::shared_ptr<Database>> Registry::databases() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Database>> out;
  for (const auto& [name, db] : open_) out.push_back(db);
  return out;
}

void Registry::CloseAll() {
  watch_.reset();  // no more moves to follow
  std::vector<std::shared_ptr<Database>> dbs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    for (const auto& [name, db] : open_) dbs.push_back(db);
  }
  for (const auto& db : dbs) db->Close();
}

}  // namespace datalith::sync
