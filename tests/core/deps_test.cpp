// Dependency analysis (core/src/query/deps.h): which datoms each kind of clause, rule
// and pull expression makes a query depend on, per source; and, over real transactions,
// that a result never changes without a datom of the transaction matching.
#include <catch2/catch.hpp>

#include <algorithm>

#include "datalith/query.h"
#include "query/deps.h"

namespace datalith {
namespace {

using query::Dependencies;
using query::QueryDeps;

bool IsSchemaPattern(const query::DatomPattern& p) {
  return !p.e && p.v.is_nil() &&
         std::any_of(std::begin(query::kSchemaAttrs), std::end(query::kSchemaAttrs),
                     [&](const char* a) { return p.attr == a; });
}

// "$ [17 :age _] [_ :name \"Ivan\"]; $inv [_ _ _]": each source's patterns as
// [e a v] with _ for any, the schema patterns left out (checked once, below).
std::string Show(const QueryDeps& deps) {
  std::string out;
  for (const auto& [source, patterns] : deps.sources) {
    if (!out.empty()) out += "; ";
    out += source;
    for (const query::DatomPattern& p : patterns) {
      if (IsSchemaPattern(p)) continue;
      out += " [" + (p.e ? std::to_string(p.e) : "_") + " " + (p.attr.empty() ? "_" : ":" + p.attr) + " " +
             (p.v.is_nil() ? "_" : p.v.ToString()) + "]";
    }
  }
  return out;
}

std::string Deps(const char* query, const char* rules = "") {
  auto deps = Dependencies(query, rules);
  REQUIRE(deps.ok());
  return Show(*deps);
}

TEST_CASE("deps: data patterns narrow by attribute, entity id and literal value", "[query][deps]") {
  CHECK(Deps("[:find ?n :where [?e :person/name ?n]]") == "$ [_ :person/name _]");
  CHECK(Deps("[:find ?a . :where [17 :person/age ?a]]") == "$ [17 :person/age _]");
  CHECK(Deps(R"([:find ?e :where [?e :person/name "Ivan"] [?e :person/age 30] [?e :person/vip true]
                                 [?e :person/born #inst "2000-01-01"] [?e :person/score 1.5]])") ==
        R"($ [_ :person/name "Ivan"] [_ :person/age 30] [_ :person/vip true])"
        R"( [_ :person/born #inst "2000-01-01T00:00:00.000Z"] [_ :person/score 1.5])");
  // A keyword may be the ident of a ref's target, a vector a lookup ref: any value.
  CHECK(Deps("[:find ?e :where [?e :order/status :open] [?e :order/customer [:person/email \"a@b\"]]]") ==
        "$ [_ :order/status _] [_ :order/customer _]");
  // An ident or lookup ref as the entity, and a variable attribute: any.
  CHECK(Deps("[:find ?v :where [:red :color/hex ?v]]") == "$ [_ :color/hex _]");
  CHECK(Deps("[:find ?a ?v :where [17 ?a ?v]]") == "$ [17 _ _]");
  CHECK(Deps("[:find ?e :where [?e]]") == "$ [_ _ _]");
  // A pattern covered by another adds nothing.
  CHECK(Deps("[:find ?e :where [?e :person/name \"Ivan\"] [?e :person/name ?n] [?e :person/name \"Oleg\"]]") ==
        "$ [_ :person/name _]");
  CHECK(Deps("[:find ?e :where [?e :a 1] [?e :a 1]]") == "$ [_ :a 1]");
}

TEST_CASE("deps: sources, not, or, and", "[query][deps]") {
  CHECK(Deps("[:find ?name ?stock :in $cat $inv :where [$cat ?p :product/sku ?sku] [$cat ?p :product/name ?name]"
             " [$inv ?i :inventory/sku ?sku] [$inv ?i :inventory/stock ?stock]]") ==
        "$cat [_ :product/sku _] [_ :product/name _]; $inv [_ :inventory/sku _] [_ :inventory/stock _]");
  // ($inv not ...) makes $inv the default inside; an explicit $ is still the query's $.
  CHECK(Deps("[:find ?p :in $ $inv :where [?p :product/sku ?s]"
             " ($inv not [?i :inventory/sku ?s] [?i :inventory/stock 0] [$ ?p :product/hidden true])]") ==
        "$ [_ :product/sku _] [_ :product/hidden true]; $inv [_ :inventory/sku _] [_ :inventory/stock 0]");
  CHECK(Deps("[:find ?e :where (or [?e :a/x 1] (and [?e :a/y ?y] (not-join [?e] [?e :a/z _])))]") ==
        "$ [_ :a/x 1] [_ :a/y _] [_ :a/z _]");
  // Predicates and functions other than get-else, get-some and missing? read nothing.
  CHECK(Deps("[:find ?n :where [?e :person/age ?a] [(> ?a 18)] [(str ?a \"!\") ?n]]") == "$ [_ :person/age _]");
}

TEST_CASE("deps: rules reachable from the query, transitively, per source", "[query][deps]") {
  const char* rules = R"([[(follows ?x ?y) [?x :person/follows ?y]]
                          [(follows ?x ?y) [?x :person/follows ?t] (follows ?t ?y)]
                          [(named ?e ?n) [?e :person/name ?n]]
                          [(adult ?e) [?e :person/age ?a] [(>= ?a 18)] (named ?e _)]
                          [(unused ?e) [?e :person/secret _]]])";
  CHECK(Deps("[:find ?y :in $ % :where (follows 1 ?y)]", rules) == "$ [_ :person/follows _]");
  CHECK(Deps("[:find ?e :in $ % :where (adult ?e)]", rules) == "$ [_ :person/age _] [_ :person/name _]");
  // Called on $other: its body reads $other; an or inside a rule too.
  CHECK(Deps("[:find ?e :in $ $other % :where [?e :person/name _] ($other adult ?e)]", rules) ==
        "$ [_ :person/name _]; $other [_ :person/age _] [_ :person/name _]");
  auto unknown = Dependencies("[:find ?e :in $ % :where\n (nope ?e)]", rules);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message() == "line 2, col 2: unknown rule `nope` (pass rules as % in :in)");
  auto malformed = Dependencies("[:find ?e :in $ % :where (adult ?e)]", "[[(adult ?e) [?e :a]]");
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.status().message().find("line 1") != std::string::npos);
}

TEST_CASE("deps: get-else, get-some and missing? read their attributes", "[query][deps]") {
  CHECK(Deps("[:find ?e ?n :where [?e :person/age _] [(get-else $ ?e :person/nick \"-\") ?n]]") ==
        "$ [_ :person/age _] [_ :person/nick _]");
  CHECK(Deps("[:find ?v :in $ $b :where [?e :person/age _] [(get-some $b ?e :a/x :a/y) ?v]]") ==
        "$ [_ :person/age _]; $b [_ :a/x _] [_ :a/y _]");
  // :ns/_attr is the reverse of :ns/attr unless the schema has it as an attribute.
  CHECK(Deps("[:find ?e :where [?e :person/age _] [(missing? $ ?e :person/_friend)]]") ==
        "$ [_ :person/age _] [_ :person/_friend _] [_ :person/friend _]");
  CHECK(Deps("[:find ?n . :where [(get-else $ 17 :person/nick \"-\") ?n]]") == "$ [17 :person/nick _]");
}

TEST_CASE("deps: pull expressions read their attributes, nested and reversed", "[query][deps]") {
  CHECK(Deps("[:find (pull ?e [:db/id :person/name (limit :person/aka 2) [:person/age :as \"years\"]"
             " (default :person/nick \"-\") {:person/friend [:person/name {:person/_father [:person/age]}]}"
             " {:person/parent ...} {:person/boss 2}]) :where [?e :person/name]]") ==
        "$ [_ :person/name _] [_ :person/aka _] [_ :person/age _] [_ :person/nick _] [_ :person/friend _]"
        " [_ :person/father _] [_ :person/parent _] [_ :person/boss _]");
  CHECK(Deps("[:find (pull ?e [*]) :where [?e :person/name]]") == "$ [_ _ _]");
  CHECK(Deps("[:find (pull ?e ?p) :in $ ?p :where [?e :person/name]]") == "$ [_ _ _]");
  CHECK(Deps("[:find (pull $b ?e [:a/x]) :in $ $b :where [?e :person/name]]") == "$ [_ :person/name _]; $b [_ :a/x _]");
}

TEST_CASE("deps: with its inputs, a component pulled without a sub-pattern reads any attribute", "[query][deps]") {
  auto conn = Connection::Create(MakeMemoryStore());
  REQUIRE(conn.ok());
  REQUIRE((*conn)->Transact("[{:db/ident :order/lines :db/valueType :db.type/ref"
                            "  :db/cardinality :db.cardinality/many :db/isComponent true}"
                            " {:db/ident :order/id :db/valueType :db.type/long}]").ok());
  const char* q = "[:find (pull ?o [:order/id :order/lines]) :in $ % :where (order ?o)]";
  auto input = [&](const char* rules) {
    auto r = QueryInput::Edn(rules);
    REQUIRE(r.ok());
    return std::vector<QueryInput>{QueryInput::Database((*conn)->db()), *r};
  };
  auto deps = Dependencies(q, input("[[(order ?o) [?o :order/id _]]]"));
  REQUIRE(deps.ok());
  CHECK(Show(*deps) == "$ [_ _ _]");  // covers :order/id
  // With a sub-pattern, only its attributes; without inputs nothing is a component.
  deps = Dependencies("[:find (pull ?o [{:order/lines [:line/qty]}]) :where [?o :order/id]]",
                      std::vector<QueryInput>{QueryInput::Database((*conn)->db())});
  REQUIRE(deps.ok());
  CHECK(Show(*deps) == "$ [_ :order/id _] [_ :order/lines _] [_ :line/qty _]");
  CHECK(Deps(q, "[[(order ?o) [?o :order/id _]]]") == "$ [_ :order/id _] [_ :order/lines _]");
  // The inputs must fit :in, as for Q.
  auto wrong = Dependencies(q, std::vector<QueryInput>{QueryInput::Database((*conn)->db())});
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message() == "the query takes 2 inputs (:in), got 1");
}

TEST_CASE("deps: the sources of each :in binding, and the schema", "[query][deps]") {
  auto deps = Dependencies("[:find ?t ?o :in % ?min [[?t $db] ...] $ :where [$db ?o :order/total ?x] [?o :a _]]",
                           "[]");
  REQUIRE(deps.ok());
  CHECK(deps->in == std::vector<std::vector<std::string>>{{}, {}, {"$db"}, {"$"}});
  deps = Dependencies("[:find ?e :where [?e :a 1]]");
  REQUIRE(deps.ok());
  CHECK(deps->in == std::vector<std::vector<std::string>>{{"$"}});
  // Every source read also depends on the schema attributes.
  std::vector<std::string> schema;
  for (const auto& p : deps->sources.at("$"))
    if (IsSchemaPattern(p)) schema.push_back(p.attr);
  CHECK(schema == std::vector<std::string>{"db/ident", "db/valueType", "db/cardinality", "db/unique",
                                           "db/isComponent"});
  // A query reading no database depends on nothing.
  deps = Dependencies("[:find ?x :in ?x]");
  REQUIRE(deps.ok());
  CHECK(deps->sources.empty());
}

TEST_CASE("deps: matching datoms as JS sees them", "[query][deps]") {
  auto deps = Dependencies("[:find ?e :where [?e :a/n 5] [?e :a/r 17] [42 :a/s ?s]]");
  REQUIRE(deps.ok());
  CHECK(deps->Matches("$", "a/n", 1, Value::Long(5)));
  CHECK(deps->Matches("$", "a/n", 1, Value::Double(5.0)));  // JS has one number type
  CHECK_FALSE(deps->Matches("$", "a/n", 1, Value::Long(6)));
  CHECK(deps->Matches("$", "a/r", 1, Value::Ref(17)));       // a ref is its entity id
  CHECK(deps->Matches("$", "a/s", 42, Value::String("x")));
  CHECK_FALSE(deps->Matches("$", "a/s", 43, Value::String("x")));
  CHECK_FALSE(deps->Matches("$", "a/other", 1, Value::Long(5)));
  CHECK_FALSE(deps->Matches("$other", "a/n", 1, Value::Long(5)));
  CHECK(deps->Matches("$", "db/ident", 99, Value::Keyword("a/n")));
}

// Over a sequence of transactions, each query's result changes only after a
// transaction with a datom its dependencies match; and unrelated transactions happen
// (the analysis is not trivially "everything").
TEST_CASE("deps: a result changes only when a datom of the transaction matches", "[query][deps]") {
  auto conn = Connection::Create(MakeMemoryStore());
  REQUIRE(conn.ok());
  Connection& c = **conn;
  REQUIRE(c.Transact(R"([{:db/ident :p/name :db/valueType :db.type/string :db/unique :db.unique/identity}
                         {:db/ident :p/age :db/valueType :db.type/long}
                         {:db/ident :p/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
                         {:db/ident :p/tag :db/valueType :db.type/keyword}
                         {:db/ident :color/red}])").ok());
  const char* rules = "[[(knows ?a ?b) [?a :p/friend ?b]] [(knows ?a ?b) [?a :p/friend ?x] (knows ?x ?b)]]";
  const std::vector<std::string> queries = {
      "[:find ?n :where [?e :p/name ?n]]",
      "[:find ?e :where [?e :p/name \"Ivan\"]]",
      "[:find ?a . :where [?e :p/name \"Oleg\"] [?e :p/age ?a]]",
      "[:find ?e :where [?e :p/tag :color/red]]",
      "[:find ?n :where [?e :p/name ?n] (not [?e :p/age 30])]",
      "[:find ?n ?t :where [?e :p/name ?n] [(get-else $ ?e :p/tag :none) ?t]]",
      "[:find ?a ?b :in $ % :where (knows ?a ?b)]",
      "[:find (pull ?e [:p/name {:p/friend [:p/age]}]) :where [?e :p/name \"Ivan\"]]",
      "[:find ?e :where [?e :p/name _] [(missing? $ ?e :p/_friend)]]",
  };
  const std::vector<std::string> txs = {
      R"([{:p/name "Ivan" :p/age 30} {:p/name "Oleg" :p/age 40}])",
      R"([{:p/name "Anna"}])",
      R"([[:db/add [:p/name "Oleg"] :p/age 41]])",
      R"([[:db/add [:p/name "Anna"] :p/tag :color/red]])",
      R"([{:db/id "f" :p/name "Petr" :p/age 25} [:db/add [:p/name "Ivan"] :p/friend "f"]])",
      R"([[:db/add [:p/name "Petr"] :p/age 26]])",
      R"([[:db/add [:p/name "Anna"] :p/friend [:p/name "Ivan"]]])",
      R"([[:db/add [:p/name "Ivan"] :p/age 31]])",
      R"([[:db/retract [:p/name "Anna"] :p/tag :color/red]])",
      R"([{:db/ident :p/unused :db/valueType :db.type/long}])",
  };
  auto run = [&](const std::string& q) {
    std::vector<QueryInput> in{QueryInput::Database(c.db())};
    if (q.find(" % ") != std::string::npos) in.push_back(*QueryInput::Edn(rules));
    auto r = Q(q, in);
    REQUIRE(r.ok());
    return edn::Write(*r);
  };
  std::vector<std::string> before;
  for (const std::string& q : queries) before.push_back(run(q));
  int changed = 0, skipped = 0;
  for (const std::string& tx : txs) {
    auto report = c.Transact(tx);
    REQUIRE(report.ok());
    for (size_t i = 0; i < queries.size(); ++i) {
      auto deps = Dependencies(queries[i], rules);
      REQUIRE(deps.ok());
      bool matched = false;
      for (const Datom& d : report->tx_data) {
        const Attribute* a = report->db_after.schema().Attr(d.a);
        REQUIRE(a);
        matched = matched || deps->Matches("$", a->ident, d.e, d.v);
      }
      std::string after = run(queries[i]);
      INFO(queries[i] << " after " << tx);
      if (after != before[i]) CHECK(matched);
      changed += after != before[i];
      skipped += !matched;
      before[i] = after;
    }
  }
  CHECK(changed > 20);
  CHECK(skipped > 20);
}

}  // namespace
}  // namespace datalith
