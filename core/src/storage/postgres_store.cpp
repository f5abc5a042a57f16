// The Postgres store (natively, with libpq): blobs and heads of many databases in two
// tables of one Postgres database, shared by every process that connects to it.
//
//   datalith_blobs (db text, addr bytea, blob bytea, written timestamptz)  PK (db, addr)
//   datalith_heads (db text, name text, value text)                        PK (db, name)
//   datalith_meta  (key text PRIMARY KEY, value text)   ('format', '1')
//
// CasHead is one UPDATE (or INSERT) whose row count says whether the expected value was
// there, in a transaction that also NOTIFYs `datalith_heads` with "<db> <head>", so
// other processes (WatchPostgresHeads) learn of the move when it commits. Statements
// run with the default synchronous_commit: a Put or CasHead that returned OK is durable.
// A few connections are pooled (the store is used from several threads at once).
#include "datalith/store.h"

#ifndef DATALITH_POSTGRES

namespace datalith {
Result<std::shared_ptr<Store>> OpenPostgresStore(const std::string& conninfo, const std::string& db, int) {
  return Status::Unsupported("postgres store " + db + ": this build has no libpq");
}
Result<std::unique_ptr<HeadWatch>> WatchPostgresHeads(const std::string&, std::function<void(const std::string&)>) {
  return Status::Unsupported("this build has no libpq");
}
}  // namespace datalith

#else

#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "storage/head_name.h"

namespace datalith {

namespace {

constexpr const char* kFormat = "1";
constexpr size_t kPool = 4;
constexpr size_t kPutBatch = 256;  // rows per INSERT (3 parameters each)

struct Result_ {
  PGresult* r = nullptr;
  explicit Result_(PGresult* p) : r(p) {}
  ~Result_() { if (r) PQclear(r); }
  Result_(const Result_&) = delete;
  Result_& operator=(const Result_&) = delete;
};

// One statement's parameters, text or binary.
struct Params {
  std::vector<std::string> values;
  std::vector<int> binary;
  Params& Text(std::string v) { values.push_back(std::move(v)); binary.push_back(0); return *this; }
  Params& Bytes(std::string v) { values.push_back(std::move(v)); binary.push_back(1); return *this; }
};

class Conn {
 public:
  explicit Conn(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~Conn() { if (pg_) PQfinish(pg_); }

  Status Connect() {
    if (pg_ && PQstatus(pg_) == CONNECTION_OK) return Status::Ok();
    if (pg_) PQfinish(pg_);
    pg_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(pg_) != CONNECTION_OK) return Status::IOError(std::string("postgres: ") + PQerrorMessage(pg_));
    PQsetNoticeProcessor(pg_, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
    return Status::Ok();
  }

  // Runs several statements (no parameters).
  Status Script(const std::string& sql) {
    DL_RETURN_IF_ERROR(Connect());
    Result_ r(PQexec(pg_, sql.c_str()));
    if (PQresultStatus(r.r) != PGRES_COMMAND_OK && PQresultStatus(r.r) != PGRES_TUPLES_OK) {
      Result_ rollback(PQexec(pg_, "ROLLBACK"));
      return Status::IOError(std::string("postgres: ") + PQresultErrorMessage(r.r));
    }
    return Status::Ok();
  }

  // Runs `sql`; binary results when `binary`. A dropped connection is reopened and the
  // statement run once more (statements here are idempotent or in their own transaction).
  Result<std::shared_ptr<Result_>> Exec(const std::string& sql, const Params& p = Params(), bool binary = false) {
    for (int attempt = 0;; ++attempt) {
      DL_RETURN_IF_ERROR(Connect());
      std::vector<const char*> values;
      std::vector<int> lengths;
      for (const auto& v : p.values) {
        values.push_back(v.data());
        lengths.push_back(static_cast<int>(v.size()));
      }
      auto r = std::make_shared<Result_>(PQexecParams(pg_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                                     values.data(), lengths.data(), p.binary.data(), binary ? 1 : 0));
      ExecStatusType st = PQresultStatus(r->r);
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
      if (PQstatus(pg_) != CONNECTION_OK && attempt == 0) continue;
      return Status::IOError(std::string("postgres: ") + PQresultErrorMessage(r->r));
    }
  }

 private:
  const std::string conninfo_;
  PGconn* pg_ = nullptr;
};

class PostgresStore final : public Store {
 public:
  PostgresStore(const std::string& conninfo, std::string db, int gc_grace_s) : db_(std::move(db)), grace_s_(gc_grace_s) {
    for (size_t i = 0; i < kPool; ++i) pool_.push_back(std::make_unique<Conn>(conninfo));
  }

  Status Init() {
    return With([&](Conn& c) -> Status {
      // Creating the tables twice at once would race in Postgres' catalogs: one at a time.
      DL_RETURN_IF_ERROR(c.Script(
          "BEGIN; SELECT pg_advisory_xact_lock(726512);"
          "CREATE TABLE IF NOT EXISTS datalith_meta (key text PRIMARY KEY, value text NOT NULL);"
          "CREATE TABLE IF NOT EXISTS datalith_blobs (db text NOT NULL, addr bytea NOT NULL, blob bytea NOT NULL,"
          " written timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (db, addr));"
          "CREATE TABLE IF NOT EXISTS datalith_heads (db text NOT NULL, name text NOT NULL, value text NOT NULL,"
          " PRIMARY KEY (db, name));"
          "INSERT INTO datalith_meta VALUES ('format', '" + std::string(kFormat) + "') ON CONFLICT DO NOTHING;"
          "COMMIT;"));
      DL_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT value FROM datalith_meta WHERE key = 'format'"));
      std::string format = PQntuples(r->r) ? PQgetvalue(r->r, 0, 0) : "";
      if (format != kFormat)
        return Status::Unsupported("postgres: the datalith tables are format " + format + "; this datalith uses format " +
                                   kFormat);
      return Status::Ok();
    });
  }

  Result<std::string> Get(const Address& addr) override {
    return With([&](Conn& c) -> Result<std::string> {
      DL_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT blob FROM datalith_blobs WHERE db = $1 AND addr = $2",
                                         Params().Text(db_).Bytes(AddrBytes(addr)), /*binary=*/true));
      if (PQntuples(r->r) == 0) return Status::NotFound("blob " + addr.Hex() + " is not in postgres database " + db_);
      return std::string(PQgetvalue(r->r, 0, 0), PQgetlength(r->r, 0, 0));
    });
  }

  Status Put(const std::vector<std::pair<Address, std::string>>& blobs) override {
    return With([&](Conn& c) -> Status {
      for (size_t start = 0; start < blobs.size(); start += kPutBatch) {
        size_t end = std::min(blobs.size(), start + kPutBatch);
        std::string sql = "INSERT INTO datalith_blobs (db, addr, blob) VALUES ";
        Params p;
        p.Text(db_);
        for (size_t i = start; i < end; ++i) {
          size_t n = p.values.size();
          sql += (i > start ? ",($1,$" : "($1,$") + std::to_string(n + 1) + ",$" + std::to_string(n + 2) + ")";
          p.Bytes(AddrBytes(blobs[i].first)).Bytes(blobs[i].second);
        }
        DL_RETURN_IF_ERROR(c.Exec(sql + " ON CONFLICT DO NOTHING", p).status());
      }
      return Status::Ok();
    });
  }

  Status Sync() override { return Status::Ok(); }  // each statement commits durably

  Result<std::optional<std::string>> GetHead(const std::string& name) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    return With([&](Conn& c) -> Result<std::optional<std::string>> {
      DL_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT value FROM datalith_heads WHERE db = $1 AND name = $2",
                                         Params().Text(db_).Text(name)));
      if (PQntuples(r->r) == 0) return std::optional<std::string>();
      return std::optional<std::string>(PQgetvalue(r->r, 0, 0));
    });
  }

  Status CasHead(const std::string& name, const std::optional<std::string>& expected,
                 const std::string& value) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    return With([&](Conn& c) -> Status {
      // One statement: the move and its notification commit together (or neither).
      std::string sql = expected
          ? "WITH moved AS (UPDATE datalith_heads SET value = $3 WHERE db = $1 AND name = $2 AND value = $4 RETURNING 1)"
          : "WITH moved AS (INSERT INTO datalith_heads VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1)";
      sql += " SELECT pg_notify('datalith_heads', $1 || ' ' || $2) FROM moved";
      Params p;
      p.Text(db_).Text(name).Text(value);
      if (expected) p.Text(*expected);
      DL_ASSIGN_OR_RETURN(auto r, c.Exec(sql, p));
      if (PQntuples(r->r) == 0)
        return Status::Conflict("head '" + name + "' of postgres database " + db_ + " is not " +
                                (expected ? "'" + *expected + "'" : std::string("absent")));
      return Status::Ok();
    });
  }

  Result<std::vector<std::string>> ListHeads() override {
    return With([&](Conn& c) -> Result<std::vector<std::string>> {
      DL_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT name FROM datalith_heads WHERE db = $1 ORDER BY name", Params().Text(db_)));
      std::vector<std::string> out;
      for (int i = 0; i < PQntuples(r->r); ++i) out.emplace_back(PQgetvalue(r->r, i, 0));
      return out;
    });
  }

  Status DeleteHead(const std::string& name) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    return With([&](Conn& c) -> Status {
      return c.Exec("DELETE FROM datalith_heads WHERE db = $1 AND name = $2", Params().Text(db_).Text(name)).status();
    });
  }

  Result<std::vector<Address>> List() override {
    return With([&](Conn& c) -> Result<std::vector<Address>> {
      DL_ASSIGN_OR_RETURN(auto r, c.Exec("SELECT addr FROM datalith_blobs WHERE db = $1", Params().Text(db_), true));
      std::vector<Address> out(PQntuples(r->r));
      for (int i = 0; i < PQntuples(r->r); ++i) {
        if (PQgetlength(r->r, i, 0) != 16) return Status::Corruption("postgres: an address of " + db_ + " is not 16 bytes");
        std::memcpy(out[i].bytes.data(), PQgetvalue(r->r, i, 0), 16);
      }
      return out;
    });
  }

  Status Delete(const Address& addr) override { return DeleteMany({addr}); }

  // A session-level advisory lock on a pooled connection of its own, held by the
  // returned object (Postgres also drops it if this process dies).
  Result<std::shared_ptr<void>> LockCommits() override {
    size_t i = next_++ % kPool;
    auto slot = std::make_shared<std::unique_lock<std::mutex>>(slot_mu_[i]);
    Conn& c = *pool_[i];
    const std::string key = "datalith:" + db_;
    DL_RETURN_IF_ERROR(c.Exec("SELECT pg_advisory_lock(hashtext($1))", Params().Text(key)).status());
    return std::shared_ptr<void>(slot.get(), [slot, &c, key](void*) {
      (void)c.Exec("SELECT pg_advisory_unlock(hashtext($1))", Params().Text(key));
    });
  }

  Status DeleteMany(const std::vector<Address>& addrs) override {
    if (addrs.empty()) return Status::Ok();
    return With([&](Conn& c) -> Status {
      // A bytea[] literal in text form: {"\\x…","\\x…"}.
      std::string list = "{";
      for (size_t i = 0; i < addrs.size(); ++i) list += (i ? ",\"\\\\x" : "\"\\\\x") + addrs[i].Hex() + "\"";
      list += "}";
      // Not what was written lately: another process's commit may be about to reach it.
      return c.Exec("DELETE FROM datalith_blobs WHERE db = $1 AND addr = ANY($2::bytea[])"
                    " AND written <= now() - make_interval(secs => $3)",
                    Params().Text(db_).Text(list).Text(std::to_string(grace_s_))).status();
    });
  }

 private:
  static std::string AddrBytes(const Address& a) { return std::string(reinterpret_cast<const char*>(a.bytes.data()), 16); }

  // Runs `fn` on a pooled connection (a free one if any; else waits for the first).
  template <class F>
  auto With(F fn) -> decltype(fn(std::declval<Conn&>())) {
    for (size_t i = 0; i < kPool; ++i) {
      std::unique_lock<std::mutex> lock(slot_mu_[i], std::try_to_lock);
      if (lock.owns_lock()) return fn(*pool_[i]);
    }
    size_t i = next_++ % kPool;
    std::lock_guard<std::mutex> lock(slot_mu_[i]);
    return fn(*pool_[i]);
  }

  const std::string db_;
  const int grace_s_;
  std::vector<std::unique_ptr<Conn>> pool_;
  std::mutex slot_mu_[kPool];
  std::atomic<size_t> next_{0};
};

// LISTEN datalith_heads on a connection of its own, in a thread of its own.
class PostgresHeadWatch final : public HeadWatch {
 public:
  PostgresHeadWatch(std::string conninfo, std::function<void(const std::string&)> on_move)
      : conninfo_(std::move(conninfo)), on_move_(std::move(on_move)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~PostgresHeadWatch() override {
    stop_ = true;
    thread_.join();
  }

 private:
  void Run() {
    PGconn* pg = nullptr;
    while (!stop_) {
      if (!pg || PQstatus(pg) != CONNECTION_OK) {
        if (pg) PQfinish(pg);
        pg = PQconnectdb(conninfo_.c_str());
        PGresult* r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, "LISTEN datalith_heads") : nullptr;
        bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (r) PQclear(r);
        if (!ok) {
          Sleep(500);
          continue;
        }
        on_move_("");  // (re)connected: moves while it was down were not heard
      }
      pollfd p{PQsocket(pg), POLLIN, 0};
      if (::poll(&p, 1, 200) > 0 && !PQconsumeInput(pg)) continue;  // the status check reconnects
      while (PGnotify* n = PQnotifies(pg)) {
        std::string payload = n->extra;
        PQfreemem(n);
        on_move_(payload);
      }
    }
    if (pg) PQfinish(pg);
  }
  void Sleep(int ms) {
    for (int i = 0; i < ms / 50 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  const std::string conninfo_;
  std::function<void(const std::string&)> on_move_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

Result<std::shared_ptr<Store>> OpenPostgresStore(const std::string& conninfo, const std::string& db, int gc_grace_s) {
  if (db.empty() || db.size() > 128) return Status::Invalid("postgres store: bad database name '" + db + "'");
  if (gc_grace_s < 0) return Status::Invalid("postgres store: a negative GC grace");
  auto s = std::make_shared<PostgresStore>(conninfo, db, gc_grace_s);
  DL_RETURN_IF_ERROR(s->Init());
  return std::shared_ptr<Store>(s);
}

Result<std::unique_ptr<HeadWatch>> WatchPostgresHeads(const std::string& conninfo,
                                                      std::function<void(const std::string&)> on_move) {
  return std::unique_ptr<HeadWatch>(std::make_unique<PostgresHeadWatch>(conninfo, std::move(on_move)));
}

}  // namespace datalith

#endif  // DATALITH_POSTGRES
