// Writes the binary seed corpora of the fuzz targets (tests/README.md): value encodings,
// tree nodes, commit records and log segments of a small database that uses every value
// type, history and the client id attributes; sync protocol frames and messages; and
// ClientSync scripts (the op bytes of client_sync_fuzzer.cpp). The EDN and query seeds
// are texts taken from the docs and tests/golden by hand. Not run by the tests: run it
// after changing a format, and commit what it writes:
//   cmake --build build-fuzz --target fuzz_make_seeds && build-fuzz/fuzz/fuzz_make_seeds tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "datalith/db.h"
#include "protocol.h"
#include "storage/blob.h"

using namespace datalith;
namespace fs = std::filesystem;

namespace {

fs::path g_out;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out / target);
  std::ofstream(g_out / target / name, std::ios::binary) << bytes;
}

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

void Values() {
  const std::vector<Value> values = {
      Value::Boolean(true), Value::Long(-42), Value::Long(INT64_MAX), Value::Double(-1.5),
      Value::Double(1e300), Value::String("ann"), Value::String(std::string("a\0b", 3)),
      Value::String("\xc3\xa9t\xc3\xa9"), Value::Keyword("person/name"), Value::Symbol("?e"),
      Value::Ref(1042), Value::Instant(1700000000000), Value::Instant(-62135596800000),
      Value::MakeUuid(*Uuid::Parse("5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b")),
      Value::Tuple({Value::Long(1), Value::String("x"), Value::Nil()}),
      Value::Tuple({Value::Tuple({Value::Keyword("a")}), Value::Tuple({})}),
  };
  for (size_t i = 0; i < values.size(); ++i) {
    std::string one, two;
    EncodeValue(values[i], &one);
    two = one;
    EncodeValue(values[(i + 1) % values.size()], &two);  // a pair, for the order check
    Write("value", "value-" + std::to_string(i), one);
    Write("value", "pair-" + std::to_string(i), two);
  }
}

// Nodes, commits and log segments of a database with a bit of everything.
void Blobs() {
  auto store = MakeMemoryStore();
  auto conn = *Connection::Create(store);
  const char* txs[] = {
      R"([{:db/ident :p/name :db/valueType :db.type/string :db/unique :db.unique/identity}
          {:db/ident :p/age :db/valueType :db.type/long :db/noHistory true}
          {:db/ident :p/score :db/valueType :db.type/double}
          {:db/ident :p/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
          {:db/ident :p/tag :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}
          {:db/ident :p/born :db/valueType :db.type/instant :db/index false}
          {:db/ident :p/id :db/valueType :db.type/uuid :db/doc "an id"}
          {:db/ident :p/ok :db/valueType :db.type/boolean}
          {:db/ident :p/sym :db/valueType :db.type/symbol}
          {:db/ident :p/pair :db/valueType :db.type/tuple :db/tupleTypes [:db.type/string :db.type/long]}
          {:db/ident :p/name+age :db/valueType :db.type/tuple :db/tupleAttrs [:p/name :p/age]}])",
      R"([{:db/id "a" :p/name "ann" :p/age 31 :p/score 1.5 :p/friend "b" :p/tag [:x :y]
           :p/born #inst "1990-01-02T03:04:05.006Z" :p/id #uuid "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
           :p/ok true :p/sym foo :p/pair ["x" 1]}
          {:db/id "b" :p/name "bob" :p/age 27 :p/friend "a"}])",
      R"([[:db/retract [:p/name "bob"] :p/age 27] [:db/add [:p/name "ann"] :p/score 2.5]])",
  };
  for (const char* tx : txs) {
    Check(conn->Transact(tx).status());
    Check(conn->Flush());
  }
  TxOptions once;
  once.client_id = "tab-3f2a:17";
  Check(conn->Transact(R"([{:db/id "o" :p/name "cid"}])", once).status());
  std::string many = "[";
  for (int i = 0; i < 300; ++i) many += "{:p/name \"n" + std::to_string(i) + "\" :p/age " + std::to_string(i) + "}";
  Check(conn->Transact(many + "]").status());
  Check(conn->Flush());

  std::map<std::string, int> counts;
  const std::vector<Address> all = *store->List();  // a copy: the Result is a temporary
  for (const Address& a : all) {
    std::string canonical = *UnwrapBlob(*store->Get(a), a);
    if (canonical.size() < 2 || canonical.size() > 4096) continue;
    const int kind = static_cast<uint8_t>(canonical[1]);
    const char* target = kind == 1 || kind == 2 ? "node" : "commit";
    const std::string name = kind == 1 ? "leaf" : kind == 2 ? "branch" : kind == 3 ? "commit" : "log";
    if (counts[name]++ >= 6) continue;
    Write(target, name + "-" + a.Hex().substr(0, 8), canonical);
  }
}

void Protocol() {
  auto text = [](const std::string& name, const std::string& json) { Write("protocol", name, std::string(1, '\0') + json); };
  text("hello", R"({"type":"hello","protocol":2,"db":"inventory","token":"s3cret","have":"5f0c1a2b3c4d4e5f8a9b0c1d2e3f4a5b"})");
  text("hello-null", R"({"type":"hello","protocol":2,"db":"inventory","token":"s3cret","have":null})");
  text("tx", R"({"type":"tx","id":17,"tx":"[{:db/id \"o\" :order/sku \"A-1\" :order/qty 2}]","client":"tab-3f2a:17"})");
  text("tx-bad-client", R"({"type":"tx","id":18,"tx":"[]","client":5})");
  text("ack", R"({"type":"ack","commit":"9a41c2d910aa77e03a5f0c1a2b3c4d07"})");
  text("resend", R"({"type":"resend","commit":"c2d9aa77e03a5f0c1a2b3c4d9a411007","reason":"rebuilt a different head"})");
  text("unknown", R"({"type":"welcome","protocol":2})");
  Address a = Address::Of("one"), b = Address::Of("two");
  auto binary = [](const std::string& name, const std::string& frame) { Write("protocol", name, std::string(1, '\1') + frame); };
  binary("nodes", sync::EncodeNodes({{a, std::string("\0\1\1\0", 4)}, {b, "xyz"}}, false));
  binary("nodes-zstd", sync::EncodeNodes({{a, std::string(200, 'n')}, {b, std::string(100, 'm')}}, true));
  binary("probe", sync::EncodeProbe({a, b}));
  binary("have", sync::EncodeHave({true, false, true, true, false, false, false, true, true}));
}

// Scripts for client_sync_fuzzer.cpp: op bytes (op % 11) and their operands.
void ClientSyncScripts() {
  enum : uint8_t { kHello = 0, kAck = 1, kAckChain = 2, kResend = 3, kHave = 4, kText = 5, kBinary = 6, kTx = 7, kPump = 8, kWait = 9, kShutdown = 10 };
  // hello operands: protocol (2: version 2, 8: version 1, 1: unknown db), token (0 reader,
  // 1 writer, 3 a bad one), have (0 none, 1-6 a commit of the seed's chain, 7 unknown with
  // the data of the third commit, 8 unknown and empty).
  auto script = [](const std::string& name, std::vector<uint8_t> ops) {
    Write("client_sync", name, std::string(ops.begin(), ops.end()));
  };
  script("initial-sync", {kHello, 2, 0, 0, kPump, 15, kPump, 15, kPump, 15, kAck});
  script("write-then-log-update", {kHello, 2, 1, 3, kPump, 15, kAck, kTx, 0, 0, 5, kWait, kPump, 15, kAck, kTx, 1, 1, 6, kWait, kPump, 15, kAck});
  script("log-update-resend", {kHello, 2, 1, 5, kPump, 15, kResend, kPump, 15, kAck});
  std::vector<uint8_t> probe = {kHello, 2, 0, 7};  // the PROBE rounds (3 addresses each), then the nodes
  for (int i = 0; i < 9; ++i) probe.insert(probe.end(), {kHave, 1});
  probe.insert(probe.end(), {kPump, 15, kPump, 15, kAck});
  script("probe-unknown-commit", probe);
  script("probe-lie", {kHello, 2, 0, 8, kHave, 0, 5, 0xff, kPump, 15});
  script("client-ids", {kHello, 2, 1, 6, kTx, 1, 1, 1, kTx, 1, 1, 2, kTx, 0, 2, 3, 4, 'a', 'b', '.', 'c', kTx, 2, 3, 4, kWait, kPump, 15, kAck});
  script("overloaded", {kHello, 2, 1, 6, kTx, 2, 0, 1, kTx, 2, 0, 2, kTx, 2, 0, 3, kTx, 2, 0, 4, kTx, 3, 0, 5, kWait});
  script("read-only-tx", {kHello, 2, 0, 6, kTx, 0, 0, 1, kAckChain, 5});
  script("version-1", {kHello, 8, 1, 0});
  script("bad-token", {kHello, 2, 3, 0});
  script("garbage", {kHello, 2, 1, 0, kText, 5, '{', '"', 't', '"', '}', kBinary, 7, 3, 0, 0, 0, 0, 1, 0});
  script("shutdown", {kHello, 2, 1, 1, kPump, 1, kShutdown});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
    return 2;
  }
  g_out = argv[1];
  Values();
  Blobs();
  Protocol();
  ClientSyncScripts();
  return 0;
}
