// The parsed form of a query: what the parser produces and the engine runs.
//
// Variables are interned to small integers per query (VarId) so relations index their
// columns by number. Every clause keeps the position of its EDN form for errors.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "datalith/edn.h"
#include "datalith/status.h"
#include "datalith/value.h"

namespace datalith::query {

using VarId = int;

// A slot in a clause: a variable, a constant, or `_`.
struct Term {
  enum class Kind : uint8_t { kVar, kConst, kBlank };
  Kind kind = Kind::kBlank;
  VarId var = -1;
  Value value;  // kConst: keywords, numbers, strings; lookup refs as a Tuple
  edn::Pos pos;
  bool is_var() const { return kind == Kind::kVar; }
  bool is_const() const { return kind == Kind::kConst; }
};

// A binding form (:in and function outputs): ?x, _, $src, [?a ?b], [?x ...], [[?a ?b]].
struct Binding {
  enum class Kind : uint8_t { kVar, kBlank, kSource, kRules, kTuple, kCollection };
  Kind kind = Kind::kBlank;
  VarId var = -1;           // kVar
  std::string source;       // kSource: "$", "$cat"
  std::vector<Binding> items;  // kTuple elements; kCollection: one element
  edn::Pos pos;
};

struct Clause {
  enum class Kind : uint8_t {
    kPattern,    // [$src? e a v tx added]
    kPredicate,  // [(fn args...)]
    kFunction,   // [(fn args...) binding]
    kRule,       // ($src? name args...)
    kNot,        // (not ...) / (not-join [vars] ...)
    kOr,         // (or ...) / (or-join [vars] ...): children are the branches (kAnd)
    kAnd,        // (and ...)
  };
  Kind kind = Kind::kPattern;
  edn::Pos pos;
  std::string text;            // the clause as written, for explain and errors
  // kPattern, kRule, kNot, kOr: the source as written; empty for the default source
  // ($, or the one an enclosing `($src not ...)`/`($src or ...)`/rule call names).
  std::string source;
  std::string fn;              // kPredicate/kFunction name, kRule name
  std::vector<Term> terms;     // pattern slots, function arguments, rule arguments
  Binding binding;             // kFunction output
  std::vector<VarId> join_vars;  // not-join / or-join; for not/or: derived
  bool explicit_join = false;    // written as not-join / or-join
  std::vector<Clause> children;  // kNot/kAnd body; kOr branches (each a kAnd)
  // Every variable the clause mentions (for not/or: only the join vars).
  std::vector<VarId> vars;
};

struct Rule {
  std::string name;
  std::vector<VarId> head;       // all head vars, required ones first
  size_t required = 0;           // [[?a] ?b]: the first `required` must be bound
  std::vector<Clause> body;
  edn::Pos pos;
};

struct FindElem {
  enum class Kind : uint8_t { kVar, kAggregate, kPull };
  Kind kind = Kind::kVar;
  VarId var = -1;               // the variable (aggregated, pulled, or plain)
  std::string fn;               // aggregate name
  std::vector<Value> params;    // aggregate constant params: (min 3 ?x)
  std::string source = "$";     // pull
  edn::Node pattern;            // pull pattern
  VarId pattern_var = -1;       // pull pattern given as an input: (pull ?e ?pattern)
  std::string text;             // as written: "?x", "(count ?x)"
  edn::Pos pos;
};

struct Query {
  enum class Shape : uint8_t { kRelation, kCollection, kTuple, kScalar };
  Shape shape = Shape::kRelation;
  std::vector<FindElem> find;
  enum class Keys : uint8_t { kNone, kKeys, kStrs, kSyms };
  Keys keys = Keys::kNone;
  std::vector<std::string> key_names;
  std::vector<VarId> with;
  std::vector<Binding> in;        // default: [$]
  std::vector<Clause> where;
  std::map<std::string, std::vector<Rule>> rules;  // rules given inline are not a thing;
                                                   // filled per run from the % input
  int64_t limit = -1;
  int64_t offset = 0;
  std::vector<std::string> var_names;  // VarId → "?x"
  VarId Var(const std::string& name);  // interns
};

// Parses a query (vector or map form).
Result<std::shared_ptr<Query>> ParseQuery(const edn::Node& form);
// Parses a rule set (an EDN vector of rules) into `query` (interning its variables).
Status ParseRules(const edn::Node& form, Query* query);

}  // namespace datalith::query
