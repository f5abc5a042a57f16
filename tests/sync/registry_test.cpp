// The registry as a hostile client meets it: tokens compared by digest, the same answer
// for a name that is not hosted and a wrong token, creating on demand only with write
// access and only up to max_databases, idle on-demand databases closed, at most
// max_clients authenticated sessions.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <future>
#include <thread>

#include "client_sync.h"
#include "sha256.h"

using namespace datalith;
using namespace datalith::sync;

namespace {

std::string Hex(const Digest& d) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) out += {kHex[b >> 4], kHex[b & 15]};
  return out;
}

struct Dir {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("datalith-registry-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n)))
                         .string();
  static inline int n = 0;
  Dir() { std::filesystem::remove_all(path); }
  ~Dir() { std::filesystem::remove_all(path); }
};

RegistryConfig OnDemand(const std::string& dir) {
  RegistryConfig c;
  c.data_dir = dir;
  c.databases["listed"] = {{"r"}, {"w"}};
  c.create_on_demand = true;
  c.default_tokens = {{"dr"}, {"dw"}};
  return c;
}

ProtocolError ErrorOf(Registry& r, const std::string& name, const std::string& token) {
  auto g = r.Authorize(name, token);
  REQUIRE(std::holds_alternative<ProtocolError>(g));
  return std::get<ProtocolError>(g);
}

}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors", "[sync][registry]") {
  CHECK(Hex(Sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Hex(Sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // 55, 56 and 64 bytes: the padding takes one block, then two.
  CHECK(Hex(Sha256(std::string(55, 'a'))) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(Hex(Sha256(std::string(56, 'a'))) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(Hex(Sha256(std::string(64, 'a'))) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  CHECK(Hex(Sha256(std::string(1000000, 'a'))) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(DigestsEqual(Sha256("token"), Sha256("token")));
  CHECK_FALSE(DigestsEqual(Sha256("token"), Sha256("token ")));
}

TEST_CASE("a name not hosted and a wrong token get the same answer", "[sync][registry]") {
  Dir dir;
  RegistryConfig c;
  c.data_dir = dir.path;
  c.databases["inv"] = {{"r"}, {"w"}};
  Registry r(c);
  REQUIRE(r.OpenListed().ok());
  ProtocolError wrong = ErrorOf(r, "inv", "nope"), missing = ErrorOf(r, "secret", "nope");
  ProtocolError missing_valid = ErrorOf(r, "secret", "w");
  CHECK(wrong.code == ErrorCode::kBadToken);
  CHECK(missing.code == ErrorCode::kBadToken);
  CHECK(missing_valid.code == ErrorCode::kBadToken);
  // The same words, but for the name the client gave.
  CHECK(wrong.message.substr(wrong.message.find("' ")) == missing.message.substr(missing.message.find("' ")));
  CHECK(std::get<0>(r.Authorize("inv", "r")).second == Access::kRead);
  CHECK(std::get<0>(r.Authorize("inv", "w")).second == Access::kWrite);
  // Equal lengths, equal prefixes: no token is half right.
  CHECK(ErrorOf(r, "inv", "x").code == ErrorCode::kBadToken);
  CHECK(ErrorOf(r, "inv", "").code == ErrorCode::kBadToken);
  r.CloseAll();
}

TEST_CASE("on demand, a write token creates a database and a read token does not", "[sync][registry]") {
  Dir dir;
  Registry r(OnDemand(dir.path));
  REQUIRE(r.OpenListed().ok());
  ProtocolError e = ErrorOf(r, "fresh", "dr");
  CHECK(e.code == ErrorCode::kUnknownDatabase);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/fresh"));  // nothing was created
  CHECK(ErrorOf(r, "fresh", "r").code == ErrorCode::kBadToken);  // a listed db's token is not a default one
  CHECK(r.databases().size() == 1);
  {
    auto g = r.Authorize("fresh", "dw");
    REQUIRE(std::holds_alternative<std::pair<std::shared_ptr<Database>, Access>>(g));
    CHECK(std::get<0>(g).second == Access::kWrite);
  }
  CHECK(std::filesystem::exists(dir.path + "/fresh"));
  // Once it exists, a read token opens it.
  CHECK(std::get<0>(r.Authorize("fresh", "dr")).second == Access::kRead);
  r.CloseAll();
}

TEST_CASE("on demand, at most max_databases are open; idle ones close and reopen", "[sync][registry]") {
  Dir dir;
  RegistryConfig c = OnDemand(dir.path);
  c.limits.max_databases = 3;  // the listed one and two more
  c.limits.idle_close_ms = 1;
  Registry r(c);
  REQUIRE(r.OpenListed().ok());
  auto held = std::get<0>(r.Authorize("a", "dw")).first;
  { auto b = std::get<0>(r.Authorize("b", "dw")).first; }
  ProtocolError full = ErrorOf(r, "c", "dw");
  CHECK(full.code == ErrorCode::kOverloaded);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/c"));
  // "b" is held by nobody: it closes (its writer thread ends); "a" is held; "listed" stays.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(r.CloseIdle() == std::vector<std::string>{"b"});
  CHECK(r.databases().size() == 2);
  // The room it left is usable, and "b" reopens with its data.
  CHECK(std::holds_alternative<std::pair<std::shared_ptr<Database>, Access>>(r.Authorize("c", "dw")));
  CHECK(ErrorOf(r, "b", "dw").code == ErrorCode::kOverloaded);
  held.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto closed = r.CloseIdle();
  std::sort(closed.begin(), closed.end());
  CHECK(closed == std::vector<std::string>{"a", "c"});
  CHECK(std::get<0>(r.Authorize("b", "dr")).second == Access::kRead);
  r.CloseAll();
}

TEST_CASE("a database closed as idle has committed what it was given, and reopens with it", "[sync][registry]") {
  Dir dir;
  RegistryConfig c = OnDemand(dir.path);
  c.limits.idle_close_ms = 1;
  Registry r(c);
  std::promise<void> done;
  {
    auto db = std::get<0>(r.Authorize("busy", "dw")).first;
    // The lease ends while the transaction may still be queued.
    REQUIRE_FALSE(db->Submit(*edn::ReadOne("[{:db/ident :x/y :db/valueType :db.type/long}]"), std::nullopt,
                             [&](TxOutcome o) {
                               CHECK_FALSE(o.error);
                               done.set_value();
                             }));
  }
  done.get_future().wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(r.CloseIdle() == std::vector<std::string>{"busy"});
  // Reopened: the commit is there.
  auto db = std::get<0>(r.Authorize("busy", "dr")).first;
  CHECK(db->connection().db().schema().AttrByIdent("x/y") != nullptr);
  r.CloseAll();
}

TEST_CASE("at most max_clients sessions pass hello; a closed one makes room", "[sync][registry]") {
  Dir dir;
  RegistryConfig c;
  c.data_dir = dir.path;
  c.databases["inv"] = {{"r"}, {"w"}};
  c.limits.max_clients = 2;
  Registry r(c);
  REQUIRE(r.OpenListed().ok());
  auto hello = [&] {
    auto s = std::make_shared<ClientSync>(r, [](std::function<void()>) {});
    s->OnMessage(R"({"type":"hello","protocol":2,"db":"inv","token":"r","have":null})", false);
    return s;
  };
  auto a = hello(), b = hello();
  CHECK(a->state() == ClientSync::State::kLive);
  CHECK(b->state() == ClientSync::State::kLive);
  auto third = hello();
  REQUIRE(third->close_error());
  CHECK(third->close_error()->code == ErrorCode::kOverloaded);
  CHECK(r.clients() == 2);
  a.reset();
  CHECK(r.clients() == 1);
  CHECK(hello()->state() == ClientSync::State::kLive);
  // A failed hello never counted.
  auto bad = std::make_shared<ClientSync>(r, [](std::function<void()>) {});
  bad->OnMessage(R"({"type":"hello","protocol":2,"db":"inv","token":"no","have":null})", false);
  CHECK(r.clients() == 1);
  r.CloseAll();
}

namespace {

// A store shared with "another server": before each of the next `races` compare-and-sets
// of the head, the other server commits first (through its own connection).
class RacingStore final : public Store {
 public:
  RacingStore(std::shared_ptr<Store> base, std::function<void()> other) : base_(std::move(base)), other_(std::move(other)) {}
  int races = 0;
  Result<std::string> Get(const Address& a) override { return base_->Get(a); }
  Status Put(const std::vector<std::pair<Address, std::string>>& b) override { return base_->Put(b); }
  Status Sync() override { return base_->Sync(); }
  Result<std::optional<std::string>> GetHead(const std::string& n) override { return base_->GetHead(n); }
  Status CasHead(const std::string& n, const std::optional<std::string>& e, const std::string& v) override {
    if (races > 0) {
      --races;
      other_();
    }
    return base_->CasHead(n, e, v);
  }
  Result<std::vector<std::string>> ListHeads() override { return base_->ListHeads(); }
  Status DeleteHead(const std::string& n) override { return base_->DeleteHead(n); }
  Result<std::vector<Address>> List() override { return base_->List(); }
  Status Delete(const Address& a) override { return base_->Delete(a); }

 private:
  std::shared_ptr<Store> base_;
  std::function<void()> other_;
};

TxOutcome SubmitAndWait(Database& db, const std::string& tx) {
  std::promise<TxOutcome> p;
  auto f = p.get_future();
  REQUIRE_FALSE(db.Submit(*edn::ReadOne(tx), std::nullopt, [&](TxOutcome o) { p.set_value(std::move(o)); }));
  return f.get();
}

}  // namespace

TEST_CASE("a commit another server beats applies the group again on its head: :db/cas is decided there",
          "[sync][registry]") {
  auto base = MakeMemoryStore();
  {
    auto c = *Connection::Create(base);
    REQUIRE(c->Transact("[{:db/ident :c/id :db/valueType :db.type/string :db/unique :db.unique/identity}"
                        " {:db/ident :c/n :db/valueType :db.type/long} {:db/ident :w/key :db/valueType :db.type/string}]").ok());
    REQUIRE(c->Transact("[{:c/id \"x\" :c/n 0}]").ok());
    REQUIRE(c->Flush().ok());
  }
  int n = 0;
  std::shared_ptr<Connection> other;
  auto racing = std::make_shared<RacingStore>(base, [&] {
    if (!other) other = *Connection::Open(base);
    REQUIRE(other->Refresh().ok());
    REQUIRE(other->Transact("[[:db/cas [:c/id \"x\"] :c/n " + std::to_string(n) + " " + std::to_string(n + 1) + "]]").ok());
    REQUIRE(other->Flush().ok());
    ++n;
  });
  Limits limits;
  auto db = *Database::Open("shared", racing, false, limits);

  racing->races = 1;
  TxOutcome cas = SubmitAndWait(*db, "[[:db/cas [:c/id \"x\"] :c/n 0 5] {:w/key \"k\"}]");
  REQUIRE(cas.error);  // applied on the other server's head, where :c/n is 1
  CHECK(cas.error->code == ErrorCode::kTxFailed);
  CHECK(cas.error->message.find(":db/cas failed") != std::string::npos);
  TxOutcome plain = SubmitAndWait(*db, "[{:w/key \"k2\"}]");
  CHECK_FALSE(plain.error);
  CHECK(db->metrics().commit_conflicts == 1);

  // A transaction beaten every time is refused as overloaded, not committed.
  racing->races = 100;
  TxOutcome starved = SubmitAndWait(*db, "[{:w/key \"k3\"}]");
  REQUIRE(starved.error);
  CHECK(starved.error->code == ErrorCode::kOverloaded);
  racing->races = 0;
  TxOutcome after = SubmitAndWait(*db, "[{:w/key \"k4\"}]");
  CHECK_FALSE(after.error);
  auto conn = *Connection::Open(base);
  auto keys = conn->db().Datoms(IndexType::kAevt, {Value::Keyword("w/key")});
  REQUIRE(keys.ok());
  CHECK(keys->size() == 2);  // k2 and k4: the beaten k3 was not committed
  auto counter = conn->db().Datoms(IndexType::kAevt, {Value::Keyword("c/n")});
  REQUIRE(counter.ok());
  REQUIRE(counter->size() == 1);
  CHECK((*counter)[0].v == Value::Long(n));  // only the other server's increments
  db->Close();
}
