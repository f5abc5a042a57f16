// The transaction log: segments, Connection::TxRange, and a replica rebuilding commits
// from logs (Connection::ApplyLog) to exactly the writer's commit addresses.
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "datalith/db.h"
#include "db/tx_log.h"

namespace datalith {
namespace {

using internal::LoggedTx;

std::string Record(EntityId tx, int datoms, size_t value_bytes) {
  std::string out;
  internal::LogRecordWriter w(&out, tx, 2000, datoms);
  for (int i = 0; i < datoms; ++i) {
    std::string v;
    EncodeValue(Value::String(std::string(value_bytes, 'a' + i % 26)), &v);
    w.Add(1000 + i, 20, i % 3 != 0, i % 3 == 0 ? tx - 1 : 0, v);
  }
  return out;
}

TEST_CASE("log segments: records pack into segments and decode back, large ones split", "[log]") {
  std::vector<std::string> records = {Record(kTx0 + 1, 3, 10), Record(kTx0 + 2, 5000, 40), Record(kTx0 + 3, 1, 5)};
  auto segments = internal::PackLogSegments(records, 16 * 1024);
  CHECK(segments.size() > 10);  // 5000 × ~47 bytes in 16 KiB segments
  std::vector<LoggedTx> txs;
  for (const auto& s : segments) {
    CHECK(s.size() <= 16 * 1024 + 64);
    REQUIRE(internal::DecodeLogSegment(s, &txs).ok());
  }
  REQUIRE(txs.size() == 3);
  CHECK(txs[1].tx == kTx0 + 2);
  REQUIRE(txs[1].datoms.size() == 5000);
  const Datom& d = txs[1].datoms[4999];
  CHECK(d.e == 1000 + 4999);
  CHECK(d.a == 20);
  CHECK(d.added);
  CHECK(d.v == Value::String(std::string(40, 'a' + 4999 % 26)));
  CHECK_FALSE(txs[1].datoms[0].added);
  CHECK(txs[1].datoms[0].tx == kTx0 + 1);  // a retraction keeps its assertion's tx

  auto error = [](const std::string& bytes) {
    std::vector<LoggedTx> out;
    return internal::DecodeLogSegment(bytes, &out);
  };
  CHECK(error(segments[0].substr(0, segments[0].size() - 1)).code() == Code::kCorruption);
  CHECK(error(std::string("\x01\x03", 2)).message() == "log segment: not a log segment");
  CHECK(error(std::string("\x02\x04", 2)).message() == "log segment: unsupported log version");
  CHECK(error(segments[0] + "x").message() == "log segment: trailing bytes");
  std::vector<LoggedTx> twice;  // the same transaction's records must come in order
  REQUIRE(internal::DecodeLogSegment(segments.back(), &twice).ok());
  CHECK(internal::DecodeLogSegment(segments.back(), &twice).message() == "log segment: transactions out of order");
}

std::shared_ptr<Connection> Catalog(std::shared_ptr<Store> store, SchemaFlexibility flex = SchemaFlexibility::kWrite) {
  CreateOptions o;
  o.schema_flexibility = flex;
  auto conn = *Connection::Create(std::move(store), o);
  REQUIRE(conn->Transact(R"([{:db/ident :p/sku :db/valueType :db.type/string :db/unique :db.unique/identity}
                             {:db/ident :p/price :db/valueType :db.type/double}
                             {:db/ident :p/tags :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}
                             {:db/ident :p/part :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}])")
              .ok());
  return conn;
}

TEST_CASE("TxRange: each transaction with what it changed, pending ones included", "[log]") {
  auto conn = Catalog(MakeMemoryStore());
  auto a = *conn->Transact(R"([{:p/sku "A" :p/price 1.5 :p/tags [:x :y]}])");
  REQUIRE(conn->Flush().ok());
  auto b = *conn->Transact(R"([{:p/sku "A" :p/price 2.5} [:db/retract [:p/sku "A"] :p/tags :x]])");
  auto range = *conn->TxRange(a.tx);  // b is still pending
  REQUIRE(range.size() == 2);
  CHECK(range[0].tx == a.tx);
  CHECK(range[0].datoms == a.tx_data);
  CHECK(range[1].tx == b.tx);
  CHECK(range[1].datoms == b.tx_data);  // retractions carry the retracting tx, as reports do
  REQUIRE(conn->Flush().ok());
  CHECK(conn->TxRange(a.tx, b.tx)->size() == 1);
  CHECK(conn->TxRange(b.tx)->at(0).datoms == b.tx_data);
  auto all = *conn->TxRange();
  REQUIRE(all.size() == 3);  // the schema transaction too (the bootstrap has no log)
  CHECK(all[2].tx == b.tx);

  // GC keeps the log of the commits it keeps.
  REQUIRE(conn->Gc({.keep_commits = 1}).ok());
  auto kept = *conn->TxRange();
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].tx == b.tx);
}

// A replica store holding exactly what commit `at` reaches.
std::shared_ptr<Store> ReplicaAt(Connection& writer, const Address& at) {
  auto store = MakeMemoryStore();
  std::vector<std::pair<Address, std::string>> blobs;
  const std::vector<Address> reach = *writer.BlobsToReach(at, Address());
  for (const Address& a : reach) {
    auto blob = writer.store().Get(a);
    INFO(a.Hex() << ": " << blob.status().ToString());
    REQUIRE(blob.ok());
    blobs.emplace_back(a, *blob);
  }
  REQUIRE(store->Put(blobs).ok());
  REQUIRE(store->CasHead("main", std::nullopt, at.Hex()).ok());
  return store;
}

// Copies the log segments of the commits after `from` up to the writer's head into the
// replica store; returns them per commit.
std::vector<std::vector<Address>> CopyLogs(Connection& writer, Store& replica, const Address& from) {
  const std::vector<std::vector<Address>> logs = *writer.LogsAfter(from, writer.head_commit(), 1000);
  for (const std::vector<Address>& log : logs) {
    std::vector<std::pair<Address, std::string>> blobs;
    for (const Address& a : log) blobs.emplace_back(a, *writer.store().Get(a));
    REQUIRE(replica.Put(blobs).ok());
  }
  return logs;
}

std::vector<Datom> AllDatoms(const Db& db, IndexType index) {
  return *db.Datoms(index, {});
}

// Random transactions of every kind on the writer; after each batch of commits the
// replica replays their logs and must land on the writer's commit address.
void ReplayRandomWork(SchemaFlexibility flex, bool keep_history, uint32_t seed) {
  CreateOptions o;
  o.schema_flexibility = flex;
  o.keep_history = keep_history;
  auto writer = *Connection::Create(MakeMemoryStore(), o);
  REQUIRE(writer->Transact(R"([{:db/ident :p/sku :db/valueType :db.type/string :db/unique :db.unique/identity}
                               {:db/ident :p/price :db/valueType :db.type/double}
                               {:db/ident :p/tags :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}
                               {:db/ident :p/part :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
                               {:db/ident :p/pair :db/valueType :db.type/tuple :db/tupleAttrs [:p/sku :p/price]}])")
              .ok());
  REQUIRE(writer->Flush().ok());
  Address start = writer->head_commit();
  auto replica_store = ReplicaAt(*writer, start);
  auto replica = *Connection::Open(replica_store);
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  const std::string flexible = flex == SchemaFlexibility::kRead ? " :free/n" + std::to_string(seed) + " 1" : "";
  for (int round = 0; round < 12; ++round) {
    const int commits = 1 + pick(3);  // several commits per update, as coalescing sends them
    for (int c = 0; c < commits; ++c) {
      for (int t = 0, n = 1 + pick(4); t < n; ++t) {
        std::string tx;
        switch (pick(7)) {
          case 0: {  // a batch of products
            tx = "[";
            for (int i = 0, k = 1 + pick(40); i < k; ++i)
              tx += "{:p/sku \"s" + std::to_string(pick(60)) + "\" :p/price " + std::to_string(pick(100)) +
                    ".5 :p/tags [:t" + std::to_string(pick(5)) + "]" + flexible + "}";
            tx += "]";
            break;
          }
          case 1: tx = "[[:db/retractEntity [:p/sku \"s" + std::to_string(pick(60)) + "\"]]]"; break;
          case 2: tx = "[{:db/id \"n\" :p/sku \"s" + std::to_string(pick(60)) + "\" :p/part [[:p/sku \"s" + std::to_string(pick(60)) + "\"]]}]"; break;
          case 3: tx = "[[:db/retract [:p/sku \"s" + std::to_string(pick(60)) + "\"] :p/tags :t" + std::to_string(pick(5)) + "]]"; break;
          case 4: tx = round % 2 ? "[{:db/id :p/price :db/index true}]" : "[{:db/id :p/price :db/index false}]"; break;  // AVET moves
          case 5: tx = "[{:db/ident :kind/k" + std::to_string(pick(9)) + "}]"; break;  // an enum ident
          default: tx = "[{:p/sku \"s" + std::to_string(pick(60)) + "\" :p/price " + std::to_string(pick(9)) + ".25}]"; break;
        }
        (void)writer->Transact(tx);  // some fail (a lookup ref to nothing): fine
      }
      REQUIRE(writer->Flush().ok());
    }
    Address before = replica->head_commit();
    auto logs = CopyLogs(*writer, *replica_store, before);
    if (logs.empty()) continue;  // every transaction of the round failed
    auto applied = replica->ApplyLog(writer->head_commit(), logs);
    INFO("seed " << seed << " round " << round << ": " << applied.status().ToString());
    REQUIRE(applied.ok());
    CHECK(replica->head_commit() == writer->head_commit());
    CHECK(*replica_store->GetHead("main") == writer->head_commit().Hex());
    // The replica holds every blob the head reaches: a fresh connection reads it all.
    auto reopened = *Connection::Open(replica_store);
    for (IndexType ix : {IndexType::kEavt, IndexType::kAvet})
      CHECK(AllDatoms(reopened->db(), ix) == AllDatoms(writer->db(), ix));
    CHECK(applied->back().tx == writer->db().basis_tx());
  }
}

TEST_CASE("ApplyLog: a replica rebuilds the writer's exact commits from their logs", "[log][replica]") {
  for (uint32_t seed : {1u, 2u, 3u}) {
    ReplayRandomWork(SchemaFlexibility::kWrite, true, seed);
    ReplayRandomWork(SchemaFlexibility::kRead, true, seed);
    ReplayRandomWork(SchemaFlexibility::kWrite, false, seed);
  }
}

TEST_CASE("ApplyLog: a log that does not rebuild the head changes nothing", "[log][replica]") {
  auto writer = Catalog(MakeMemoryStore());
  REQUIRE(writer->Flush().ok());
  Address start = writer->head_commit();
  auto replica_store = ReplicaAt(*writer, start);
  auto replica = *Connection::Open(replica_store);
  auto report = *writer->Transact(R"([{:p/sku "A" :p/price 1.5}])");
  REQUIRE(writer->Flush().ok());
  auto logs = CopyLogs(*writer, *replica_store, start);
  Address wrong = Address::Of("another commit");
  auto r = replica->ApplyLog(wrong, logs);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(r.status().message().find("not " + wrong.Hex()) != std::string::npos);
  CHECK(replica->head_commit() == start);
  CHECK(*replica_store->GetHead("main") == start.Hex());
  CHECK(replica->db().basis_tx() < report.tx);
  // The right head applies after a failed attempt; without adopting, the store has it
  // and the connection moves on Refresh (an asynchronous store shows it once durable).
  Db rebuilt = replica->db();
  auto ok = replica->ApplyLog(writer->head_commit(), logs, /*adopt=*/false, &rebuilt);
  REQUIRE(ok.ok());
  CHECK(rebuilt.basis_tx() == report.tx);
  CHECK(replica->head_commit() == start);
  CHECK(*replica_store->GetHead("main") == writer->head_commit().Hex());
  REQUIRE(*replica->Refresh());
  CHECK(replica->head_commit() == writer->head_commit());
  REQUIRE(ok->size() == 1);
  CHECK(ok->at(0).datoms == report.tx_data);
  // A log that does not follow the replica's head is refused.
  auto again = replica->ApplyLog(writer->head_commit(), logs);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().message().find("does not follow") != std::string::npos);
}

}  // namespace
}  // namespace datalith
