// Client ids (TxOptions::client_id): a transaction resent with the same id applies
// nothing and reports the original tx id and tempids, within a group commit, across a
// reopen, and in both schema modes; rejected transactions and bad ids record nothing.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "datalith/db.h"

using namespace datalith;

namespace {

const char* kSchema = R"([{:db/ident :order/sku :db/valueType :db.type/string}
                          {:db/ident :order/qty :db/valueType :db.type/long}])";
const char* kOrder = R"([{:db/id "o" :order/sku "A-1" :order/qty 2} {:db/id "p" :order/sku "B-2"}])";

TxOptions Client(std::string id) {
  TxOptions o;
  o.client_id = std::move(id);
  return o;
}

// Every current datom, as text (the wall clock included: a duplicate adds none).
std::vector<std::string> AllDatoms(const Db& db) {
  auto ds = db.Datoms(IndexType::kEavt, {});
  REQUIRE(ds.ok());
  std::vector<std::string> out;
  for (const auto& d : *ds) out.push_back(db.DatomString(d));
  return out;
}

size_t OrdersWithSku(const Db& db, const std::string& sku) {
  auto ds = db.Datoms(IndexType::kAvet, {Value::Keyword("order/sku"), Value::String(sku)});
  REQUIRE(ds.ok());
  return ds->size();
}

std::shared_ptr<Connection> WithSchema(std::shared_ptr<Store> store, const CreateOptions& o = {}) {
  auto c = *Connection::Create(std::move(store), o);
  REQUIRE(c->Transact(kSchema).ok());
  return c;
}

}  // namespace

TEST_CASE("a resent client id returns the original tx id and tempids and adds nothing", "[client]") {
  auto conn = WithSchema(MakeMemoryStore());
  auto first = conn->Transact(kOrder, Client("tab-1:42"));
  REQUIRE(first.ok());
  CHECK_FALSE(first->duplicate);
  REQUIRE(first->tempids.count("o") == 1);
  REQUIRE(conn->Flush().ok());
  const std::vector<std::string> before = AllDatoms(conn->db());
  const EntityId basis = conn->db().basis_tx();

  auto again = conn->Transact(kOrder, Client("tab-1:42"));
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->tx == first->tx);
  CHECK(again->tempids == first->tempids);
  CHECK(again->tempids.at("datomic.tx") == first->tx);
  CHECK(again->tx_data.empty());
  CHECK(conn->pending_tx() == 0);
  CHECK(conn->db().basis_tx() == basis);
  CHECK(AllDatoms(conn->db()) == before);
  CHECK(OrdersWithSku(conn->db(), "A-1") == 1);

  // The id is on the tx entity, readable like any datom; another id applies again.
  auto by_client = conn->db().Entid(Value::Tuple({Value::Keyword("datalith.tx/client"), Value::String("tab-1:42")}));
  REQUIRE(by_client.ok());
  CHECK(*by_client == first->tx);
  auto other = conn->Transact(kOrder, Client("tab-1:43"));
  REQUIRE(other.ok());
  CHECK_FALSE(other->duplicate);
  CHECK(other->tx != first->tx);
  CHECK(OrdersWithSku(conn->db(), "A-1") == 2);
  // Without a client id nothing is looked up or recorded.
  REQUIRE(conn->Transact(kOrder).ok());
  CHECK(OrdersWithSku(conn->db(), "A-1") == 3);
}

TEST_CASE("two copies in one unflushed group commit apply once", "[client]") {
  CreateOptions o;
  o.max_pending_tx = 1000;
  auto conn = WithSchema(MakeMemoryStore(), o);
  auto first = conn->Transact(kOrder, Client("dup-in-group"));
  REQUIRE(first.ok());
  const size_t pending = conn->pending_tx();
  auto second = conn->Transact(kOrder, Client("dup-in-group"));
  REQUIRE(second.ok());
  CHECK(second->duplicate);
  CHECK(second->tx == first->tx);
  CHECK(second->tempids == first->tempids);
  CHECK(conn->pending_tx() == pending);
  REQUIRE(conn->Flush().ok());
  CHECK(conn->last_flush().transactions == pending);
  CHECK(OrdersWithSku(conn->db(), "A-1") == 1);
  // The log holds the client id datoms with their transaction (they replicate).
  auto log = conn->TxRange(first->tx, first->tx + 1);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 1);
  const Db db = conn->db();
  bool client_datom = false, tempids_datom = false;
  for (const Datom& d : (*log)[0].datoms) {
    std::string s = db.DatomString(d);
    client_datom |= s.find(":datalith.tx/client \"dup-in-group\"") != std::string::npos;
    tempids_datom |= s.find(":datalith.tx/tempids") != std::string::npos;
  }
  CHECK(client_datom);
  CHECK(tempids_datom);
}

TEST_CASE("a client id survives closing and reopening a file store", "[client]") {
  auto dir = std::filesystem::temp_directory_path() / ("datalith-client-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  TxReport first;
  {
    auto conn = WithSchema(*OpenFileStore(dir.string(), true));
    auto r = conn->Transact(kOrder, Client("durable-1"));
    REQUIRE(r.ok());
    first = *r;
    REQUIRE(conn->Flush().ok());
  }
  auto conn = *Connection::Open(*OpenFileStore(dir.string(), false));
  auto again = conn->Transact(kOrder, Client("durable-1"));
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->tx == first.tx);
  CHECK(again->tempids == first.tempids);
  CHECK(OrdersWithSku(conn->db(), "A-1") == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a rejected transaction records no client id: a resend runs again", "[client]") {
  auto conn = WithSchema(MakeMemoryStore());
  auto bad = conn->Transact(R"([{:order/sku "A-1" :order/qty "two"}])", Client("retry-me"));
  REQUIRE_FALSE(bad.ok());
  auto good = conn->Transact(kOrder, Client("retry-me"));
  REQUIRE(good.ok());
  CHECK_FALSE(good->duplicate);
  CHECK(OrdersWithSku(conn->db(), "A-1") == 1);
}

TEST_CASE("invalid client ids are refused with the reason", "[client]") {
  auto conn = WithSchema(MakeMemoryStore());
  const EntityId basis = conn->db().basis_tx();
  auto check = [&](const std::string& id, const std::string& why) {
    auto r = conn->Transact(kOrder, Client(id));
    INFO(id << ": " << r.status().ToString());
    REQUIRE(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message().find(why) != std::string::npos);
  };
  check("", "empty");
  check(std::string(65, 'a'), "65 characters");
  check("has space", "position 3");
  check("tab/1", "position 3");
  check("caf\xc3\xa9", "position 3");
  CHECK(conn->db().basis_tx() == basis);
  CHECK(CheckClientId(std::string(64, 'z')).ok());
  CHECK(CheckClientId("A.b_c:d-9").ok());
  // The reserved attributes cannot be written by tx data (that would forge a client id).
  auto forged = conn->Transact(R"([[:db/add "datomic.tx" :datalith.tx/client "x"]])");
  REQUIRE_FALSE(forged.ok());
  CHECK(forged.status().message().find("reserved") != std::string::npos);
  // ...nor change their schema once installed.
  REQUIRE(conn->Transact("[]", Client("install")).ok());
  for (const char* change : {R"([{:db/id :datalith.tx/client :db/doc "mine"}])",
                             R"([[:db/retract :datalith.tx/client :db/unique :db.unique/value]])",
                             R"([[:db/add 13 :db/ident :my/client]])"}) {
    INFO(change);
    auto r = conn->Transact(change);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("reserved") != std::string::npos);
  }
  CHECK(conn->Transact(kOrder, Client("install"))->duplicate);
}

TEST_CASE("client ids work in a schema-on-read database and replay on a replica", "[client]") {
  CreateOptions o;
  o.schema_flexibility = SchemaFlexibility::kRead;
  auto writer = *Connection::Create(MakeMemoryStore(), o);
  REQUIRE(writer->Flush().ok());
  // A replica at the empty database, to replay the commit that installs the attributes.
  auto replica_store = MakeMemoryStore();
  {
    std::vector<std::pair<Address, std::string>> blobs;
    auto reach = writer->BlobsToReach(writer->head_commit(), Address());
    INFO(reach.status().ToString());
    REQUIRE(reach.ok());
    for (const Address& a : *reach) {
      auto blob = writer->store().Get(a);
      REQUIRE(blob.ok());
      blobs.emplace_back(a, *blob);
    }
    REQUIRE(replica_store->Put(blobs).ok());
    REQUIRE(replica_store->CasHead("main", std::nullopt, writer->head_commit().Hex()).ok());
  }
  auto opened = Connection::Open(replica_store);
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  auto replica = *opened;
  const Address start = writer->head_commit();

  auto first = writer->Transact(R"([{:db/id "n" :note/text "hi"}])", Client("note-1"));
  REQUIRE(first.ok());
  auto dup = writer->Transact(R"([{:db/id "n" :note/text "hi"}])", Client("note-1"));
  REQUIRE(dup.ok());
  CHECK(dup->duplicate);
  CHECK(dup->tempids == first->tempids);
  REQUIRE(writer->Flush().ok());
  auto texts = writer->db().Datoms(IndexType::kAevt, {Value::Keyword("note/text")});
  REQUIRE(texts.ok());
  CHECK(texts->size() == 1);

  auto found = writer->LogsAfter(start, writer->head_commit(), 10);
  INFO(found.status().ToString());
  REQUIRE(found.ok());
  const std::vector<std::vector<Address>> logs = *found;
  REQUIRE(logs.size() == 1);
  for (const Address& a : logs[0]) REQUIRE(replica_store->Put({{a, *writer->store().Get(a)}}).ok());
  auto applied = replica->ApplyLog(writer->head_commit(), logs);
  INFO(applied.status().ToString());
  REQUIRE(applied.ok());
  CHECK(replica->head_commit() == writer->head_commit());
  // The replica knows the id too: a writer failing over to it would still dedupe.
  auto on_replica = replica->Transact(R"([{:db/id "n" :note/text "hi"}])", Client("note-1"));
  REQUIRE(on_replica.ok());
  CHECK(on_replica->duplicate);
  CHECK(on_replica->tx == first->tx);
}

TEST_CASE("recorded tempids keep any tempid name; a database without history dedupes too", "[client]") {
  CreateOptions o;
  o.keep_history = false;
  auto conn = WithSchema(MakeMemoryStore(), o);
  const char* tx = R"([{:db/id -1 :order/sku "n"} {:db/id "q \"x\" ü {}" :order/sku "q"} {:order/sku "auto"}
                       [:db/add "plain" :order/qty 1]])";
  auto first = conn->Transact(tx, Client("names"));
  REQUIRE(first.ok());
  REQUIRE(first->tempids.size() == 4);  // -1, the quoted one, "plain", datomic.tx
  REQUIRE(conn->Flush().ok());
  auto again = conn->Transact(tx, Client("names"));
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->tempids == first->tempids);
  CHECK(OrdersWithSku(conn->db(), "auto") == 1);
}
