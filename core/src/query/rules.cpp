// Rule calls: non-recursive rules as an or over their definitions seeded with the bound
// arguments; recursive groups (SCCs of the call graph) by a semi-naive fixpoint, cached
// per source for the run.
#include <algorithm>
#include <map>
#include <set>

#include "query/exec.h"

namespace datalith::query::internal {
namespace {

// Positions as pseudo-variables for rule relations: column i is argument i.
std::vector<VarId> Positions(size_t n) {
  std::vector<VarId> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = -1 - static_cast<VarId>(i);
  return out;
}

// Evaluates one rule body; rows over argument positions.
Result<Rel> EvalBody(Env& env, const Rule& rule, const Rel* seed) {
  DL_ASSIGN_OR_RETURN(Rel r, RunSub(env, seed, Pointers(rule.body), rule.head, rule.pos));
  r.cols = Positions(rule.head.size());
  return r;
}

// Rule names called anywhere inside `cs`.
void CalledRules(const std::vector<Clause>& cs, std::set<std::string>* out) {
  for (const Clause& c : cs) {
    if (c.kind == Clause::Kind::kRule) out->insert(c.fn);
    CalledRules(c.children, out);
  }
}

// The set of rules that can reach `name` and are reachable from it (its recursive SCC).
std::set<std::string> Scc(const Query& q, const std::string& name) {
  auto reach = [&](const std::string& from) {
    std::set<std::string> seen;
    std::vector<std::string> todo{from};
    while (!todo.empty()) {
      std::string r = todo.back();
      todo.pop_back();
      auto it = q.rules.find(r);
      if (it == q.rules.end()) continue;
      std::set<std::string> called;
      for (const Rule& def : it->second) CalledRules(def.body, &called);
      for (const std::string& c : called)
        if (seen.insert(c).second) todo.push_back(c);
    }
    return seen;
  };
  std::set<std::string> scc;
  for (const std::string& r : reach(name)) {
    if (r == name || reach(r).count(name)) scc.insert(r);
  }
  return scc;
}

// Semi-naive fixpoint of a recursive rule group; fills env.rule_cache for each member.
Status Fixpoint(Env& env, const std::string& name, const std::string& cache_key) {
  std::set<std::string> group = Scc(*env.q, name);
  std::map<std::string, Rel> full, delta;
  for (const std::string& r : group) {
    full[r].cols = Positions(env.q->rules.at(r)[0].head.size());
    delta[r].cols = full[r].cols;
  }
  // Top-level recursive calls of each body (their positions among the clauses).
  auto recursive_calls = [&](const Rule& def) {
    std::vector<size_t> at;
    for (size_t i = 0; i < def.body.size(); ++i)
      if (def.body[i].kind == Clause::Kind::kRule && group.count(def.body[i].fn)) at.push_back(i);
    return at;
  };
  auto uses_group = [&](const Rule& def) {
    std::set<std::string> called;
    CalledRules(def.body, &called);
    for (const std::string& r : called)
      if (group.count(r)) return true;
    return false;
  };
  env.Note([&] { return "rule group {" + [&] {
    std::string s;
    for (const std::string& r : group) s += (s.empty() ? "" : " ") + r;
    return s;
  }() + "}: semi-naive fixpoint"; });
  auto saved = env.rule_override;
  for (int iter = 0;; ++iter) {
    std::map<std::string, Rel> fresh;
    for (const std::string& r : group) {
      Rel& acc = fresh[r];
      acc.cols = full[r].cols;
      for (const Rule& def : env.q->rules.at(r)) {
        std::vector<size_t> calls = recursive_calls(def);
        bool uses = uses_group(def);
        std::vector<Rel> results;
        if (!uses) {
          if (iter > 0) continue;  // base rules contribute once
          for (const auto& [g, rel] : full) env.rule_override[g] = &rel;
          DL_ASSIGN_OR_RETURN(Rel x, EvalBody(env, def, nullptr));
          results.push_back(std::move(x));
        } else if (calls.empty()) {
          // Recursion only inside not/or: evaluate naively against the full relations.
          if (iter == 0) continue;
          for (const auto& [g, rel] : full) env.rule_override[g] = &rel;
          DL_ASSIGN_OR_RETURN(Rel x, EvalBody(env, def, nullptr));
          results.push_back(std::move(x));
        } else {
          if (iter == 0) continue;
          // One evaluation per recursive call site, that site reading the delta.
          for (size_t site : calls) {
            Rule variant = def;
            std::string delta_name = "\x01" "delta:" + def.body[site].fn;
            variant.body[site].fn = delta_name;
            for (const auto& [g, rel] : full) env.rule_override[g] = &rel;
            env.rule_override[delta_name] = &delta[def.body[site].fn];
            DL_ASSIGN_OR_RETURN(Rel x, EvalBody(env, variant, nullptr));
            results.push_back(std::move(x));
          }
        }
        for (Rel& x : results) {
          acc.data.insert(acc.data.end(), x.data.begin(), x.data.end());
          acc.rows += x.rows;
        }
      }
      DL_RETURN_IF_ERROR(Limit(env, acc.rows));
    }
    // delta = fresh - full; full += delta.
    bool changed = false;
    for (const std::string& r : group) {
      Dedup(&fresh[r]);
      Rel d = AntiJoin(fresh[r], full[r]);
      changed = changed || d.rows > 0;
      full[r].data.insert(full[r].data.end(), d.data.begin(), d.data.end());
      full[r].rows += d.rows;
      DL_RETURN_IF_ERROR(Limit(env, full[r].rows));
      delta[r] = std::move(d);
    }
    if (!changed && iter > 0) break;
  }
  env.rule_override = saved;
  const std::string prefix = cache_key.substr(0, cache_key.find('\x02') + 1);
  for (auto& entry : full) {  // not a structured binding: lambdas cannot capture those in C++20
    const std::string& r = entry.first;
    Rel& rel = entry.second;
    env.Note([&] { return "rule " + r + ": " + std::to_string(rel.rows) + " tuples"; });
    env.rule_cache[prefix + r] = std::move(rel);
  }
  return Status::Ok();
}

// The AntiJoin in Fixpoint needs rule relations whose columns are positions, so a
// call's relation comes back over positions and MatchTerms maps it onto the call.
Status JoinRuleRel(Env& env, Ctx& ctx, const Clause& c, const Rel& rel) {
  Rel out = MatchTerms(c.terms, c.vars, [&](auto&& f) {
    for (size_t i = 0; i < rel.rows; ++i) f(rel.Row(i), rel.width());
  });
  env.Note([&] { return c.text + ": " + std::to_string(rel.rows) + " rule tuples → " +
           std::to_string(out.rows) + " rows"; });
  return JoinInto(env, ctx, std::move(out));
}

}  // namespace

std::set<std::string> RecursiveRules(const Query& q) {
  std::set<std::string> recursive;
  for (const auto& [name, defs] : q.rules)
    if (Scc(q, name).count(name)) recursive.insert(name);
  return recursive;
}

Status ExecRule(Env& env, Ctx& ctx, const Clause& c) {
  auto ov = env.rule_override.find(c.fn);
  if (ov != env.rule_override.end()) return JoinRuleRel(env, ctx, c, *ov->second);
  auto defs = env.q->rules.find(c.fn);  // exists, with this arity: Validate checked
  if (defs == env.q->rules.end()) return Status::Internal("rule `" + c.fn + "` was not validated");
  // A rule called with a source evaluates its body against that source as $.
  SourceScope scope(env);
  DL_RETURN_IF_ERROR(scope.Enter(c));

  if (env.recursive.count(c.fn)) {
    std::string key = env.default_source + '\x02' + c.fn;
    if (!env.rule_cache.count(key)) DL_RETURN_IF_ERROR(Fixpoint(env, c.fn, key));
    return JoinRuleRel(env, ctx, c, env.rule_cache.at(key));
  }
  // Non-recursive: like or-join over the definitions, seeded with what is bound.
  std::vector<VarId> bound = BoundOf(ctx, c.vars);
  DL_ASSIGN_OR_RETURN(int ri, Merge(env, ctx, bound));
  Rel all;
  all.cols = Positions(c.terms.size());
  for (const Rule& def : defs->second) {
    // Seed: bound call variables and constants, renamed to the definition's head.
    Rel seed = Rel::Unit();
    if (ri >= 0) {
      Rel keys = Project(ctx.rels[ri], bound, true);
      seed = Rel();
      // Rename columns; repeated vars in the call pick the first position.
      std::vector<int> src_col;
      std::vector<VarId> cols;
      for (size_t i = 0; i < c.terms.size(); ++i) {
        if (!c.terms[i].is_var() || keys.Col(c.terms[i].var) < 0) continue;
        if (std::find(cols.begin(), cols.end(), def.head[i]) != cols.end()) continue;
        cols.push_back(def.head[i]);
        src_col.push_back(keys.Col(c.terms[i].var));
      }
      seed.cols = cols;
      std::vector<Value> row(cols.size());
      for (size_t r = 0; r < keys.rows; ++r) {
        for (size_t j = 0; j < cols.size(); ++j) row[j] = keys.Row(r)[src_col[j]];
        seed.Add(row.data());
      }
    }
    for (size_t i = 0; i < c.terms.size(); ++i) {
      if (!c.terms[i].is_const() || seed.Col(def.head[i]) >= 0) continue;
      Rel one;
      one.cols = {def.head[i]};
      one.Add(&c.terms[i].value);
      DL_ASSIGN_OR_RETURN(seed, Join(seed, one, env.max_rows()));
    }
    DL_ASSIGN_OR_RETURN(Rel r, EvalBody(env, def, &seed));
    all.data.insert(all.data.end(), r.data.begin(), r.data.end());
    all.rows += r.rows;
  }
  Dedup(&all);
  return JoinRuleRel(env, ctx, c, all);
}

}  // namespace datalith::query::internal
