// A hosted database: one Connection, one writer thread with group commit, the
// clients (each a ClientSync) subscribed to its head, and its metrics. And the
// Registry that maps names and tokens to hosted databases.
//
// Thread-safety: every method may be called from any thread. Subscribers are called
// on the writer thread and must only hand the event over to their own thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "datalith/db.h"
#include "protocol.h"
#include "sha256.h"

namespace datalith::sync {

struct TxOutcome {
  std::optional<ProtocolError> error;  // set if the tx failed or was not committed
  TxReply reply;                       // id is left 0: the caller owns request ids
  double latency_ms = 0;               // from Submit to durable
};

class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // The database's head moved (call head() for the value). Runs on the writer thread.
  virtual void OnCommit() = 0;
};

// Latency histogram with fixed log-spaced buckets (0.1 ms .. ~100 s).
class LatencyHistogram {
 public:
  void Add(double ms);
  struct Summary {
    uint64_t count = 0;
    double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  };
  Summary Summarize() const;

 private:
  static constexpr int kBuckets = 64;
  mutable std::mutex mu_;
  uint64_t buckets_[kBuckets] = {};
  uint64_t count_ = 0;
  double sum_ = 0, max_ = 0;
};

struct DatabaseMetrics {
  std::atomic<uint64_t> clients{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> transactions{0};
  std::atomic<uint64_t> tx_errors{0};
  std::atomic<uint64_t> tx_duplicates{0};  // resent client ids answered without applying
  std::atomic<uint64_t> commit_conflicts{0};  // groups applied again on another process's head
  std::atomic<uint64_t> external_commits{0};  // heads of other processes moved to
  std::atomic<uint64_t> updates_sent{0};  // head messages
  std::atomic<uint64_t> log_updates_sent{0};  // of which the client replays the log
  std::atomic<uint64_t> log_resends{0};  // log updates a client could not rebuild
  std::atomic<uint64_t> blobs_sent{0};
  std::atomic<uint64_t> blob_bytes_sent{0};  // stored bytes of the blobs
  std::atomic<uint64_t> frame_bytes_sent{0};  // NODES frames on the wire
  LatencyHistogram tx_latency;     // submit → durable
  LatencyHistogram group_size;     // tx per group commit (recorded as "ms" = count)
};

class Database {
 public:
  struct Head {
    Address commit;
    EntityId tx = 0;
  };

  // Opens (or, with `create`, creates) the database in `store` and starts its writer.
  static Result<std::shared_ptr<Database>> Open(std::string name, std::shared_ptr<Store> store,
                                                bool create, const Limits& limits);
  ~Database();  // Close()s

  const std::string& name() const { return name_; }
  const Connection& connection() const { return *conn_; }
  Store& store() const { return conn_->store(); }
  Head head() const;

  // Queues a transaction. `done` runs on the writer thread once the group commit that
  // holds it is durable, or the tx failed. Returns an error instead (and never calls
  // `done`) when the queue is full (kOverloaded) or the database is closing. With a
  // `client` id (valid: CheckClientId) a resend of a committed tx is answered with the
  // original outcome (TxReply::duplicate) and applies nothing.
  std::optional<ProtocolError> Submit(edn::Node tx, std::optional<std::string> client,
                                      std::function<void(TxOutcome)> done);

  void Subscribe(const std::shared_ptr<Subscriber>& s);

  // Stops taking transactions, commits and answers every queued one, stops the writer.
  void Close();

  // Another process moved the head in the shared store (Postgres: WatchPostgresHeads).
  // The writer moves to it between groups and pushes it to the subscribers. Any thread.
  void HeadMoved();

  DatabaseMetrics& metrics() { return metrics_; }

  // True when no transaction is queued or being committed.
  bool Quiet() const;

 private:
  friend class Registry;
  struct Pending {
    edn::Node tx;
    std::optional<std::string> client;
    std::function<void(TxOutcome)> done;
    std::chrono::steady_clock::time_point queued;
  };
  Database(std::string name, std::shared_ptr<Connection> conn, const Limits& limits);
  void WriterLoop();
  void CommitGroup(std::vector<Pending>* group);
  void AnswerDuplicates(const Status& flushed, std::vector<TxOutcome>* outcomes);
  void Publish();
  // Moves to the store's head if another process moved it, and publishes it.
  void FollowHead();

  const std::string name_;
  const std::shared_ptr<Connection> conn_;
  const Limits limits_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  Head head_;
  std::vector<std::weak_ptr<Subscriber>> subscribers_;
  std::thread writer_;
  bool committing_ = false;  // the writer holds a group (guarded by mu_)
  bool moved_ = false;       // HeadMoved() since the writer last looked (guarded by mu_)
  DatabaseMetrics metrics_;
  // The registry's leases (Registry::Authorize) and when the last one ended: an
  // on-demand database without one for `idle_close_ms` is closed.
  std::atomic<int> leases_{0};
  std::atomic<int64_t> idle_since_ms_{0};
};

enum class Access : uint8_t { kRead, kWrite };

struct DatabaseConfig {
  std::vector<std::string> read_tokens;   // read only
  std::vector<std::string> write_tokens;  // read and write
};

struct RegistryConfig {
  std::string data_dir;                              // one store per database: <dir>/<name>/
  // Instead: databases in this Postgres database (libpq conninfo), shared with other
  // servers; each follows the heads the others move.
  std::string postgres;
  std::map<std::string, DatabaseConfig> databases;   // listed: opened (created) at start
  // Other names, with `default_tokens`: a write token creates a missing one, a read
  // token opens only one that exists.
  bool create_on_demand = false;
  DatabaseConfig default_tokens;
  Limits limits;
};

// Maps a (name, token) to a hosted database. Names are [A-Za-z0-9_-]{1,64}. Tokens are
// compared by SHA-256 digest, in constant time.
class Registry {
 public:
  explicit Registry(RegistryConfig config);
  // Opens every listed database (creating missing ones); with `postgres`, starts
  // listening for the head moves of other servers.
  Status OpenListed();
  // The database and the token's access, or an error: a name that is not hosted and a
  // token that does not grant it get the same kBadToken answer (names cannot be
  // enumerated); kUnknownDatabase only for a read token on an on-demand name that does
  // not exist; kOverloaded past `max_databases`. The database stays open (not closed as
  // idle) while the returned pointer, or a copy, lives.
  std::variant<std::pair<std::shared_ptr<Database>, Access>, ProtocolError> Authorize(
      const std::string& name, const std::string& token);
  // Closes the on-demand databases nobody has held for `idle_close_ms` and that have
  // nothing queued; returns their names. Call periodically (main does, every second).
  std::vector<std::string> CloseIdle();
  std::vector<std::shared_ptr<Database>> databases() const;
  void CloseAll();
  const Limits& limits() const { return config_.limits; }

  // Authenticated WebSocket sessions (after hello), at most `max_clients`: Admit()
  // counts one in (false when full), Leave() counts it out.
  bool Admit();
  void Leave() { clients_--; }
  size_t clients() const { return clients_.load(); }

 private:
  struct Digests {
    std::vector<Digest> read, write;
  };
  static Digests DigestsOf(const DatabaseConfig& c);
  Result<std::shared_ptr<Database>> OpenLocked(const std::string& name, bool create);
  const RegistryConfig config_;
  std::map<std::string, Digests> listed_;
  Digests defaults_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Database>> open_;
  bool closed_ = false;
  std::atomic<size_t> clients_{0};
  std::unique_ptr<HeadWatch> watch_;  // with `postgres`: other servers' head moves
};

bool ValidDatabaseName(const std::string& name);

}  // namespace datalith::sync
