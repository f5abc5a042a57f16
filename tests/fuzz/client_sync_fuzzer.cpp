// ClientSync, the sync server's per-client state machine (sync-server/replication/
// client_sync.*, docs/sync-protocol.md §5), driven like the fake transport of
// tests/sync/client_sync_test.cpp: the input is a script of client messages (hello with
// a chosen `have`, acks right and wrong, resend, HAVE answers true or made up, tx,
// raw text and binary frames) and of transport steps (pump k frames, wait for the
// writer's answers, shutdown).
//
// The database is a file store (the Registry opens only those) under a temporary
// directory, seeded once with a few commits and copied (hard links: packs never change)
// before any input that follows one that committed, so every input starts from the
// same state. What must hold whatever the client sends:
// - every frame the server sends decodes, is NODES or PROBE (at most max_probe
//   addresses), and every blob in it verifies against its address;
// - every text message is a JSON object of a known type; welcome comes first and once;
//   an error's code is a known name; a fatal error is the last thing sent and is the
//   one close_error() reports;
// - a head counts exactly the blobs sent since the previous one, and, to a client that
//   stored everything it was sent (and answered probes truthfully), leaves it holding
//   every blob the head reaches: replaying a log update's segments rebuilds the head;
// - every tx accepted while live gets exactly one answer (unless the session closed).
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <unistd.h>

#include "client_sync.h"
#include "fuzz_check.h"

using namespace datalith;
using namespace datalith::sync;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Reads the script: bytes, then zeros once the input runs out.
struct Script {
  const uint8_t* p;
  size_t n;
  bool done() const { return n == 0; }
  uint8_t Byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::string Bytes(size_t max) {
    size_t len = std::min<size_t>(Byte() % (max + 1), n);
    std::string s(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    return s;
  }
};

RegistryConfig Config(const std::string& dir) {
  RegistryConfig c;
  c.data_dir = dir;
  c.databases["inv"] = {{"reader"}, {"writer"}};
  // Small limits, so a few blobs take several frames and probe rounds, and a few
  // transactions reach the in-flight limit.
  c.limits.max_message_bytes = 4096;
  c.limits.frame_target_bytes = 2048;
  c.limits.max_probe = 3;
  c.limits.max_inflight_tx = 3;
  return c;
}

// The seeded database: a template directory, and the commits of its chain, oldest
// first (the last is the head).
struct Seed {
  std::string root, template_dir, run_dir;
  std::vector<Address> chain;
  std::map<Address, std::vector<Address>> reach;  // commit → every blob it reaches
  ~Seed() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};
Seed* g_seed = nullptr;
// FUZZ_TRACE=1 prints what the server sends, to see what a script does.
const bool g_trace = std::getenv("FUZZ_TRACE") != nullptr;

void CommitOrDie(Database& db, const std::string& tx) {
  std::promise<TxOutcome> done;
  auto f = done.get_future();
  if (db.Submit(*edn::ReadOne(tx), std::nullopt, [&](TxOutcome o) { done.set_value(std::move(o)); })) std::abort();
  if (f.get().error) std::abort();
}

void MakeSeed() {
  static Seed seed;
  g_seed = &seed;
  const char* shm = "/dev/shm";
  std::error_code ec;
  fs::path base = access(shm, W_OK) == 0 ? fs::path(shm) : fs::temp_directory_path();
  seed.root = (base / ("datalith-fuzz-client-sync-" + std::to_string(getpid()))).string();
  fs::remove_all(seed.root, ec);
  seed.template_dir = seed.root + "/template";
  seed.run_dir = seed.root + "/run";
  Registry registry(Config(seed.template_dir));
  if (!registry.OpenListed().ok()) std::abort();
  auto db = std::get<0>(registry.Authorize("inv", "writer")).first;
  seed.chain.push_back(db->head().commit);
  CommitOrDie(*db, "[{:db/ident :item/sku :db/valueType :db.type/string :db/unique :db.unique/identity}"
                   " {:db/ident :item/qty :db/valueType :db.type/long}]");
  seed.chain.push_back(db->head().commit);
  std::string tx = "[";
  for (int i = 0; i < 300; ++i) tx += "{:item/sku \"s" + std::to_string(i) + "\" :item/qty " + std::to_string(i) + "}";
  CommitOrDie(*db, tx + "]");
  seed.chain.push_back(db->head().commit);
  for (int i = 0; i < 3; ++i) {
    CommitOrDie(*db, "[{:item/sku \"s" + std::to_string(i * 7) + "\" :item/qty -1} {:item/sku \"new" +
                         std::to_string(i) + "\"}]");
    seed.chain.push_back(db->head().commit);
  }
  for (const Address& c : seed.chain) seed.reach[c] = *db->connection().BlobsToReach(c, Address());
  registry.CloseAll();
}

// A client over the fake transport: posted work runs on the fuzzer's thread.
struct Client {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::function<void()>> posted;
  std::shared_ptr<ClientSync> sync;
  std::shared_ptr<Database> db;  // the one the session will serve

  std::map<Address, std::string> replica;  // every blob received or held from the start
  Address head;                            // the replica's head
  bool trusted = true;  // it answered every probe truthfully, so what it holds is known
  Address last_head;    // the last head message's commit
  std::vector<Address> last_probe;
  size_t update_blobs = 0;
  bool welcomed = false, closed_sent = false;
  size_t tx_sent = 0, tx_answered = 0;

  explicit Client(Registry& r) : db(std::get<0>(r.Authorize("inv", "reader")).first) {
    sync = std::make_shared<ClientSync>(r, [this](std::function<void()> f) {
      std::lock_guard<std::mutex> lock(mu);
      posted.push_back(std::move(f));
      cv.notify_one();
    });
  }

  void Hold(const Address& commit) {
    if (commit.IsZero()) return;
    Store& store = db->store();
    for (const Address& a : g_seed->reach.at(commit)) replica[a] = *store.Get(a);
  }

  // Runs posted work and takes the outbox until nothing is pending; with `wait`, until
  // the writer has answered every transaction too.
  void Settle(bool wait) {
    while (true) {
      std::vector<std::function<void()>> work;
      {
        std::unique_lock<std::mutex> lock(mu);
        if (wait && posted.empty() && sync->inflight_tx() > 0) {
          const bool answered = cv.wait_for(lock, std::chrono::seconds(20), [&] { return !posted.empty(); });
          FUZZ_CHECK(answered, "the writer did not answer a transaction in 20 s");
        }
        work.swap(posted);
      }
      for (auto& f : work) f();
      TakeOutbox();
      if (work.empty() && (!wait || sync->inflight_tx() == 0)) return;
    }
  }

  void TakeOutbox() {
    while (!sync->outbox().empty()) {
      ClientSync::Outgoing out = std::move(sync->outbox().front());
      sync->outbox().pop_front();
      FUZZ_CHECK(!closed_sent, "a message after the fatal error");
      if (out.binary) {
        OnFrame(out.data);
      } else {
        OnText(out.data);
      }
    }
  }

  void OnFrame(const std::string& data) {
    if (g_trace) std::fprintf(stderr, "<- frame type %d, %zu bytes\n", data[0], data.size());
    auto decoded = DecodeFrame(data, size_t{64} << 20);
    FUZZ_CHECK(std::holds_alternative<Frame>(decoded), "a server frame does not decode");
    Frame& f = std::get<Frame>(decoded);
    FUZZ_CHECK(f.type != FrameType::kHave, "the server sent HAVE");
    if (f.type == FrameType::kProbe) {
      FUZZ_CHECK(!f.addresses.empty() && f.addresses.size() <= 3, std::to_string(f.addresses.size()) + " addresses in a PROBE");
      last_probe = std::move(f.addresses);
      return;
    }
    for (Blob& b : f.blobs) {
      Status ok = VerifyBlob(b.addr, b.bytes);
      FUZZ_CHECK(ok.ok(), "a sent blob does not verify: " + ok.ToString());
      replica[b.addr] = std::move(b.bytes);
    }
    update_blobs += f.blobs.size();
  }

  void OnText(const std::string& data) {
    if (g_trace) std::fprintf(stderr, "<- %s\n", data.c_str());
    Json j = Json::parse(data, nullptr, false);
    FUZZ_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), data);
    const std::string type = j["type"];
    if (type == "welcome") {
      FUZZ_CHECK(!welcomed, "a second welcome");
      welcomed = true;
    } else if (type == "head") {
      FUZZ_CHECK(welcomed, "a head before welcome");
      FUZZ_CHECK(j["blobs"] == update_blobs, data + " after " + std::to_string(update_blobs) + " blobs");
      update_blobs = 0;
      last_head = *Address::FromHex(j["commit"].get<std::string>());
      OnHead(j);
    } else if (type == "tx_ok") {
      ++tx_answered;
    } else if (type == "error") {
      const std::string code = j["code"];
      bool known = false;
      for (int c = 0; c <= static_cast<int>(ErrorCode::kInternal); ++c) known |= code == ErrorName(static_cast<ErrorCode>(c));
      FUZZ_CHECK(known, data);
      if (j.contains("id")) ++tx_answered;
      if (sync->close_error()) {
        FUZZ_CHECK(code == ErrorName(sync->close_error()->code), data);
        FUZZ_CHECK(sync->state() == ClientSync::State::kClosed, "closed without the closed state");
        closed_sent = true;
      }
    } else {
      FUZZ_CHECK(false, "unknown message type: " + data);
    }
  }

  // What a client does with a head: a log update is replayed on the replica's head, a
  // node update must leave the replica holding everything the head reaches.
  void OnHead(const Json& h) {
    if (!trusted) {
      head = last_head;
      return;
    }
    if (h["apply"] == "log") {
      auto store = MakeMemoryStore();
      std::vector<std::pair<Address, std::string>> blobs(replica.begin(), replica.end());
      FUZZ_CHECK(store->Put(blobs).ok() && store->CasHead("main", std::nullopt, head.Hex()).ok(), "replica store");
      std::vector<std::vector<Address>> segments;
      for (const Json& commit : h["log"]) {
        segments.emplace_back();
        for (const Json& a : commit) segments.back().push_back(*Address::FromHex(a.get<std::string>()));
      }
      auto conn = Connection::Open(store);
      FUZZ_CHECK(conn.ok(), "the replica does not open: " + conn.status().ToString());
      auto applied = (*conn)->ApplyLog(last_head, segments);
      FUZZ_CHECK(applied.ok(), "a log update does not rebuild its head: " + applied.status().ToString());
      const std::vector<Address> all = *store->List();  // a copy: the Result is a temporary
      for (const Address& a : all) replica[a] = *store->Get(a);
    }
    head = last_head;
    auto reach = db->connection().BlobsToReach(head, Address());
    FUZZ_CHECK(reach.ok(), reach.status().ToString());
    for (const Address& a : *reach) FUZZ_CHECK(replica.count(a), "the head " + head.Hex() + " reaches a blob the client lacks");
  }
};

// The address a hello names as the client's commit: none, one of the chain's, or one
// the server never had.
Address PickHave(uint8_t b, Client* c) {
  const auto& chain = g_seed->chain;
  const size_t k = b % (chain.size() + 3);
  if (k == 0) return Address();
  if (k <= chain.size()) {
    c->Hold(chain[k - 1]);
    return chain[k - 1];
  }
  if (k == chain.size() + 1) c->Hold(chain[2]);  // a replica from elsewhere with the same data
  return Address::Of("a commit this server never had " + std::to_string(k));
}

void Run(Registry& registry, Script s) {
  Client c(registry);
  static const char* kTokens[] = {"reader", "writer", "writer", "nope"};
  static const char* kTx[] = {
      "[{:item/sku \"s1\" :item/qty 99}]",          // commits
      "[{:db/id \"t\" :item/sku \"fresh\"}]",       // commits, a tempid
      "[{:item/nope 1}]",                           // fails in the writer
      "[{:item/sku",                                // does not read
  };
  while (!s.done() && c.sync->state() != ClientSync::State::kClosed) {
    const uint8_t op = s.Byte();
    const bool live = c.sync->state() == ClientSync::State::kLive;
    switch (op % 11) {
      case 0: {  // hello
        const uint8_t protocol = s.Byte(), token = s.Byte(), have = s.Byte();
        Json h = {{"type", "hello"},
                  {"protocol", protocol % 8 == 0 ? 1 : 2},
                  {"db", protocol % 16 == 1 ? "other" : "inv"},
                  {"token", kTokens[token % 4]}};
        const Address a = c.sync->state() == ClientSync::State::kAwaitHello ? PickHave(have, &c) : Address();
        h["have"] = a.IsZero() ? Json(nullptr) : Json(a.Hex());
        if (c.sync->state() == ClientSync::State::kAwaitHello) c.head = a;
        c.sync->OnMessage(h.dump(), false);
        break;
      }
      case 1:  // ack of the last head received
        c.sync->OnMessage(Json{{"type", "ack"}, {"commit", c.last_head.Hex()}}.dump(), false);
        break;
      case 2:  // ack of some commit of the chain
        c.sync->OnMessage(Json{{"type", "ack"}, {"commit", g_seed->chain[s.Byte() % g_seed->chain.size()].Hex()}}.dump(), false);
        break;
      case 3:  // resend of the last head
        c.sync->OnMessage(Json{{"type", "resend"}, {"commit", c.last_head.Hex()}, {"reason", "fuzz"}}.dump(), false);
        break;
      case 4: {  // HAVE: the truth about the last probe, or made-up bits
        const uint8_t how = s.Byte();
        std::vector<bool> have;
        if (how % 4 != 0) {
          for (const Address& a : c.last_probe) have.push_back(c.replica.count(a) > 0);
        } else {
          c.trusted = false;
          const size_t n = s.Byte() % 8;
          const uint8_t bits = s.Byte();
          for (size_t i = 0; i < n; ++i) have.push_back((bits >> i) & 1);
        }
        c.sync->OnMessage(EncodeHave(have), true);
        break;
      }
      case 5:
        c.sync->OnMessage(s.Bytes(255), false);
        break;
      case 6:
        c.sync->OnMessage(s.Bytes(255), true);
        break;
      case 7: {  // tx
        const uint8_t which = s.Byte(), client = s.Byte();
        Json t = {{"type", "tx"}, {"id", s.Byte()}, {"tx", kTx[which % 4]}};
        if (client % 4 == 1) t["client"] = "c-" + std::to_string(client % 3);
        if (client % 4 == 2) t["client"] = s.Bytes(8);
        if (client % 4 == 3) t["client"] = client;
        std::string text = t.dump(-1, ' ', false, Json::error_handler_t::replace);
        c.sync->OnMessage(text, false);
        // Accepted while live: it must be answered exactly once.
        if (live && c.sync->state() == ClientSync::State::kLive) ++c.tx_sent;
        break;
      }
      case 8: {  // the transport has room for k more frames
        const int k = 1 + s.Byte() % 16;
        for (int i = 0; i < k && c.sync->Pump(); ++i) c.TakeOutbox();
        break;
      }
      case 9:  // time passes: the writer answers every transaction
        c.Settle(true);
        break;
      case 10:
        c.sync->Shutdown();
        break;
    }
    c.Settle(false);
    FUZZ_CHECK(c.tx_answered <= c.tx_sent || !c.sync->close_error(), "more answers than transactions");
    if (c.sync->close_error()) FUZZ_CHECK(c.closed_sent, "closed without sending the error");
  }
  c.Settle(true);
  if (!c.sync->close_error()) {
    FUZZ_CHECK(c.tx_answered == c.tx_sent, std::to_string(c.tx_sent) + " transactions, " +
                                               std::to_string(c.tx_answered) + " answers");
  }
}

// The registry inputs run against; replaced by a fresh copy of the seed after an
// input that committed.
std::unique_ptr<Registry> g_registry;

void FreshRegistry() {
  if (g_registry) g_registry->CloseAll();
  g_registry.reset();
  std::error_code ec;
  fs::remove_all(g_seed->run_dir, ec);
  fs::copy(g_seed->template_dir, g_seed->run_dir, fs::copy_options::recursive | fs::copy_options::create_hard_links);
  g_registry = std::make_unique<Registry>(Config(g_seed->run_dir));
  if (!g_registry->OpenListed().ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  MakeSeed();
  FreshRegistry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run(*g_registry, Script{data, size});
  auto db = std::get<0>(g_registry->Authorize("inv", "reader")).first;
  if (db->head().commit != g_seed->chain.back()) FreshRegistry();
  return 0;
}
