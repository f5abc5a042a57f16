// Dependency analysis: the datoms that can change a query's result (docs/query.md,
// "Dependencies"). The npm package's reactive queries (d.subscribe, wasm/js/live.js)
// re-run a query only after a transaction with a datom that matches; this answers from
// the query text, its rules and (given the inputs) the schema, never from the data.
//
// The analysis is conservative: a pattern may match datoms that turn out not to change
// the result (the caller re-runs and compares), but every datom that can change it is
// matched. Only public headers here: the WASM bindings include this file.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "datalith/query.h"

namespace datalith::query {

struct Query;  // query/ast.h

// The datoms with this attribute, entity and value; an unset part matches any.
struct DatomPattern {
  std::string attr;  // the attribute's ident without the colon ("person/name"); empty: any
  EntityId e = 0;    // 0: any
  // Nil: any. Set only for a literal equal to the datom's value as the JS API reports
  // it: a boolean, long, double, string, instant or uuid (a keyword could be the ident
  // of a ref's target and a vector a lookup ref, so those match any value).
  Value v;

  // Whether every datom `o` matches is matched by this pattern.
  bool Covers(const DatomPattern& o) const;
  // Whether the datom (attribute by ident) matches. Numbers compare by value (a long 5
  // matches a double 5.0) and refs as their entity id, as JS sees them.
  bool Matches(std::string_view attr_ident, EntityId e, const Value& v) const;
};

// Every query also depends on these schema attributes of each source it reads: a
// change to one can change what an attribute or ident in the query means (a new
// :db/ident makes an unknown attribute known; :db/isComponent changes what pull reads).
extern const char* const kSchemaAttrs[5];

struct QueryDeps {
  // Per source name ("$", "$cat"): the datoms of that source that can change the
  // result, none covered by another, kSchemaAttrs included. A source that is not
  // listed cannot change it.
  std::map<std::string, std::vector<DatomPattern>> sources;
  // Per :in binding, in order: the sources it binds ({"$"}; {"$db"} for
  // [[?tenant $db] ...]; {} for values and rules). Without :in: {{"$"}}.
  std::vector<std::vector<std::string>> in;

  // Whether a datom of `source` matches one of its patterns.
  bool Matches(const std::string& source, std::string_view attr_ident, EntityId e, const Value& v) const;
};

// Whether `attr` (an ident) is a component attribute in the database bound to `source`.
// A forward attribute pulled without a sub-pattern pulls all of a component's
// attributes, so then the pull depends on any attribute.
using IsComponent = std::function<bool(const std::string& source, const std::string& attr)>;

// Dependencies from the data patterns (also inside not, or, and), the rules reachable
// from its rule calls (each expanded once per source it is called on), the functions
// that read a database (get-else, get-some, missing?) and the pull expressions of
// :find. `q.rules` holds the rules; `is_component` may be null (no components).
// Errors: a rule call the rules lack, naming its line and column.
Result<QueryDeps> Dependencies(const Query& q, const IsComponent& is_component);
// The query as text and its rules as text (an EDN vector of rules; empty: none). No
// attribute counts as a component.
Result<QueryDeps> Dependencies(std::string_view query, std::string_view rules = {});
// The query with the inputs Q would take: the rules come from the `%` input and
// components from the schemas of the databases.
Result<QueryDeps> Dependencies(std::string_view query, const std::vector<QueryInput>& inputs);

}  // namespace datalith::query
