// ClientSync driven without a network: a fake transport that runs posted closures,
// pumps frames, and applies them to an in-memory replica like a client would.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "../core/flaky_put_store.h"
#include "client_sync.h"

using namespace datalith;
using namespace datalith::sync;
using Json = nlohmann::json;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    static int n = 0;
    path = (std::filesystem::temp_directory_path() /
            ("datalith-sync-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++)))
               .string();
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

RegistryConfig Config(const std::string& dir) {
  RegistryConfig c;
  c.data_dir = dir;
  c.databases["inv"] = {{"reader"}, {"writer"}};
  return c;
}

struct Client {
  std::mutex mu;
  std::vector<std::function<void()>> posted;
  std::shared_ptr<ClientSync> sync;
  std::map<Address, std::string> replica;
  std::vector<Json> texts;
  Address head;           // the last head received
  size_t update_blobs = 0;  // blobs since the last head
  std::vector<size_t> blobs_per_update;
  size_t probes = 0;
  bool auto_ack = true;
  bool refuse_logs = false;  // answer log updates with `resend`, as a client whose rebuild failed
  size_t log_updates = 0, resends = 0;

  explicit Client(Registry& r) {
    sync = std::make_shared<ClientSync>(r, [this](std::function<void()> f) {
      std::lock_guard<std::mutex> lock(mu);
      posted.push_back(std::move(f));
    });
  }
  void SendText(const Json& j) { sync->OnMessage(j.dump(), false); }
  void Hello(const std::string& token, const Address& have = Address(), const std::string& db = "inv") {
    Json h = {{"type", "hello"}, {"protocol", 2}, {"db", db}, {"token", token}};
    h["have"] = have.IsZero() ? Json(nullptr) : Json(have.Hex());
    SendText(h);
    Drain();
  }
  void Ack() { SendText({{"type", "ack"}, {"commit", head.Hex()}}); }
  // Runs posted work and handles output until nothing moves.
  void Drain() {
    while (true) {
      std::vector<std::function<void()>> work;
      {
        std::lock_guard<std::mutex> lock(mu);
        work.swap(posted);
      }
      for (auto& f : work) f();
      while (sync->Pump()) {}
      if (work.empty() && sync->outbox().empty()) return;
      while (!sync->outbox().empty()) {
        auto out = std::move(sync->outbox().front());
        sync->outbox().pop_front();
        Handle(out);
      }
    }
  }
  void Handle(const ClientSync::Outgoing& out) {
    if (!out.binary) {
      texts.push_back(Json::parse(out.data));
      if (texts.back()["type"] == "head") {
        const Json& h = texts.back();
        Address commit = *Address::FromHex(h["commit"].get<std::string>());
        CHECK(h["blobs"] == update_blobs);
        if (h["apply"] == "log") {
          ++log_updates;
          if (refuse_logs || !Replay(commit, h["log"])) {
            ++resends;
            update_blobs = 0;
            SendText({{"type", "resend"}, {"commit", commit.Hex()}, {"reason", "test"}});
            return;
          }
        }
        head = commit;
        CHECK(replica.count(head));  // never a head without its nodes
        blobs_per_update.push_back(update_blobs);
        update_blobs = 0;
        if (auto_ack) Ack();
      }
      return;
    }
    auto f = std::get<Frame>(DecodeFrame(out.data, size_t{64} << 20));
    if (f.type == FrameType::kNodes) {
      for (auto& b : f.blobs) replica[b.addr] = std::move(b.bytes);
      update_blobs += f.blobs.size();
    } else if (f.type == FrameType::kProbe) {
      ++probes;
      std::vector<bool> have;
      for (const Address& a : f.addresses) have.push_back(replica.count(a) > 0);
      sync->OnMessage(EncodeHave(have), true);
    }
  }
  // What a client does with a log update: replay the logs on its head (a Connection over
  // a store holding the replica's blobs) and keep what that builds.
  bool Replay(const Address& commit, const Json& log) {
    auto store = MakeMemoryStore();
    std::vector<std::pair<Address, std::string>> blobs(replica.begin(), replica.end());
    REQUIRE(store->Put(blobs).ok());
    REQUIRE(store->CasHead("main", std::nullopt, head.Hex()).ok());
    std::vector<std::vector<Address>> segments;
    for (const Json& c : log) {
      segments.emplace_back();
      for (const Json& a : c) segments.back().push_back(*Address::FromHex(a.get<std::string>()));
    }
    auto conn = Connection::Open(store);
    REQUIRE(conn.ok());
    if (!(*conn)->ApplyLog(commit, segments).ok()) return false;
    const std::vector<Address> all = *store->List();
    for (const Address& a : all) replica[a] = *store->Get(a);
    return true;
  }
  // Drains until `pred` holds (work arrives from the writer thread), at most 10 s.
  template <class Pred>
  bool WaitFor(Pred pred) {
    for (int i = 0; i < 10000; ++i) {
      Drain();
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  const Json& Last(const std::string& type) {
    for (auto it = texts.rbegin(); it != texts.rend(); ++it) {
      if ((*it)["type"] == type) return *it;
    }
    FAIL("no " << type << " message");
    static Json none;
    return none;
  }
};

// Submits `tx` (with a client id or none) to the database's writer and waits for its outcome.
TxOutcome Submit(Database& db, const std::string& tx, std::optional<std::string> client) {
  std::promise<TxOutcome> done;
  auto f = done.get_future();
  REQUIRE_FALSE(db.Submit(*edn::ReadOne(tx), std::move(client), [&](TxOutcome o) { done.set_value(std::move(o)); }));
  return f.get();
}

// Commits `tx` through the database's writer and waits for it.
void Commit(Database& db, const std::string& tx) {
  auto o = Submit(db, tx, std::nullopt);
  if (o.error) FAIL(o.error->message);
}

// A registry serving "inv" from a fresh data directory, the database opened (the
// fixture of the ClientSync tests).
struct Server {
  TempDir dir;
  Registry registry{Config(dir.path)};
  std::shared_ptr<Database> db;
  Server() {
    REQUIRE(registry.OpenListed().ok());
    db = std::get<0>(registry.Authorize("inv", "writer")).first;
  }
  // Commits `schema`, then (if n > 0) one transaction of n entities :item/sku "s<i>".
  void Load(const std::string& schema, int n = 0) {
    Commit(*db, schema);
    if (n == 0) return;
    std::string tx = "[";
    for (int i = 0; i < n; ++i) tx += "{:item/sku \"s" + std::to_string(i) + "\"}";
    Commit(*db, tx + "]");
  }
};

const char* kSkuSchema = "[{:db/ident :item/sku :db/valueType :db.type/string :db/unique :db.unique/identity}]";

}  // namespace

TEST_CASE_METHOD(Server, "hello errors close the session with their code", "[sync][client_sync]") {
  struct Case {
    Json hello;
    ErrorCode code;
  } cases[] = {
      {{{"type", "hello"}, {"protocol", 2}, {"db", "inv"}, {"token", "nope"}}, ErrorCode::kBadToken},
      // A name not hosted is answered as a wrong token (names cannot be enumerated).
      {{{"type", "hello"}, {"protocol", 2}, {"db", "other"}, {"token", "writer"}}, ErrorCode::kBadToken},
      {{{"type", "hello"}, {"protocol", 1}, {"db", "inv"}, {"token", "writer"}}, ErrorCode::kVersionMismatch},
      {{{"type", "hello"}, {"protocol", 3}, {"db", "inv"}, {"token", "writer"}}, ErrorCode::kVersionMismatch},
      {{{"type", "tx"}, {"id", 1}, {"tx", "[]"}}, ErrorCode::kUnexpectedMessage},
      {{{"type", "hello"}, {"db", "inv"}}, ErrorCode::kMalformedMessage},
  };
  for (const auto& c : cases) {
    INFO(c.hello.dump());
    Client client(registry);
    client.SendText(c.hello);
    client.Drain();
    REQUIRE(client.sync->close_error());
    CHECK(client.sync->close_error()->code == c.code);
    CHECK(client.sync->state() == ClientSync::State::kClosed);
    CHECK(client.Last("error")["code"] == ErrorName(c.code));
    if (c.hello.value("protocol", 0) == 1) {  // a v1 client is told why, not just "no"
      CHECK(client.Last("error")["message"].get<std::string>().find("upgrade the datalith package") != std::string::npos);
    }
    // Nothing more happens after a fatal error.
    client.SendText({{"type", "hello"}, {"protocol", 2}, {"db", "inv"}, {"token", "writer"}});
    client.Drain();
    CHECK(client.texts.size() == 1);
  }
  Client binary(registry);
  binary.sync->OnMessage("\x01\x00garbage", true);
  CHECK(binary.sync->close_error()->code == ErrorCode::kMalformedMessage);
  registry.CloseAll();
}

TEST_CASE_METHOD(Server, "initial sync, resume with zero nodes, pushed diffs", "[sync][client_sync]") {
  Load(kSkuSchema, 3000);

  Client a(registry);
  a.Hello("reader");
  CHECK(a.texts[0]["type"] == "welcome");
  CHECK(a.texts[0]["access"] == "read");
  CHECK(a.head == db->head().commit);
  auto full = *db->connection().BlobsToReach(db->head().commit, Address());
  CHECK(a.replica.size() == full.size());
  CHECK(a.blobs_per_update == std::vector<size_t>{full.size()});

  // A client that already has the head receives a welcome and nothing else.
  Client b(registry);
  b.replica = a.replica;  // a replica that holds the head (say, from an earlier session)
  b.head = a.head;
  b.Hello("writer", a.head);
  CHECK(b.texts.size() == 1);
  CHECK(b.replica.size() == a.replica.size());

  // b transacts; both receive the commit as a small pushed diff.
  b.SendText({{"type", "tx"}, {"id", 7}, {"tx", R"([{:db/id "n" :item/sku "new"}])"}});
  auto has = [](Client& c, const char* type) {
    for (const Json& j : c.texts) if (j["type"] == type) return true;
    return false;
  };
  REQUIRE(b.WaitFor([&] { return b.head != a.head && has(b, "tx_ok"); }));
  const Json& ok = b.Last("tx_ok");
  CHECK(ok["id"] == 7);
  CHECK(ok["tempids"]["n"].get<uint64_t>() >= kFirstUserEid);
  CHECK(ok["commit"] == b.head.Hex());
  REQUIRE(a.WaitFor([&] { return a.head == b.head; }));
  CHECK(a.blobs_per_update.size() == 2);
  CHECK(a.blobs_per_update[1] < 40);
  CHECK(a.blobs_per_update[1] == b.blobs_per_update[0]);
  // The replica now holds everything the new head reaches.
  auto now_full = *db->connection().BlobsToReach(db->head().commit, Address());
  for (const Address& x : now_full) CHECK(a.replica.count(x));

  // A read-only token cannot transact; malformed tx data is a per-request error.
  a.SendText({{"type", "tx"}, {"id", 1}, {"tx", "[]"}});
  a.SendText({{"type", "ack"}, {"commit", a.head.Hex()}});  // a second ack: protocol error
  a.Drain();
  CHECK(a.texts[a.texts.size() - 2]["code"] == "forbidden");
  CHECK(a.sync->close_error()->code == ErrorCode::kUnexpectedMessage);
  b.SendText({{"type", "tx"}, {"id", 2}, {"tx", "[{:item/sku"}});
  b.SendText({{"type", "tx"}, {"id", 3}, {"tx", "[{:item/nope 1}]"}});
  REQUIRE(b.WaitFor([&] { return b.Last("error")["id"] == 3; }));
  CHECK(b.texts[b.texts.size() - 2]["code"] == "tx_failed");
  CHECK(b.Last("error")["code"] == "tx_failed");
  CHECK(b.sync->inflight_tx() == 0);
  CHECK_FALSE(b.sync->close_error());
  registry.CloseAll();
}

TEST_CASE_METHOD(Server, "a client that does not ack gets one coalesced diff later", "[sync][client_sync]") {
  Load("[{:db/ident :n :db/valueType :db.type/long}]");
  Client slow(registry);
  slow.auto_ack = false;
  slow.Hello("reader");
  Address first = slow.head;
  REQUIRE(slow.blobs_per_update.size() == 1);
  for (int i = 0; i < 20; ++i) Commit(*db, "[{:n " + std::to_string(i) + "}]");
  slow.Drain();
  CHECK(slow.blobs_per_update.size() == 1);  // nothing while the head is unacknowledged
  CHECK(slow.sync->outbox().empty());
  slow.Ack();
  slow.Drain();
  REQUIRE(slow.blobs_per_update.size() == 2);
  CHECK(slow.head == db->head().commit);
  // 20 commits' logs are more than a client replays: the nodes it lacks, plus the 20
  // commits' logs for its listeners.
  const Json& h = slow.Last("head");
  CHECK(h["apply"] == "nodes");
  REQUIRE(h["log"].size() == 20);
  CHECK(slow.blobs_per_update[1] == db->connection().BlobsToReach(slow.head, first)->size() + 20);
  registry.CloseAll();
}

TEST_CASE_METHOD(Server, "a live client gets a commit as its log, and as nodes when it asks", "[sync][client_sync]") {
  Load(kSkuSchema, 4000);
  Client c(registry);
  c.Hello("reader");
  Address before = c.head;
  Commit(*db, R"([{:item/sku "s17x"} {:item/sku "zzz"}])");
  REQUIRE(c.WaitFor([&] { return c.head == db->head().commit; }));
  const Json& h = c.Last("head");
  CHECK(h["apply"] == "log");
  REQUIRE(h["log"].size() == 1);
  CHECK(c.log_updates == 1);
  CHECK(c.blobs_per_update.back() == 1);  // one log segment instead of the changed nodes
  // What the replay built is exactly what the nodes would have been.
  CHECK(db->connection().BlobsToReach(c.head, before)->size() > 5);
  const std::vector<Address> nodes = *db->connection().BlobsToReach(c.head, before);
  for (const Address& a : nodes) CHECK(c.replica.count(a));
  CHECK(db->metrics().log_updates_sent == 1);

  // A client that cannot rebuild the head asks again and gets the nodes.
  c.refuse_logs = true;
  Address second = c.head;
  Commit(*db, R"([{:item/sku "s2000y"}])");
  REQUIRE(c.WaitFor([&] { return c.head == db->head().commit; }));
  CHECK(c.resends == 1);
  CHECK(c.Last("head")["apply"] == "nodes");
  CHECK(db->metrics().log_resends == 1);
  const std::vector<Address> resent = *db->connection().BlobsToReach(c.head, second);
  for (const Address& a : resent) CHECK(c.replica.count(a));
  // A resend that answers nothing is a protocol error.
  c.SendText({{"type", "resend"}, {"commit", c.head.Hex()}, {"reason", "again"}});
  c.Drain();
  REQUIRE(c.sync->close_error());
  CHECK(c.sync->close_error()->code == ErrorCode::kUnexpectedMessage);
  registry.CloseAll();
}

TEST_CASE_METHOD(Server, "an unknown client commit is negotiated down to the missing nodes", "[sync][client_sync]") {
  Load(kSkuSchema, 4000);
  Client c(registry);
  c.Hello("reader");
  Address old_head = c.head;
  Commit(*db, R"([{:item/sku "s17x"} {:item/sku "zzz"}])");
  c.WaitFor([&] { return c.head == db->head().commit; });
  Commit(*db, R"([{:item/sku "s2000y"}])");
  auto expected = *db->connection().BlobsToReach(db->head().commit, c.head);

  // A new session whose client names a commit the server never had (say, GC'd).
  Client d(registry);
  d.replica = c.replica;
  d.Hello("reader", Address::Of("gone"));
  CHECK(d.probes >= 2);  // one per tree level at least
  CHECK(d.head == db->head().commit);
  REQUIRE(d.blobs_per_update.size() == 1);
  CHECK(d.blobs_per_update[0] == expected.size());
  for (const Address& x : expected) CHECK(d.replica.count(x));
  (void)old_head;
  registry.CloseAll();
}

TEST_CASE_METHOD(Server, "group commit answers each transaction and shutdown drains", "[sync][client_sync]") {
  Load("[{:db/ident :k :db/valueType :db.type/long :db/unique :db.unique/identity}]");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, failed{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::promise<TxOutcome> p;
        auto f = p.get_future();
        // Every fifth one conflicts with itself: two values of a unique identity.
        std::string tx = i % 5 == 4 ? "[{:db/id 1 :k 1}" + std::string("{:db/id 2 :k 1}]")
                                    : "[{:k " + std::to_string(t * 1000 + i) + "}]";
        REQUIRE_FALSE(db->Submit(*edn::ReadOne(tx), std::nullopt, [&](TxOutcome o) { p.set_value(std::move(o)); }));
        auto o = f.get();
        (o.error ? failed : ok)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 320);
  CHECK(failed == 80);
  CHECK(db->metrics().transactions == 321);
  CHECK(db->metrics().commits <= 321);
  // A live session is told the server goes away.
  Client c(registry);
  c.Hello("writer");
  registry.CloseAll();
  auto late = db->Submit(*edn::ReadOne("[]"), std::nullopt, [](TxOutcome) { FAIL("called"); });
  REQUIRE(late);
  CHECK(late->code == ErrorCode::kShuttingDown);
  c.sync->Shutdown();
  CHECK(c.sync->close_error()->code == ErrorCode::kShuttingDown);
  CHECK(CloseCode(c.sync->close_error()->code) == 1001);
}

TEST_CASE_METHOD(Server, "a resent client id is answered with the original outcome, once applied", "[sync][client_sync]") {
  Load(kSkuSchema);
  Client c(registry);
  c.Hello("writer");
  const std::string tx = R"([{:db/id "o" :item/sku "once"}])";
  // Four copies at once: some may share a group commit, some follow it.
  for (uint64_t id = 1; id <= 4; ++id) c.SendText({{"type", "tx"}, {"id", id}, {"tx", tx}, {"client", "c-1"}});
  auto answered = [&] {
    size_t n = 0;
    for (const Json& t : c.texts) n += t["type"] == "tx_ok";
    return n == 4;
  };
  REQUIRE(c.WaitFor(answered));
  std::vector<const Json*> oks;
  for (const Json& t : c.texts) {
    if (t["type"] == "tx_ok") oks.push_back(&t);
  }
  size_t originals = 0;
  for (const Json* o : oks) {
    CHECK((*o)["tx"] == (*oks[0])["tx"]);
    CHECK((*o)["tempids"] == (*oks[0])["tempids"]);
    CHECK((*o)["commit"].get<std::string>().size() == 32);
    originals += !o->contains("duplicate");
    if (o->contains("duplicate")) CHECK((*o)["duplicate"] == true);
  }
  CHECK(originals == 1);
  CHECK(db->metrics().tx_duplicates == 3);
  auto skus = db->connection().db().Datoms(IndexType::kAvet, {Value::Keyword("item/sku"), Value::String("once")});
  REQUIRE(skus.ok());
  CHECK(skus->size() == 1);

  // A bad client id answers its tx with tx_failed naming the field; the session goes on.
  c.SendText({{"type", "tx"}, {"id", 9}, {"tx", tx}, {"client", "no spaces"}});
  c.SendText({{"type", "tx"}, {"id", 10}, {"tx", tx}, {"client", 5}});
  c.Drain();
  size_t bad = 0;
  for (const Json& t : c.texts) {
    if (t["type"] != "error" || (t["id"] != 9 && t["id"] != 10)) continue;
    CHECK(t["code"] == "tx_failed");
    CHECK(t["message"].get<std::string>().find("\"client\"") != std::string::npos);
    ++bad;
  }
  CHECK(bad == 2);
  CHECK_FALSE(c.sync->close_error());
}

TEST_CASE("a resend after commit_failed commits the pending original and answers it as a duplicate", "[sync][client_sync]") {
  auto store = std::make_shared<FlakyPutStore>();
  auto db = *Database::Open("flaky", store, /*create=*/true, Limits{});
  REQUIRE_FALSE(Submit(*db, kSkuSchema, std::nullopt).error);
  const std::string tx = R"([{:db/id "o" :item/sku "flaky"}])";
  store->failing = true;
  TxOutcome lost = Submit(*db, tx, "c-9");
  REQUIRE(lost.error);
  CHECK(lost.error->code == ErrorCode::kCommitFailed);
  const Database::Head before = db->head();
  store->failing = false;
  TxOutcome resent = Submit(*db, tx, "c-9");
  INFO((resent.error ? resent.error->message : ""));
  REQUIRE_FALSE(resent.error);
  CHECK(resent.reply.duplicate);
  CHECK(resent.reply.tx > before.tx);
  CHECK(resent.reply.commit == db->head().commit);
  CHECK(db->head().tx >= resent.reply.tx);
  CHECK(db->connection().pending_tx() == 0);
  auto skus = db->connection().db().Datoms(IndexType::kAvet, {Value::Keyword("item/sku"), Value::String("flaky")});
  REQUIRE(skus.ok());
  CHECK(skus->size() == 1);
  db->Close();
}
