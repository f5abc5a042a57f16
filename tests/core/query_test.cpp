// The C++ query API beyond the golden files: inputs built in C++, the planner's choices
// as reported by Explain, the row limit, and queries over a file-backed database.
// (Queries over a store that answers kMissingNode: lazy_load_test.cpp.)
#include <catch2/catch.hpp>

#include <set>
#include <filesystem>

#include "datalith/query.h"

namespace datalith {
namespace {

std::shared_ptr<Connection> People(int n) {
  auto conn = Connection::Create(MakeMemoryStore());
  REQUIRE(conn.ok());
  REQUIRE((*conn)->Transact("[{:db/ident :name :db/valueType :db.type/string}"
                            " {:db/ident :age :db/valueType :db.type/long}"
                            " {:db/ident :salary :db/valueType :db.type/long}]")
              .ok());
  std::string tx = "[";
  const char* names[] = {"Ivan", "Petr", "Oleg", "Anna"};
  for (int i = 0; i < n; ++i) {
    tx += "{:name \"" + std::string(names[i % 4]) + "\" :age " + std::to_string(i % 90) +
          " :salary " + std::to_string(i * 37 % 100000) + "}";
  }
  REQUIRE((*conn)->Transact(tx + "]").ok());
  return *conn;
}

edn::Node Edn(const char* text) {
  auto n = edn::ReadOne(text);
  REQUIRE(n.ok());
  return *n;
}

// Runs `q` on `in` after checking that its plan (Explain) mentions `plan`.
edn::Node Planned(const char* q, const std::vector<QueryInput>& in, const char* plan) {
  auto explained = Explain(q, in);
  REQUIRE(explained.ok());
  CHECK_THAT(*explained, Catch::Contains(plan));
  auto r = Q(q, in);
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("query: database sources bound through a collection", "[query]") {
  auto orders = [](int completed, int open) {
    auto conn = Connection::Create(MakeMemoryStore());
    REQUIRE(conn.ok());
    REQUIRE((*conn)->Transact("[{:db/ident :order/status :db/valueType :db.type/keyword}]").ok());
    std::string tx = "[";
    for (int i = 0; i < completed; ++i) tx += "{:order/status :completed}";
    for (int i = 0; i < open; ++i) tx += "{:order/status :open}";
    REQUIRE((*conn)->Transact(tx + "]").ok());
    return (*conn)->db();
  };
  Db acme = orders(3, 1), globex = orders(5, 2), initech = orders(0, 4);
  auto tenant = [](const char* name, Db db) {
    return QueryInput::List({QueryInput::Data(edn::Node::String(name)), QueryInput::Database(db)});
  };
  auto r = Q("[:find ?tenant (count ?o) :in [[?tenant $db] ...]"
             " :where [$db ?o :order/status :completed]]",
             {QueryInput::List({tenant("acme", acme), tenant("globex", globex), tenant("initech", initech)})});
  REQUIRE(r.ok());
  CHECK(edn::Equal(*r, Edn(R"(#{["acme" 3] ["globex" 5]})")));

  // Without the tenant in :find, rows of different databases still count separately
  // (their entity ids coincide).
  r = Q("[:find (count ?o) . :in [[_ $db] ...] :where [$db ?o :order/status :completed]]",
        {QueryInput::List({tenant("acme", acme), tenant("globex", globex)})});
  REQUIRE(r.ok());
  CHECK(edn::Equal(*r, edn::Node::Long(8)));

  // A database where data is expected, and the reverse, are errors.
  r = Q("[:find ?x :in ?x]", {QueryInput::Database(acme)});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.status().message(), Catch::Contains("cannot bind to a variable"));
}

TEST_CASE("query: the same database at two times in one query", "[query]") {
  auto conn = People(8);
  Db before = conn->db();
  auto ivan = Q("[:find [?e ...] :where [?e :name \"Ivan\"]]", {QueryInput::Database(before)});
  REQUIRE(ivan.ok());
  REQUIRE(ivan->items.size() == 2);
  std::string tx = "[";
  for (const auto& e : ivan->items) tx += "[:db/add " + std::to_string(e.i) + " :age 99]";
  REQUIRE(conn->Transact(tx + "]").ok());
  auto r = Q("[:find ?old ?new :in $then $now :where [$then ?e :name \"Ivan\"] [$then ?e :age ?old]"
             " [$now ?e :age ?new]]",
             {QueryInput::Database(before), QueryInput::Database(conn->db())});
  REQUIRE(r.ok());
  CHECK(edn::Equal(*r, Edn("#{[0 99] [4 99]}")));
}

TEST_CASE("query: clause order does not change the plan", "[query]") {
  auto conn = People(2000);
  QueryInput db = QueryInput::Database(conn->db());
  auto a = Explain("[:find ?e ?a :where [?e :name \"Ivan\"] [?e :age ?a]]", {db});
  auto b = Explain("[:find ?e ?a :where [?e :age ?a] [?e :name \"Ivan\"]]", {db});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  // The selective clause runs first either way.
  CHECK(a->rfind("[?e :name \"Ivan\"]", 0) == 0);
  CHECK(b->rfind("[?e :name \"Ivan\"]", 0) == 0);
  CHECK_THAT(*a, Catch::Contains("result: 500 rows"));
  CHECK_THAT(*b, Catch::Contains("result: 500 rows"));
}

TEST_CASE("query: comparisons become index ranges", "[query]") {
  auto conn = People(2000);
  QueryInput db = QueryInput::Database(conn->db());
  auto plan = Explain("[:find ?e :in $ ?min :where [?e :name \"Ivan\"] [?e :salary ?s] [(> ?s ?min)]]",
                      {db, QueryInput::Data(edn::Node::Long(99000))});
  REQUIRE(plan.ok());
  INFO(*plan);
  // The range makes the salary clause the most selective one, so it runs first.
  CHECK(plan->rfind("[?e :salary ?s]: scan (range)", 0) == 0);
  auto r = Q("[:find (count ?e) . :in $ ?min :where [?e :salary ?s] [(> ?s ?min)]]",
             {db, QueryInput::Data(edn::Node::Long(99000))});
  REQUIRE(r.ok());
  int64_t expected = 0;
  for (int i = 0; i < 2000; ++i) expected += i * 37 % 100000 > 99000;
  CHECK(r->i == expected);
}

TEST_CASE("query: probe, skip-scan or scan by the number of bound keys", "[query]") {
  auto conn = People(4000);
  QueryInput db = QueryInput::Database(conn->db());
  // Entity e's value of `attr`, read from EAVT (nil if none).
  auto value_of = [&](int64_t e, const char* attr) {
    auto ds = conn->db().Datoms(IndexType::kEavt, {Value::Ref(e), Value::Keyword(attr)});
    REQUIRE(ds.ok());
    REQUIRE(ds->size() <= 1);
    return ds->empty() ? Value() : (*ds)[0].v;
  };
  auto planned = [&](const char* q, const char* entities, const char* plan) {
    return Planned(q, {db, QueryInput::Data(Edn(entities))}, plan);
  };
  // A few bound entities and a constant attribute: a skip-scan of its AEVT range.
  edn::Node few = planned("[:find ?e ?a :in $ [?e ...] :where [?e :age ?a]]", "[1005 1006 1007 999999]",
                          "skip-scan of 4 entities");
  std::set<std::string> got, want;
  for (const auto& row : few.items) got.insert(edn::Write(row));
  for (int64_t e : {1005, 1006, 1007})
    want.insert("[" + std::to_string(e) + " " + std::to_string(value_of(e, "age").long_value()) + "]");
  CHECK(got == want);
  // A constant value too (an AVET lookup for a plain scan): the skip-scan checks it.
  edn::Node ivans = planned("[:find [?e ...] :in $ [?e ...] :where [?e :name \"Ivan\"]]",
                           "[1004 1005 1006 1007 1008 1009 1010 1011]", "skip-scan of 8 entities");
  std::set<int64_t> ivan_ids, want_ivans;
  for (const auto& n : ivans.items) ivan_ids.insert(n.i);
  for (int64_t e = 1004; e <= 1011; ++e)
    if (value_of(e, "name") == Value::String("Ivan")) want_ivans.insert(e);
  CHECK(!want_ivans.empty());
  CHECK(ivan_ids == want_ivans);
  // No constant attribute: one EAVT probe per entity.
  edn::Node probed = planned("[:find ?a ?v :in $ [?e ...] :where [?e ?a ?v]]", "[1005 1006 1007]", "probe 3 keys");
  CHECK(probed.items.size() == 9);  // :name, :age, :salary of each
  auto many = Explain("[:find ?e ?a :where [?e :name ?n] [?e :age ?a]]", {db});
  REQUIRE(many.ok());
  CHECK_THAT(*many, !Catch::Contains("probe"));
}

TEST_CASE("query: a skip-scan reads every datom of an entity, and only one of a cardinality-one attribute", "[query]") {
  auto conn = *Connection::Create(MakeMemoryStore());
  REQUIRE(conn->Transact("[{:db/ident :t/n :db/valueType :db.type/long :db/unique :db.unique/identity}"
                         " {:db/ident :t/tag :db/valueType :db.type/string :db/cardinality :db.cardinality/many}"
                         " {:db/ident :t/size :db/valueType :db.type/long}]").ok());
  // 3000 entities, each with three tags and a size; later every size changes, so the
  // history holds two :t/size datoms per entity.
  std::string tx = "[";
  for (int i = 0; i < 3000; ++i) {
    tx += "{:t/n " + std::to_string(i) + " :t/size " + std::to_string(i) + " :t/tag [\"a" + std::to_string(i) +
          "\" \"b\" \"c\"]}";
  }
  REQUIRE(conn->Transact(tx + "]").ok());
  std::string resize = "[";
  for (int i = 0; i < 3000; ++i) resize += "[:db/add [:t/n " + std::to_string(i) + "] :t/size " + std::to_string(i + 5000) + "]";
  REQUIRE(conn->Transact(resize + "]").ok());
  std::vector<EntityId> ids;
  for (int i : {10, 11, 12, 500, 501, 2999}) {
    auto e = conn->db().Entid(Value::Tuple({Value::Keyword("t/n"), Value::Long(i)}));
    REQUIRE(e.ok());
    ids.push_back(*e);
  }
  std::string in = "[";
  for (EntityId e : ids) in += std::to_string(e) + " ";
  in += "]";
  auto run = [&](const Db& db, const char* q) {
    return Planned(q, {QueryInput::Database(db), QueryInput::Data(Edn(in.c_str()))}, "skip-scan of 6 entities").items.size();
  };
  CHECK(run(conn->db(), "[:find ?e ?t :in $ [?e ...] :where [?e :t/tag ?t]]") == 18);
  CHECK(run(conn->db(), "[:find ?e ?s :in $ [?e ...] :where [?e :t/size ?s]]") == 6);
  // History: both sizes of each entity (added, retracted and added again).
  CHECK(run(conn->db().History(), "[:find ?e ?s :in $ [?e ...] :where [?e :t/size ?s]]") == 12);
  CHECK(run(conn->db().AsOf(conn->db().basis_tx() - 1), "[:find ?e ?s :in $ [?e ...] :where [?e :t/size ?s _ true]]") == 6);
}

TEST_CASE("query: idents and lookup refs bound to entity variables name their entities", "[query]") {
  auto conn = Connection::Create(MakeMemoryStore());
  REQUIRE(conn.ok());
  REQUIRE((*conn)->Transact("[{:db/ident :p/email :db/valueType :db.type/string :db/unique :db.unique/identity}"
                            " {:db/ident :p/name :db/valueType :db.type/string}"
                            " {:db/ident :p/friend :db/valueType :db.type/ref}"
                            " {:db/ident :p/admin}]").ok());
  std::string tx = "[{:db/id \"ann\" :db/ident :p/admin :p/email \"ann@x\" :p/name \"Ann\"}"
                   " {:p/email \"bob@x\" :p/name \"Bob\" :p/friend \"ann\"}";
  for (int i = 0; i < 200; ++i) tx += " {:p/email \"u" + std::to_string(i) + "@x\" :p/name \"U\"}";
  REQUIRE((*conn)->Transact(tx + "]").ok());
  QueryInput db = QueryInput::Database((*conn)->db());
  auto names = [&](const char* q, const char* input, const char* plan) {
    std::set<std::string> got;
    for (const auto& row : Planned(q, {db, QueryInput::Data(Edn(input))}, plan).items) got.insert(edn::Write(row));
    return got;
  };
  using Names = std::set<std::string>;
  // One bound entity (probed in :p/name's 202 datoms), given as a lookup ref or an ident.
  CHECK(names("[:find ?n :in $ ?e :where [?e :p/name ?n]]", "[:p/email \"ann@x\"]", "p/name") == Names{"[\"Ann\"]"});
  CHECK(names("[:find ?n :in $ ?e :where [?e :p/name ?n]]", ":p/admin", "p/name") == Names{"[\"Ann\"]"});
  // A scan of :p/friend (one datom) joined with the bound entity.
  CHECK(names("[:find ?f :in $ ?e :where [?e :p/friend ?f]]", "[:p/email \"bob@x\"]", "scan") ==
        Names{"[" + std::to_string(*(*conn)->db().Entid(Value::Keyword("p/admin"))) + "]"});
  // Several, mixing ids, idents and lookup refs, one naming nothing, two naming Ann.
  auto bob = (*conn)->db().Entid(Value::Tuple({Value::Keyword("p/email"), Value::String("bob@x")}));
  REQUIRE(bob.ok());
  std::string many = "[[:p/email \"ann@x\"] :p/admin [:p/email \"nobody@x\"] " + std::to_string(*bob) + "]";
  CHECK(names("[:find ?n :in $ [?e ...] :where [?e :p/name ?n]]", many.c_str(), "p/name") ==
        Names{"[\"Ann\"]", "[\"Bob\"]"});
  // Two of them name Ann: she is counted once.
  auto count = Q("[:find (count ?e) . :in $ [?e ...] :where [?e :p/name]]", {db, QueryInput::Data(Edn(many.c_str()))});
  REQUIRE(count.ok());
  CHECK(edn::Write(*count) == "2");
  // The value slot of a ref attribute: who has Ann as a friend.
  CHECK(names("[:find ?n :in $ ?f :where [?e :p/friend ?f] [?e :p/name ?n]]", "[:p/email \"ann@x\"]", "p/friend") ==
        Names{"[\"Bob\"]"});
  // Nothing named: no rows, no error.
  CHECK(names("[:find ?n :in $ ?e :where [?e :p/name ?n]]", "[:p/email \"nobody@x\"]", "0 rows").empty());
}

TEST_CASE("query: a runaway product fails instead of exhausting memory", "[query]") {
  auto conn = People(2000);
  QueryOptions small;
  small.max_rows = 100000;
  auto r = Q("[:find ?a ?b :where [?a :name _] [?b :name _] [(< ?a ?b)]]",
             {QueryInput::Database(conn->db())}, small);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.status().message(), Catch::Contains("query too large"));
  // The same query under the default limit works.
  auto ok = Q("[:find (count ?a) . :where [?a :name \"Ivan\"] [?b :name \"Petr\"] [(< ?a ?b)]]",
              {QueryInput::Database(conn->db())});
  REQUIRE(ok.ok());
  CHECK(ok->i > 0);
}

TEST_CASE("query: a file-backed database reopened cold", "[query]") {
  auto dir = std::filesystem::temp_directory_path() / "datalith-query-test";
  std::filesystem::remove_all(dir);
  {
    auto store = OpenFileStore(dir.string(), true);
    REQUIRE(store.ok());
    auto conn = Connection::Create(*store);
    REQUIRE(conn.ok());
    REQUIRE((*conn)->Transact("[{:db/ident :name :db/valueType :db.type/string :db/unique :db.unique/identity}"
                              " {:db/ident :friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]")
                .ok());
    REQUIRE((*conn)->Transact("[{:name \"a\" :friend [{:name \"b\"} {:name \"c\" :friend {:name \"d\"}}]}]").ok());
    REQUIRE((*conn)->Flush().ok());
  }
  auto store = OpenFileStore(dir.string(), false);
  REQUIRE(store.ok());
  auto conn = Connection::Open(*store);
  REQUIRE(conn.ok());
  auto rules = QueryInput::Edn("[[(reach ?a ?b) [?a :friend ?b]] [(reach ?a ?b) [?a :friend ?x] (reach ?x ?b)]]");
  REQUIRE(rules.ok());
  auto r = Q("[:find [?n ...] :in $ % :where [?a :name \"a\"] (reach ?a ?b) [?b :name ?n]]",
             {QueryInput::Database((*conn)->db()), *rules});
  REQUIRE(r.ok());
  std::vector<std::string> names;
  for (const auto& n : r->items) names.push_back(n.text);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"b", "c", "d"});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace datalith


namespace datalith {
namespace {

TEST_CASE("query: a collection literal where a value goes names its position once", "[query]") {
  auto conn = People(3);
  auto r = Q("[:find ?e :where [?e :name #{\"Anna\"}]]", {QueryInput::Database(conn->db())});
  REQUIRE(!r.ok());
  CHECK(r.status().message() == "line 1, col 28: a set (#{\"Anna\"}) cannot be used as a value");
}

TEST_CASE("query: set and vector literals as function arguments", "[query]") {
  auto conn = People(6);
  const std::vector<QueryInput> in{QueryInput::Database(conn->db())};
  auto names = [&](const std::string& where) {
    auto r = Q("[:find [?n ...] :where [?e :name ?n] " + where + "]", in);
    INFO(where << " → " << r.status().ToString());
    REQUIRE(r.ok());
    std::vector<std::string> out;
    for (const auto& n : r->items) out.push_back(n.text);
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto all = names("");
  REQUIRE(all.size() >= 3);
  const std::string set = "#{\"" + all[0] + "\" \"" + all[2] + "\" \"nobody\"}";
  CHECK(names("[(contains? " + set + " ?n)]") == std::vector<std::string>{all[0], all[2]});
  CHECK(names("[(contains? [\"" + all[1] + "\"] ?n)]") == std::vector<std::string>{all[1]});
  CHECK(names("[(contains? #{} ?n)]").empty());
  auto r = Q("[:find ?c . :where [(count #{3 1 2}) ?c]]", in);
  REQUIRE(r.ok());
  CHECK(r->i == 3);
  r = Q("[:find ?s . :where [(str [1 [\"a\" 2.5]]) ?s]]", in);  // vectors nest
  REQUIRE(r.ok());
  CHECK(r->text == "[1 [\"a\" 2.5]]");

  auto err = [&](const std::string& q) {
    auto e = Q(q, in);
    REQUIRE_FALSE(e.ok());
    return e.status().message();
  };
  CHECK(err("[:find ?n :where [?e :name ?n] [(contains? #{?n} \"x\")]]") ==
        "line 1, col 46: a collection literal holds constants; `?n` is not bound there "
        "(build it with (vector ...) or (set ...))");
  CHECK(err("[:find ?n :where [?e :name ?n] [(get {:a 1} :a) ?n]]") ==
        "line 1, col 38: a map literal cannot be a function argument: Datalith values have no "
        "maps (a vector of [key value] pairs or an :in binding can stand in)");
}

}  // namespace
}  // namespace datalith

namespace datalith {
namespace {

TEST_CASE("explain: an attribute the schema lacks is a warning", "[query]") {
  auto conn = People(3);
  auto plan = Explain("[:find ?e :where [?e :nmae \"Ivan\"]]", {QueryInput::Database(conn->db())});
  REQUIRE(plan.ok());
  CHECK(*plan == "[?e :nmae \"Ivan\"]: warning: :nmae is not an attribute of $ → 0 rows\nresult: 0 rows\n");
}

}  // namespace
}  // namespace datalith
