// Query parser (core/src/query/parser.cpp) and, for what parses, the engine. The input
// is EDN text: what does not read is the EDN fuzzer's business. A form either parses
// as a query (and as a rule set) or fails with an InvalidArgument naming a line and
// column. The parse depends on the form only, not on its layout: the form written
// again and re-read parses the same way (same error, positions aside). A query that
// parses runs on a small database, its inputs made up from its :in, under a row limit;
// errors are fine, crashes and sanitizer reports are not.
#include <cctype>
#include <cstddef>
#include <cstdint>

#include "datalith/query.h"
#include "fuzz_check.h"
#include "query/ast.h"

using namespace datalith;

namespace {

Db* g_db = nullptr;

// "line 3, col 7" → "line _, col _": what a re-read form changes in a message.
std::string WithoutPositions(const std::string& m) {
  std::string out;
  for (size_t i = 0; i < m.size();) {
    if (std::isdigit(static_cast<unsigned char>(m[i])) && i > 0 && m[i - 1] == ' ' &&
        (m.compare(i >= 5 ? i - 5 : 0, 5, "line ") == 0 || m.compare(i >= 4 ? i - 4 : 0, 4, "col ") == 0)) {
      out.push_back('_');
      while (i < m.size() && std::isdigit(static_cast<unsigned char>(m[i]))) ++i;
      continue;
    }
    out.push_back(m[i++]);
  }
  return out;
}

// A summary of a parsed query that does not depend on positions.
std::string Shape(const query::Query& q) {
  std::string s = std::to_string(static_cast<int>(q.shape)) + " find";
  for (const auto& f : q.find) s += " " + f.text;
  s += " keys " + std::to_string(static_cast<int>(q.keys)) + " in " + std::to_string(q.in.size()) + " where";
  for (const auto& c : q.where) s += " " + c.text;
  s += " vars";
  for (const auto& v : q.var_names) s += " " + v;
  return s + " limit " + std::to_string(q.limit) + " offset " + std::to_string(q.offset);
}

// An input for one :in binding.
QueryInput InputFor(const query::Binding& b) {
  using Kind = query::Binding::Kind;
  switch (b.kind) {
    case Kind::kSource: return QueryInput::Database(*g_db);
    case Kind::kRules:
      return *QueryInput::Edn("[[(named ?e ?n) [?e :person/name ?n]] [(friend ?a ?b) [?a :person/friend ?b]]"
                              " [(friend ?a ?b) [?a :person/friend ?c] (friend ?c ?b)]]");
    case Kind::kTuple: {
      std::vector<QueryInput> items;
      for (const auto& item : b.items) items.push_back(InputFor(item));
      return QueryInput::List(std::move(items));
    }
    case Kind::kCollection: {
      std::vector<QueryInput> items;
      for (int i = 0; i < 2 && !b.items.empty(); ++i) items.push_back(InputFor(b.items[0]));
      return QueryInput::List(std::move(items));
    }
    case Kind::kVar:
    case Kind::kBlank: break;
  }
  return QueryInput::Data(edn::Node::String("ann"));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto conn = *Connection::Create(MakeMemoryStore());
  auto schema = conn->Transact(R"([
    {:db/ident :person/name :db/valueType :db.type/string :db/unique :db.unique/identity}
    {:db/ident :person/age :db/valueType :db.type/long}
    {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
    {:db/ident :person/tags :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}])");
  auto data = conn->Transact(R"([
    {:db/id "a" :person/name "ann" :person/age 31 :person/friend "b" :person/tags [:x :y]}
    {:db/id "b" :person/name "bob" :person/age 27 :person/friend "c"}
    {:db/id "c" :person/name "cid" :person/age 45 :person/friend "a" :person/tags [:y]}])");
  if (!schema.ok() || !data.ok()) std::abort();
  (void)conn->Transact(R"([[:db/retract [:person/name "cid"] :person/age 45] {:person/name "dan"}])");
  g_db = new Db(conn->db());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto form = edn::ReadOne(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!form.ok()) return 0;
  auto q = query::ParseQuery(*form);
  auto reread = edn::ReadOne(edn::Write(*form));
  FUZZ_CHECK(reread.ok(), "the written form does not read: " + reread.status().ToString());
  auto q2 = query::ParseQuery(*reread);
  if (!q.ok()) {
    FUZZ_CHECK_ERROR(q.status(), Code::kInvalidArgument, "line ");
    FUZZ_CHECK(!q2.ok() && WithoutPositions(q.status().message()) == WithoutPositions(q2.status().message()),
               q.status().ToString() + " | rewritten: " + q2.status().ToString());
  } else {
    FUZZ_CHECK(q2.ok() && Shape(**q) == Shape(**q2),
               Shape(**q) + " | rewritten: " + (q2.ok() ? Shape(**q2) : q2.status().ToString()));
  }

  query::Query scratch;
  Status rules = query::ParseRules(*form, &scratch);
  if (!rules.ok()) FUZZ_CHECK_ERROR(rules, Code::kInvalidArgument, "line ");

  if (!q.ok()) return 0;
  std::vector<QueryInput> inputs;
  for (const auto& b : (*q)->in) inputs.push_back(InputFor(b));
  QueryOptions options;
  options.max_rows = 2000;
  auto result = Q(*form, inputs, options);
  if (result.ok()) (void)edn::Write(*result);
  return 0;
}
