// Built-in query functions, predicates and aggregates.
//
// Functions take and return Values (collections are Value::Tuple). Comparisons use the
// total Value order (so they work across types, like DataScript), except that a long
// and a double compare by numeric value (1 < 1.5; `=` still tells 1 from 1.0).
// Arithmetic and string functions check their argument types and fail with a message
// naming the function and the offending argument. Functions that need a database (get-else,
// get-some, missing?) and the binding helpers (ground, tuple, untuple, identity) are
// handled by the executor, not here.
#pragma once

#include <string_view>
#include <vector>

#include "datalith/edn.h"
#include "datalith/status.h"
#include "datalith/value.h"

namespace datalith::query {

using BuiltinFn = Result<Value> (*)(const std::vector<Value>& args);

struct Builtin {
  const char* name;
  int min_args;
  int max_args;  // -1: variadic
  BuiltinFn fn;
};

// The function called `name` (e.g. "<", "str", "clojure.string/starts-with?",
// "re-find"), or nullptr.
const Builtin* FindBuiltin(std::string_view name);

// Truthiness as in Clojure: everything except nil and false.
inline bool Truthy(const Value& v) {
  return !(v.is_nil() || (v.type() == ValueType::kBoolean && !v.boolean()));
}

// Aggregates: count, count-distinct, sum, avg, min, max, median, variance, stddev,
// distinct, sample, rand. `params` are the leading constant arguments: (min 3 ?x) has
// params {3}; (sample 2 ?x) {2}; (rand 5 ?x) {5}; others none. `values` is the bag of
// values of the aggregated variable for one group (duplicates kept, per :with).
bool IsAggregate(std::string_view name);
// Fails with a message naming the aggregate if `params` do not fit it (e.g. (sum 2 ?x),
// (min "a" ?x)) or the values have the wrong types (sum of strings).
Result<edn::Node> RunAggregate(std::string_view name, const std::vector<Value>& params,
                               std::vector<Value> values);

}  // namespace datalith::query
