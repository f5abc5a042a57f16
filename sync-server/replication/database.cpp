#include "database.h"

#include <algorithm>
#include <cmath>

namespace datalith::sync {
namespace {

// The writer flushes each group explicitly; the connection must never flush on its own.
constexpr size_t kNoAutoFlush = SIZE_MAX / 2;

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

bool TokenIn(const std::vector<std::string>& tokens, const std::string& token) {
  for (const std::string& t : tokens) {
    if (t.size() != token.size()) continue;
    unsigned char diff = 0;  // constant time over equal lengths
    for (size_t i = 0; i < t.size(); ++i) diff |= static_cast<unsigned char>(t[i] ^ token[i]);
    if (diff == 0) return true;
  }
  return false;
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

void Database::WriterLoop() {
  std::vector<Pending> group;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      while (!queue_.empty() && group.size() < limits_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(&group);
    group.clear();
  }
}

// Applies the group's transactions one by one (each may fail alone), then makes them
// durable with one flush, publishes the new head, and answers each.
void Database::CommitGroup(std::vector<Pending>* group) {
  std::vector<TxOutcome> outcomes(group->size());
  size_t applied = 0;
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
  const bool flush = applied > 0 || std::any_of(outcomes.begin(), outcomes.end(), [&](const TxOutcome& o) {
                       return !o.error && o.reply.duplicate && o.reply.tx > durable_tx;
                     });
  Status s = flush ? conn_->Flush() : Status::Ok();
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

Status Registry::OpenListed() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, cfg] : config_.databases) {
    if (!ValidDatabaseName(name)) return Status::Invalid("bad database name '" + name + "'");
    DL_RETURN_IF_ERROR(OpenLocked(name).status());
  }
  return Status::Ok();
}

Result<std::shared_ptr<Database>> Registry::OpenLocked(const std::string& name) {
  if (auto it = open_.find(name); it != open_.end()) return it->second;
  DL_ASSIGN_OR_RETURN(auto store, OpenFileStore(config_.data_dir + "/" + name, /*create=*/true));
  DL_ASSIGN_OR_RETURN(auto db, Database::Open(name, store, /*create=*/true, config_.limits));
  open_[name] = db;
  return db;
}

std::variant<std::pair<std::shared_ptr<Database>, Access>, ProtocolError> Registry::Authorize(
    const std::string& name, const std::string& token) {
  auto listed = config_.databases.find(name);
  bool known = listed != config_.databases.end();
  if (!known && !(config_.create_on_demand && ValidDatabaseName(name)))
    return ProtocolError{ErrorCode::kUnknownDatabase, "no database '" + name.substr(0, 64) + "'"};
  const DatabaseConfig& tokens = known ? listed->second : config_.default_tokens;
  Access access;
  if (TokenIn(tokens.write_tokens, token)) {
    access = Access::kWrite;
  } else if (TokenIn(tokens.read_tokens, token)) {
    access = Access::kRead;
  } else {
    return ProtocolError{ErrorCode::kBadToken, "the token does not grant access to '" + name + "'"};
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return ProtocolError{ErrorCode::kShuttingDown, "the server is shutting down"};
  auto db = OpenLocked(name);
  if (!db.ok()) return ProtocolError{ErrorCode::kInternal, db.status().ToString()};
  return std::make_pair(*db, access);
}

std::vector<std::shared_ptr<Database>> Registry::databases() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Database>> out;
  for (const auto& [name, db] : open_) out.push_back(db);
  return out;
}

void Registry::CloseAll() {
  std::vector<std::shared_ptr<Database>> dbs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    for (const auto& [name, db] : open_) dbs.push_back(db);
  }
  for (const auto& db : dbs) db->Close();
}

}  // namespace datalith::sync
