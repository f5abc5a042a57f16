// The README's example, kept compiling and correct.
#include <catch2/catch.hpp>

#include <filesystem>

#include "datalith/db.h"

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
