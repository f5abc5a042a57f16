// The README's example, kept compiling and correct.
#include <catch2/catch.hpp>

#include <filesystem>

#include "datalith/db.h"
#include "datalith/query.h"

using namespace datalith;

TEST_CASE("README example", "[db][readme]") {
  auto dir = (std::filesystem::temp_directory_path() / "datalith-readme").string();
  std::filesystem::remove_all(dir);
  auto store = *OpenFileStore(dir, /*create=*/true);
  auto conn = *Connection::Create(store);
  REQUIRE(conn->Transact(R"([{:db/ident :person/email :db/valueType :db.type/string
                              :db/unique :db.unique/identity}
                             {:db/ident :person/friend :db/valueType :db.type/ref
                              :db/cardinality :db.cardinality/many}])")
              .ok());
  auto report = *conn->Transact(R"([{:db/id "ann" :person/email "ann@example.com"
                                      :person/friend {:person/email "bob@example.com"}}])");
  REQUIRE(conn->Flush().ok());
  Db db = conn->db();
  auto ann = *db.Entid(Value::Tuple({Value::Keyword("person/email"), Value::String("ann@example.com")}));
  REQUIRE(ann == report.tempids.at("ann"));
  auto datoms = *db.Datoms(IndexType::kEavt, {Value::Ref(ann)});
  REQUIRE(datoms.size() == 2);  // email and friend
  auto then = db.AsOf(report.tx);
  REQUIRE(then.Datoms(IndexType::kEavt, {Value::Ref(ann)})->size() == 2);
  REQUIRE(db.AsOf(report.tx - 1).Datoms(IndexType::kEavt, {Value::Ref(ann)})->empty());
  // A malformed transaction names the position and changes nothing.
  auto bad = conn->Transact("[{:person/email 42}]");
  REQUIRE_FALSE(bad.ok());
  REQUIRE_THAT(bad.status().message(), Catch::Contains("line 1, col"));
  REQUIRE(conn->db().basis_tx() == db.basis_tx());
  std::filesystem::remove_all(dir);
}

// The README's query examples: a catalog joined with an inventory, a past snapshot of
// the catalog against today's inventory, tenants, pull.
TEST_CASE("README query examples", "[query][readme]") {
  auto make = [](const char* schema, const char* data) {
    auto conn = *Connection::Create(MakeMemoryStore());
    REQUIRE(conn->Transact(schema).ok());
    REQUIRE(conn->Transact(data).ok());
    return conn;
  };
  auto catalog = make(
      "[{:db/ident :product/sku :db/valueType :db.type/string :db/unique :db.unique/identity}"
      " {:db/ident :product/name :db/valueType :db.type/string}"
      " {:db/ident :product/price :db/valueType :db.type/double}]",
      "[{:product/sku \"W001\" :product/name \"Widget\" :product/price 9.99}"
      " {:product/sku \"G002\" :product/name \"Gizmo\" :product/price 24.5}"
      " {:product/sku \"S003\" :product/name \"Sprocket\" :product/price 3.25}]");
  auto inventory = make(
      "[{:db/ident :inventory/sku :db/valueType :db.type/string :db/unique :db.unique/identity}"
      " {:db/ident :inventory/stock :db/valueType :db.type/long}]",
      "[{:inventory/sku \"W001\" :inventory/stock 12} {:inventory/sku \"G002\" :inventory/stock 0}"
      " {:inventory/sku \"S003\" :inventory/stock 5}]");
  const char* text = R"([:find ?name ?price ?stock
                  :in $cat $inv
                  :where [$cat ?p :product/sku ?sku] [$cat ?p :product/name ?name]
                         [$cat ?p :product/price ?price]
                         [$inv ?i :inventory/sku ?sku] [$inv ?i :inventory/stock ?stock]
                         [(pos? ?stock)]])";
  auto rows = Q(text, {QueryInput::Database(catalog->db()), QueryInput::Database(inventory->db())});
  REQUIRE(rows.ok());
  CHECK(edn::Equal(*rows, *edn::ReadOne(R"(#{["Widget" 9.99 12] ["Sprocket" 3.25 5]})")));

  EntityId tx = catalog->db().basis_tx();
  REQUIRE(catalog->Transact(R"([{:product/sku "W001" :product/price 11.5}])").ok());
  auto then = Q(text, {QueryInput::Database(catalog->db().AsOf(tx)), QueryInput::Database(inventory->db())});
  auto now = Q(text, {QueryInput::Database(catalog->db()), QueryInput::Database(inventory->db())});
  REQUIRE(then.ok());
  REQUIRE(now.ok());
  CHECK(edn::Equal(*then, *rows));
  CHECK(edn::Equal(*now, *edn::ReadOne(R"(#{["Widget" 11.5 12] ["Sprocket" 3.25 5]})")));

  auto orders = [&](int completed) {
    std::string data = "[";
    for (int i = 0; i < completed; ++i) data += "{:order/status :completed}";
    return make("[{:db/ident :order/status :db/valueType :db.type/keyword}]", (data + "{:order/status :open}]").c_str());
  };
  auto acme = orders(2), globex = orders(3);
  auto per_tenant = Q(R"([:find ?tenant (count ?o) :in [[?tenant $db] ...]
      :where [$db ?o :order/status :completed]])",
                      {QueryInput::List({QueryInput::List({QueryInput::Data(edn::Node::String("acme")),
                                                           QueryInput::Database(acme->db())}),
                                         QueryInput::List({QueryInput::Data(edn::Node::String("globex")),
                                                           QueryInput::Database(globex->db())})})});
  REQUIRE(per_tenant.ok());
  CHECK(edn::Equal(*per_tenant, *edn::ReadOne(R"(#{["acme" 2] ["globex" 3]})")));

  auto widget = Pull(catalog->db(), "[:product/name :product/price]",
                     Value::Tuple({Value::Keyword("product/sku"), Value::String("W001")}));
  REQUIRE(widget.ok());
  CHECK(edn::Write(*widget) == "{:product/name \"Widget\", :product/price 11.5}");
}
