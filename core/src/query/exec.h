// The query engine's shared environment: the sources, the clause context (a set of
// relations), the run's Env, and the entry point of each stage, one .cpp per stage.
// Only the engine's own files include this; the public API is datalith/query.h.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "datalith/query.h"
#include "query/ast.h"
#include "query/relation.h"

namespace datalith::query::internal {

// "line 3, col 7", and an error that starts with it (context.cpp).
std::string At(const edn::Pos& pos);
Status ErrAt(const edn::Pos& pos, const std::string& msg);

// A data source: a database, or a collection of tuples given as input.
struct Source {
  bool is_db = false;
  Db db;
  std::vector<Value> tuples;  // each a Value::Tuple (or a scalar, as a 1-tuple)
};

using Sources = std::map<std::string, Source>;

// A set of relations over disjoint variables; their product is the current result.
struct Ctx {
  std::vector<Rel> rels;
  bool empty = false;

  int RelOf(VarId v) const {
    for (size_t i = 0; i < rels.size(); ++i)
      if (rels[i].Col(v) >= 0) return static_cast<int>(i);
    return -1;
  }
  bool Bound(VarId v) const { return RelOf(v) >= 0; }
};

// One run of a query in one world.
struct Env {
  const Query* q = nullptr;
  const Sources* sources = nullptr;
  const QueryOptions* opts = nullptr;
  std::vector<std::string>* explain = nullptr;
  int depth = 0;  // nesting, for explain indentation
  // Rule relations over argument positions (cols 0..n-1), computed once per run.
  std::map<std::string, Rel> rule_cache;
  // During a fixpoint: the relation a recursive rule call reads (full or delta).
  std::map<std::string, const Rel*> rule_override;
  std::set<std::string> recursive;  // rules that (transitively) call themselves, per run

  uint64_t max_rows() const { return opts->max_rows; }
  const std::string& Name(VarId v) const { return q->var_names[v]; }
  // Explain lines are built only when explaining: `make()` returns the line.
  template <class F>
  void Note(F&& make) {
    if (explain) explain->push_back(std::string(2 * depth, ' ') + make());
  }
  std::string default_source = "$";  // what clauses without a source read

  const std::string& Resolve(const std::string& name) const {
    return name.empty() ? default_source : name;
  }
  Result<const Source*> Src(const std::string& written, const edn::Pos& pos) const {
    const std::string& name = Resolve(written);
    auto it = sources->find(name);
    if (it == sources->end()) {
      return ErrAt(pos, "source " + name + " was not passed to the query (add it to :in)");
    }
    return &it->second;
  }
};

inline Status Limit(const Env& env, size_t rows) {
  if (env.max_rows() && rows > env.max_rows()) return TooLarge(env.max_rows());
  return Status::Ok();
}

// While alive, clauses without a source read the clause's source (`($src not ...)`,
// `($src or ...)`, `($src rule ...)`); an explicit `$` still means the query's `$`.
class SourceScope {
 public:
  explicit SourceScope(Env& env) : env_(env), saved_(env.default_source) {}
  Status Enter(const Clause& c) {
    if (c.source.empty()) return Status::Ok();
    DL_RETURN_IF_ERROR(env_.Src(c.source, c.pos).status());
    env_.default_source = c.source;
    return Status::Ok();
  }
  ~SourceScope() { env_.default_source = saved_; }

 private:
  Env& env_;
  std::string saved_;
};

// ---- the context (context.cpp) ----

// The variables of `vars` that `ctx` binds.
std::vector<VarId> BoundOf(const Ctx& ctx, const std::vector<VarId>& vars);
std::vector<const Clause*> Pointers(const std::vector<Clause>& cs);

// Adds `r` to the context, joining it with every relation it shares variables with.
Status JoinInto(Env& env, Ctx& ctx, Rel r);
// Merges the relations binding `vars` into one (a product) and returns its index, or -1
// if none of them is bound.
Result<int> Merge(Env& env, Ctx& ctx, const std::vector<VarId>& vars);
// The relation over `vars` (all bound), as a product of what binds them. Takes the
// relations it reads out of `ctx` (the caller is done with it).
Result<Rel> Collect(Env& env, Ctx& ctx, const std::vector<VarId>& vars);

// Rows over the clause's variables from tuples matched against `terms` (rule results,
// collection sources). `for_each(f)` calls f(const Value* tuple, size_t n) per tuple.
template <typename ForEachTuple>
Rel MatchTerms(const std::vector<Term>& terms, const std::vector<VarId>& vars,
               ForEachTuple&& for_each) {
  Rel out;
  out.cols = vars;
  std::vector<int> slot_col(terms.size(), -1);
  for (size_t i = 0; i < terms.size(); ++i)
    if (terms[i].is_var()) slot_col[i] = out.Col(terms[i].var);
  std::vector<Value> row(vars.size());
  std::vector<bool> set(vars.size());
  for_each([&](const Value* t, size_t n) {
    if (n < terms.size()) return;
    std::fill(set.begin(), set.end(), false);
    for (size_t i = 0; i < terms.size(); ++i) {
      const Term& term = terms[i];
      if (term.is_const()) {
        if (t[i] != term.value) return;
      } else if (term.is_var()) {
        int c = slot_col[i];
        if (set[c]) {
          if (row[c] != t[i]) return;
        } else {
          row[c] = t[i];
          set[c] = true;
        }
      }
    }
    out.Add(row.data());
  });
  return out;
}

// ---- the clause runner (planner.cpp) ----

// Runs `clauses` in `ctx`; `keep` are the variables the caller reads afterwards (all
// others may be projected away once no pending clause needs them).
Status RunClauses(Env& env, Ctx& ctx, const std::vector<const Clause*>& clauses,
                  const std::vector<VarId>& keep);
// Runs `body` in a fresh context seeded with `seed` and returns its rows over `vars`
// (not, or and rule bodies).
Result<Rel> RunSub(Env& env, const Rel* seed, const std::vector<const Clause*>& body,
                   const std::vector<VarId>& vars, const edn::Pos& pos);

// ---- patterns (scan.cpp) ----

// A value as the query sees it: refs are plain entity ids (longs).
inline Value QueryValue(const Value& v) {
  return v.type() == ValueType::kRef ? Value::Long(static_cast<int64_t>(v.ref())) : v;
}
// Whether stored value `v` is `q` as the query sees it (QueryValue(v) == q, no copy).
inline bool SameQueryValue(const Value& v, const Value& q) {
  if (v.type() == ValueType::kRef) return q.type() == ValueType::kLong && static_cast<uint64_t>(q.long_value()) == v.ref();
  return v == q;
}
// An entity reference from a bound value or constant; nullopt if it names nothing.
// Only storage errors (e.g. kMissingNode while resolving a lookup ref) are errors.
Result<std::optional<EntityId>> EntityOf(const Db& db, const Value& v);
// Runs a data pattern; `pending` are the clauses still to run (their comparisons may
// narrow the scan to an AVET range).
Status ExecPattern(Env& env, Ctx& ctx, const Clause& c, const std::vector<const Clause*>& pending);
// The planner's estimate of the rows pattern `c` produces: `any_bound` says whether some
// of its variables are bound, by relations of at most `bound_rows` rows.
double EstimatePattern(Env& env, const Ctx& ctx, const Clause& c,
                       const std::vector<const Clause*>& pending, bool any_bound,
                       double bound_rows);

// ---- functions and predicates (functions.cpp) ----

// Every variable of a binding form, in order.
void BindingVars(const Binding& b, std::vector<VarId>* out);
// The argument counts (min, max; -1: any) of the functions the engine implements itself
// (they read a database or bind), or nullopt if `name` is not one of them.
std::optional<std::pair<int, int>> SpecialFnArity(const std::string& name);
Status ExecFunction(Env& env, Ctx& ctx, const Clause& c);

// ---- not and or (not_or.cpp) ----

Status ExecNot(Env& env, Ctx& ctx, const Clause& c);
Status ExecOr(Env& env, Ctx& ctx, const Clause& c);

// ---- rules (rules.cpp) ----

// The rules of `q` that (transitively) call themselves.
std::set<std::string> RecursiveRules(const Query& q);
Status ExecRule(Env& env, Ctx& ctx, const Clause& c);

// ---- inputs (bind.cpp) ----

// One way the :in bindings can be satisfied: its sources, and relations of inputs.
struct World {
  Sources sources;
  std::vector<Rel> rels;
  std::map<VarId, edn::Node> pull_patterns;  // (pull ?e ?pattern) inputs, kept as EDN
};

// Binds the inputs: the worlds to run the query in, and the rules (into `rules_into`).
Result<std::vector<World>> BindInputs(const Query& q, Query* rules_into,
                                      const std::vector<QueryInput>& inputs);

}  // namespace datalith::query::internal
