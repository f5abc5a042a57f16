// The pull API: pattern grammar, wildcard, components, reverse refs, recursion,
// options, missing entities, errors, time views and PullMany.
#include <catch2/catch.hpp>

#include <cctype>

#include "datalith/db.h"
#include "datalith/query.h"

using namespace datalith;

namespace {

const char* kSchema = R"([
  {:db/ident :person/name :db/valueType :db.type/string :db/unique :db.unique/identity}
  {:db/ident :person/aka :db/valueType :db.type/string :db/cardinality :db.cardinality/many}
  {:db/ident :person/age :db/valueType :db.type/long}
  {:db/ident :person/tag :db/valueType :db.type/string}
  {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
  {:db/ident :person/father :db/valueType :db.type/ref}
  {:db/ident :person/address :db/valueType :db.type/ref :db/isComponent true}
  {:db/ident :address/city :db/valueType :db.type/string}
  {:db/ident :part/name :db/valueType :db.type/string}
  {:db/ident :part/sub :db/valueType :db.type/ref :db/cardinality :db.cardinality/many
   :db/isComponent true}])";

// Ivan has friends Petr and Olga (Petr and Olga are friends of Ivan back: a cycle),
// Petr's father is Ivan, Ivan has a component address; a component part tree.
// Entities are created one per transaction so their ids ascend in this order.
const char* kData[] = {
    R"([{:db/id "ivan" :person/name "Ivan" :person/aka ["Vanya" "Jo" "Ivanushka"] :person/age 40
         :person/address {:db/id "addr" :address/city "Tver"}}])",
    R"([{:db/id "petr" :person/name "Petr" :person/father [:person/name "Ivan"]}])",
    R"([{:db/id "olga" :person/name "Olga" :person/tag "x"}])",
    R"([{:db/id "root" :part/name "A"
         :part/sub [{:db/id "aa" :part/name "A.A" :part/sub [{:db/id "aaa" :part/name "A.A.A"}]}
                    {:db/id "ab" :part/name "A.B"}]}])",
    R"([[:db/add [:person/name "Ivan"] :person/friend [:person/name "Petr"]]
        [:db/add [:person/name "Ivan"] :person/friend [:person/name "Olga"]]
        [:db/add [:person/name "Petr"] :person/friend [:person/name "Ivan"]]
        [:db/add [:person/name "Olga"] :person/friend [:person/name "Petr"]]])",
};

struct Fixture {
  std::shared_ptr<Connection> conn;
  std::map<std::string, EntityId> ids;  // tempid → id
  EntityId first_tx = 0;

  explicit Fixture(SchemaFlexibility flex = SchemaFlexibility::kWrite) {
    CreateOptions opts;
    opts.schema_flexibility = flex;
    conn = *Connection::Create(MakeMemoryStore(), opts);
    if (flex == SchemaFlexibility::kRead) return;
    REQUIRE(conn->Transact(kSchema).ok());
    for (const char* tx : kData) {
      auto r = conn->Transact(tx);
      INFO(r.status().ToString());
      REQUIRE(r.ok());
      if (!first_tx) first_tx = r->tx;
      for (const auto& [k, v] : r->tempids) ids[k] = v;
    }
  }

  Db db() const { return conn->db(); }
  Value Id(const std::string& name) const { return Value::Ref(ids.at(name)); }

  // `text` with every $name replaced by the id of tempid "name".
  std::string Subst(std::string text) const {
    for (size_t at; (at = text.find('$')) != std::string::npos;) {
      size_t end = at + 1;
      while (end < text.size() && std::isalnum(static_cast<unsigned char>(text[end]))) ++end;
      text.replace(at, end - at, std::to_string(ids.at(text.substr(at + 1, end - at - 1))));
    }
    return text;
  }
};

edn::Node Read(const std::string& text) {
  auto n = edn::ReadOne(text);
  INFO(text << " → " << n.status().ToString());
  REQUIRE(n.ok());
  return *n;
}

void CheckPull(const Fixture& f, const Db& db, const std::string& pattern, const Value& entity,
               const std::string& expected) {
  auto r = Pull(db, pattern, entity);
  INFO("pull " << pattern << " " << entity.ToString() << " → " << r.status().ToString());
  REQUIRE(r.ok());
  const std::string want = f.Subst(expected);
  INFO("got " << edn::Write(*r) << "\nwant " << want);
  CHECK(edn::Equal(*r, Read(want)));
}

void CheckPull(const Fixture& f, const std::string& pattern, const std::string& entity,
               const std::string& expected) {
  CheckPull(f, f.db(), pattern, f.Id(entity), expected);
}

std::string PullError(const Db& db, const std::string& pattern, const Value& entity,
                      Code code = Code::kInvalidArgument) {
  auto r = Pull(db, pattern, entity);
  INFO("pull " << pattern);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == code);
  return r.status().message();
}

}  // namespace

TEST_CASE("pull attributes, cardinality many, refs and :db/id", "[pull]") {
  Fixture f;
  CheckPull(f, "[:person/name :person/age]", "ivan", R"({:person/name "Ivan" :person/age 40})");
  CheckPull(f, "[:person/aka]", "ivan", R"({:person/aka ["Ivanushka" "Jo" "Vanya"]})");
  CheckPull(f, "[:db/id :person/name :person/friend :person/father]", "petr",
            R"({:db/id $petr :person/name "Petr" :person/friend [{:db/id $ivan}]
                :person/father {:db/id $ivan}})");
  // A component ref without a sub-pattern is pulled in full.
  CheckPull(f, "[:person/address]", "ivan", R"({:person/address {:db/id $addr :address/city "Tver"}})");
  // Missing attributes are left out; the entity can be named by a lookup ref or an ident.
  CheckPull(f, f.db(), "[:person/name :person/age]",
            Value::Tuple({Value::Keyword("person/name"), Value::String("Olga")}),
            R"({:person/name "Olga"})");
  CheckPull(f, f.db(), "[:db/ident :db/cardinality]", Value::Keyword("person/aka"),
            R"({:db/ident :person/aka :db/cardinality :db.cardinality/many})");
}

TEST_CASE("pull wildcard: components in full, other refs as ids, explicit specs win", "[pull]") {
  Fixture f;
  CheckPull(f, "[*]", "ivan",
            R"({:db/id $ivan :person/name "Ivan" :person/aka ["Ivanushka" "Jo" "Vanya"]
                :person/age 40 :person/address {:db/id $addr :address/city "Tver"}
                :person/friend [{:db/id $petr} {:db/id $olga}]})");
  CheckPull(f, "[*]", "root",
            R"({:db/id $root :part/name "A"
                :part/sub [{:db/id $aa :part/name "A.A" :part/sub [{:db/id $aaa :part/name "A.A.A"}]}
                           {:db/id $ab :part/name "A.B"}]})");
  CheckPull(f, "[* {:person/friend [:person/name]} [:person/aka :limit 1]]", "ivan",
            R"({:db/id $ivan :person/name "Ivan" :person/aka ["Ivanushka"] :person/age 40
                :person/address {:db/id $addr :address/city "Tver"}
                :person/friend [{:person/name "Petr"} {:person/name "Olga"}]})");
  CheckPull(f, "[:db/id [:person/name :as :person/age] *]", "olga",
            R"({:db/id $olga :person/age "Olga" :person/tag "x" :person/friend [{:db/id $petr}]})");
}

TEST_CASE("pull nested maps and reverse refs", "[pull]") {
  Fixture f;
  CheckPull(f, "[:person/name {:person/friend [:person/name {:person/father [:person/name]}]}]",
            "ivan",
            R"({:person/name "Ivan" :person/friend [{:person/name "Petr" :person/father {:person/name "Ivan"}}
                                                     {:person/name "Olga"}]})");
  CheckPull(f, "[:person/_friend :person/_father]", "ivan",
            R"({:person/_friend [{:db/id $petr}] :person/_father [{:db/id $petr}]})");
  CheckPull(f, "[{:person/_friend [:person/name]}]", "petr",
            R"({:person/_friend [{:person/name "Ivan"} {:person/name "Olga"}]})");
  // Several entries in one map; a sub-pattern finding nothing drops the ref.
  CheckPull(f, "[{:person/friend [:person/tag] :person/_friend [:db/id]}]", "petr",
            R"({:person/_friend [{:db/id $ivan} {:db/id $olga}]})");
  // The reverse of a component attribute is one map: the owner.
  CheckPull(f, "[:address/city :person/_address]", "addr",
            R"({:address/city "Tver" :person/_address {:db/id $ivan}})");
  CheckPull(f, "[{:part/_sub [:part/name]}]", "aaa", R"({:part/_sub {:part/name "A.A"}})");
}

TEST_CASE("pull recursion: unbounded with cycles, depth limits", "[pull]") {
  Fixture f;
  // Ivan → Petr → Ivan (on the path: an id), Ivan → Olga → Petr → Ivan (id).
  CheckPull(f, "[:person/name {:person/friend ...}]", "ivan",
            R"({:person/name "Ivan"
                :person/friend [{:person/name "Petr" :person/friend [{:db/id $ivan}]}
                                {:person/name "Olga"
                                 :person/friend [{:person/name "Petr" :person/friend [{:db/id $ivan}]}]}]})");
  CheckPull(f, "[:person/name {:person/friend 1}]", "ivan",
            R"({:person/name "Ivan" :person/friend [{:person/name "Petr"} {:person/name "Olga"}]})");
  CheckPull(f, "[:person/name {:person/friend 2}]", "olga",
            R"({:person/name "Olga" :person/friend [{:person/name "Petr"
                                                     :person/friend [{:person/name "Ivan"}]}]})");
  // Depth counts per path, not per pull: siblings each get the full depth.
  CheckPull(f, "[:part/name {:part/sub 1}]", "root",
            R"({:part/name "A" :part/sub [{:part/name "A.A"} {:part/name "A.B"}]})");
  CheckPull(f, "[:part/name {:part/_sub ...}]", "aaa",
            R"({:part/name "A.A.A" :part/_sub {:part/name "A.A" :part/_sub {:part/name "A"}}})");
  // Recursion inside a nested pattern recurses into that pattern; Petr is on the path.
  CheckPull(f, "[:person/name {:person/father [:person/name {:person/friend 1}]}]", "petr",
            R"({:person/name "Petr" :person/father {:person/name "Ivan" :person/friend
                [{:db/id $petr} {:person/name "Olga"}]}})");
}

TEST_CASE("pull limit, default and alias options", "[pull]") {
  Fixture f;
  for (const char* p : {"[(limit :person/aka 2)]", "[[:person/aka :limit 2]]", "[[limit :person/aka 2]]"}) {
    CheckPull(f, p, "ivan", R"({:person/aka ["Ivanushka" "Jo"]})");
  }
  // Through the one-scan path (several attributes) too.
  CheckPull(f, "[:person/name (limit :person/aka 1) :person/age]", "ivan",
            R"({:person/name "Ivan" :person/aka ["Ivanushka"] :person/age 40})");
  CheckPull(f, "[[:person/aka :limit nil]]", "ivan", R"({:person/aka ["Ivanushka" "Jo" "Vanya"]})");
  CheckPull(f, "[(limit :person/_friend 1)]", "petr", R"({:person/_friend [{:db/id $ivan}]})");
  CheckPull(f, "[{(limit :person/friend 1) [:person/name]}]", "ivan",
            R"({:person/friend [{:person/name "Petr"}]})");
  CheckPull(f, "[{[:person/friend :limit 1 :as :pals] [:person/name]}]", "ivan",
            R"({:pals [{:person/name "Petr"}]})");
  CheckPull(f, "[:person/name (default :person/age 0) [:person/aka :default []]]", "olga",
            R"({:person/name "Olga" :person/age 0 :person/aka []})");
  CheckPull(f, "[(default :person/age 0)]", "ivan", R"({:person/age 40})");
  CheckPull(f, "[[:person/_father :default :none]]", "olga", R"({:person/_father :none})");
  CheckPull(f, R"([[:person/name :as "n"] [:person/age :as :years] [:db/id :as :id]])", "ivan",
            R"({"n" "Ivan" :years 40 :id $ivan})");
  CheckPull(f, R"([[:person/aka :as :names :limit 1 :default "-"]])", "petr", R"({:names "-"})");
  CheckPull(f, R"([[:person/aka :as :names :limit 1 :default "-"]])", "ivan", R"({:names ["Ivanushka"]})");
}

TEST_CASE("pull missing entities, attributes and unknown attributes", "[pull]") {
  Fixture f;
  const Db db = f.db();
  auto pull_text = [&](const std::string& pattern, const Value& e) {
    auto r = Pull(db, pattern, e);
    INFO(pattern << " " << r.status().ToString());
    REQUIRE(r.ok());
    return edn::Write(*r);
  };
  const Value nobody = Value::Long(999'999);
  CHECK(pull_text("[:person/tag]", f.Id("ivan")) == "nil");
  CHECK(pull_text("[:person/name]", nobody) == "nil");
  CHECK(pull_text("[*]", nobody) == "nil");
  CHECK(pull_text("[:db/id :person/name]", nobody) == "{:db/id 999999}");  // :db/id always answers
  CHECK(pull_text("[(default :person/name \"?\")]", nobody) == "{:person/name \"?\"}");
  CHECK(pull_text("[:person/name]", Value::Tuple({Value::Keyword("person/name"), Value::String("Nobody")})) == "nil");
  CHECK(pull_text("[:person/name]", Value::Keyword("no/such-ident")) == "nil");
  // Unknown attributes have no values, under schema-on-write too.
  CHECK(pull_text("[:person/name :no/such :no/_such (default :no/other 1)]", f.Id("ivan")) ==
        "{:person/name \"Ivan\", :no/other 1}");
}

TEST_CASE("pull under schema-on-read, names without a namespace", "[pull]") {
  Fixture f(SchemaFlexibility::kRead);
  REQUIRE(f.conn->Transact(R"([{:db/ident :friend :db/valueType :db.type/ref
                                :db/cardinality :db.cardinality/many}])").ok());
  auto r = f.conn->Transact(R"([{:db/id "a" :name "A" :friend "b" :score 1.5} {:db/id "b" :name "B"}])");
  REQUIRE(r.ok());
  f.ids = r->tempids;
  CheckPull(f, "[:name :score :missing {:friend [:name]}]", "a",
            R"({:name "A" :score 1.5 :friend [{:name "B"}]})");
  CheckPull(f, "[:name {:_friend [:name]}]", "b", R"({:name "B" :_friend [{:name "A"}]})");
  CheckPull(f, "[*]", "a", R"({:db/id $a :name "A" :score 1.5 :friend [{:db/id $b}]})");
}

TEST_CASE("pull respects time views", "[pull]") {
  Fixture f;
  auto r = f.conn->Transact(R"([[:db/add [:person/name "Olga"] :person/age 30]
                                [:db/retract [:person/name "Olga"] :person/tag "x"]])");
  REQUIRE(r.ok());
  const std::string pattern = "[:person/name :person/age :person/tag]";
  CheckPull(f, f.db(), pattern, f.Id("olga"), R"({:person/name "Olga" :person/age 30})");
  CheckPull(f, r->db_before, pattern, f.Id("olga"), R"({:person/name "Olga" :person/tag "x"})");
  CheckPull(f, f.db().AsOf(f.first_tx), pattern, f.Id("olga"), "nil");
  CheckPull(f, f.db().Since(r->db_before.basis_tx()), pattern, f.Id("olga"), "{:person/age 30}");
  PullError(f.db().History(), pattern, f.Id("olga"), Code::kUnsupported);
}

TEST_CASE("pull many: one result per entity, in order", "[pull]") {
  Fixture f;
  auto r = PullMany(f.db(), "[:person/name]",
                    {f.Id("olga"), Value::Long(999'999), f.Id("ivan"),
                     Value::Tuple({Value::Keyword("person/name"), Value::String("Petr")})});
  REQUIRE(r.ok());
  std::vector<std::string> got;
  for (const auto& n : *r) got.push_back(edn::Write(n));
  CHECK(got == std::vector<std::string>{"{:person/name \"Olga\"}", "nil", "{:person/name \"Ivan\"}",
                                        "{:person/name \"Petr\"}"});

  // Repeats, descending ids and nested pulls that jump back (the entities share one
  // EAVT iterator): each result as pulled on its own.
  std::vector<Value> mixed{f.Id("petr"), f.Id("petr"), f.Id("olga"), f.Id("ivan"), f.Id("ivan"), f.Id("root")};
  const char* nested = "[* {:person/friend [:person/name {:person/father [:person/name]}]}]";
  auto m = PullMany(f.db(), nested, mixed);
  REQUIRE(m.ok());
  REQUIRE(m->size() == mixed.size());
  for (size_t i = 0; i < mixed.size(); ++i) {
    auto one = Pull(f.db(), nested, mixed[i]);
    REQUIRE(one.ok());
    CHECK(edn::Write((*m)[i]) == edn::Write(*one));
    CHECK_FALSE((*m)[i].is(edn::Kind::kNil));
  }

  // Named attributes with others between and after them, some absent: the scan jumps
  // from one named attribute to the next, in one pull and across ascending entities.
  std::vector<Value> people{f.Id("ivan"), f.Id("petr"), f.Id("olga")};
  for (const char* pattern : {"[:person/name :person/tag]", "[:person/age :person/father]",
                              "[:person/tag :person/name :person/friend]", "[*]", "[* :person/name]"}) {
    auto all = PullMany(f.db(), pattern, people);
    REQUIRE(all.ok());
    for (size_t i = 0; i < people.size(); ++i) {
      auto one = Pull(f.db(), pattern, people[i]);
      REQUIRE(one.ok());
      CHECK(edn::Write((*all)[i]) == edn::Write(*one));
    }
  }
  CheckPull(f, "[:person/name :person/tag]", "ivan", R"({:person/name "Ivan"})");
  CheckPull(f, "[:person/name :person/tag]", "olga", R"({:person/name "Olga" :person/tag "x"})");
  CheckPull(f, "[:person/age :person/father]", "petr", "{:person/father {:db/id $ivan}}");
  CheckPull(f, "[:person/tag :person/name :person/friend]", "ivan",
            R"({:person/name "Ivan" :person/friend [{:db/id $petr} {:db/id $olga}]})");

  // Attributes named in id order (refs without sub-patterns, limits and defaults
  // included) stream from the EAVT iterator; the same in another order are scanned
  // first. Both give the same maps, for every entity, in any order of entities.
  const char* streamed = "[:db/id :person/name (limit :person/aka 2) :person/age (default :person/tag \"none\") "
                         ":person/friend :person/father :unknown/attr]";
  const char* scanned = "[:unknown/attr :person/father :person/friend (default :person/tag \"none\") :person/age "
                        "(limit :person/aka 2) :person/name :db/id]";
  std::vector<Value> every{f.Id("olga"), f.Id("ivan"), f.Id("ivan"), f.Id("addr"), f.Id("petr"), f.Id("root"), f.Id("aa")};
  auto a = PullMany(f.db(), streamed, every), b = PullMany(f.db(), scanned, every);
  REQUIRE((a.ok() && b.ok()));
  for (size_t i = 0; i < every.size(); ++i) {
    INFO(edn::Write((*a)[i]) << " vs " << edn::Write((*b)[i]));
    CHECK(edn::Equal((*a)[i], (*b)[i]));
  }
  CheckPull(f, streamed, "ivan", R"({:db/id $ivan :person/name "Ivan" :person/aka ["Ivanushka" "Jo"] :person/age 40
                                    :person/tag "none" :person/friend [{:db/id $petr} {:db/id $olga}]})");
  CheckPull(f, streamed, "petr", R"({:db/id $petr :person/name "Petr" :person/tag "none" :person/friend [{:db/id $ivan}]
                                    :person/father {:db/id $ivan}})");

  // Many entities through one compiled pattern.
  Fixture g(SchemaFlexibility::kRead);
  std::string tx = "[";
  for (int i = 0; i < 2000; ++i) tx += "{:n " + std::to_string(i) + " :sq " + std::to_string(i * i) + "}";
  REQUIRE(g.conn->Transact(tx + "]").ok());
  auto ds = g.db().Datoms(IndexType::kAevt, {Value::Keyword("n")});
  REQUIRE(ds.ok());
  std::vector<Value> es;
  for (const auto& d : *ds) es.push_back(Value::Ref(d.e));
  auto many = PullMany(g.db(), "[:n :sq]", es);
  REQUIRE(many.ok());
  REQUIRE(many->size() == 2000);
  for (size_t i = 0; i < es.size(); ++i) {
    const edn::Node* n = (*many)[i].GetKeyword("n");
    const edn::Node* sq = (*many)[i].GetKeyword("sq");
    REQUIRE((n && sq));
    CHECK(sq->i == n->i * n->i);
  }
}

TEST_CASE("pull recursion deeper than the nesting limit is an error", "[pull]") {
  Fixture f(SchemaFlexibility::kRead);
  REQUIRE(f.conn->Transact("[{:db/ident :next :db/valueType :db.type/ref}]").ok());
  std::string tx = "[";
  for (int i = 0; i < 300; ++i) {
    tx += "{:db/id \"e" + std::to_string(i) + "\" :i " + std::to_string(i) +
          (i < 299 ? " :next \"e" + std::to_string(i + 1) + "\"}" : "}");
  }
  auto r = f.conn->Transact(tx + "]");
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  f.ids = r->tempids;
  CHECK(PullError(f.db(), "[:i {:next ...}]", f.Id("e0"), Code::kUnsupported) ==
        "pull nests deeper than 256 entities");
  auto ok = Pull(f.db(), "[:i {:next ...}]", f.Id("e100"));
  REQUIRE(ok.ok());
  CHECK(edn::Write(*ok).find("{:i 299}") != std::string::npos);  // 200 levels
  CheckPull(f, "[:i {:next 2}]", "e296", "{:i 296 :next {:i 297 :next {:i 298}}}");
  CheckPull(f, "[:i {:next 2}]", "e298", "{:i 298 :next {:i 299}}");
}

TEST_CASE("pull pattern errors name the position", "[pull]") {
  Fixture f;
  const Db db = f.db();
  const Value ivan = f.Id("ivan");
  CHECK(PullError(db, ":person/name", ivan) == "line 1, col 1: pull pattern must be a vector, got :person/name");
  CHECK(PullError(db, "[]", ivan) == "line 1, col 1: empty pull pattern");
  CHECK(PullError(db, "[:person/name 42]", ivan) ==
        "line 1, col 15: expected an attribute, `*`, a map or an attribute expression, got 42");
  CHECK(PullError(db, "[(limit :person/aka \"2\")]", ivan) ==
        "line 1, col 21: limit must be a positive integer or nil, got \"2\"");
  CHECK(PullError(db, "[(limit :person/aka 0)]", ivan) ==
        "line 1, col 21: limit must be a positive integer or nil, got 0");
  CHECK(PullError(db, "[(limit :person/aka)]", ivan) ==
        "line 1, col 2: expected (limit attribute value)");
  CHECK(PullError(db, "[[:person/aka :limit]]", ivan) ==
        "line 1, col 2: attribute options must come in pairs");
  CHECK(PullError(db, "[[:person/aka :max 2]]", ivan) ==
        "line 1, col 15: unknown attribute option :max (expected :as, :limit or :default)");
  CHECK(PullError(db, "[[:person/aka :as 1]]", ivan) ==
        "line 1, col 19: an alias must be a keyword or a string, got 1");
  CHECK(PullError(db, "[(count :person/aka 2)]", ivan) ==
        "line 1, col 3: expected an attribute or `limit`/`default`, got count");
  CHECK(PullError(db, "[{:person/name [:x]}]", ivan) ==
        "line 1, col 3: attribute :person/name is not a ref, it cannot have a sub-pattern");
  CHECK(PullError(db, "[{:person/friend :all}]", ivan) ==
        "line 1, col 18: expected a pattern vector, `...` or a positive recursion depth, got :all");
  CHECK(PullError(db, "[{:person/friend [:person/name 1]}]", ivan) ==
        "line 1, col 32: expected an attribute, `*`, a map or an attribute expression, got 1");
  CHECK(PullError(db, "[:person/name\n [:person/age :as :person/name]]", ivan) ==
        "line 2, col 2: duplicate key :person/name in pull pattern");
  CHECK(PullError(db, "[:person/_name]", ivan) ==
        "line 1, col 2: reverse lookup :person/_name needs a ref attribute, :person/name is not");
  CHECK(PullError(db, "[:person/name", ivan) != "");  // the EDN reader's own error
  // Entity references that are malformed (not merely absent) are errors too.
  CHECK(PullError(db, "[:person/name]", Value::Tuple({Value::Keyword("person/age"), Value::Long(40)})) ==
        "pull: lookup ref [:person/age 40]: attribute :person/age is not :db/unique");
}
