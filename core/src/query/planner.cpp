// The clause runner and planner: which clause runs next (filters as soon as their inputs
// are bound, otherwise the binder with the lowest estimate), and pruning of columns no
// pending clause needs.
#include <algorithm>
#include <functional>
#include <set>

#include "query/exec.h"

namespace datalith::query::internal {
namespace {

// Variables a clause can bind.
std::vector<VarId> Binds(const Clause& c) {
  switch (c.kind) {
    case Clause::Kind::kPredicate:
    case Clause::Kind::kNot: return {};
    case Clause::Kind::kFunction: {
      std::vector<VarId> out;
      BindingVars(c.binding, &out);
      return out;
    }
    default: return c.vars;
  }
}

// Input variables a filter-like clause needs bound before it runs.
std::vector<VarId> Needs(const Clause& c) {
  if (c.kind == Clause::Kind::kNot) return c.explicit_join ? c.join_vars : std::vector<VarId>{};
  std::vector<VarId> out;
  for (const Term& t : c.terms)
    if (t.is_var()) out.push_back(t.var);
  return out;
}

// Estimated rows a binder clause produces given the context (lower runs first).
double Estimate(Env& env, const Ctx& ctx, const Clause& c,
                const std::vector<const Clause*>& pending) {
  std::vector<VarId> bound = BoundOf(ctx, c.vars);
  double bound_rows = 0;
  for (VarId v : bound) {
    const Rel& r = ctx.rels[ctx.RelOf(v)];
    bound_rows = std::max(bound_rows, static_cast<double>(r.rows));
  }
  if (c.kind == Clause::Kind::kPattern) {
    return EstimatePattern(env, ctx, c, pending, !bound.empty(), bound_rows);
  }
  // Rules, or, and: cheap when seeded by bound variables, otherwise last.
  if (!bound.empty()) return bound_rows * 10 + 1;
  return 1e15;
}

// Drops columns that neither `keep` nor any pending clause mentions, deduplicating
// what remains: intermediate results stay as small as the rest of the query allows.
void Prune(Env& env, Ctx& ctx, const std::vector<const Clause*>& pending,
           const std::vector<VarId>& keep) {
  std::set<VarId> live(keep.begin(), keep.end());
  for (const Clause* p : pending) {
    for (VarId v : p->vars) live.insert(v);
    for (VarId v : Needs(*p)) live.insert(v);
    for (VarId v : Binds(*p)) live.insert(v);
  }
  std::vector<Rel> out;
  for (Rel& r : ctx.rels) {
    std::vector<VarId> cols;
    for (VarId v : r.cols)
      if (live.count(v)) cols.push_back(v);
    if (cols.size() == r.cols.size()) {
      out.push_back(std::move(r));
    } else if (!cols.empty()) {
      out.push_back(Project(r, cols, true));
    }  // else: no live columns and at least one row: a true fact, nothing to keep
  }
  ctx.rels = std::move(out);
}

}  // namespace

Status RunClauses(Env& env, Ctx& ctx, const std::vector<const Clause*>& clauses,
                  const std::vector<VarId>& keep) {
  // `and` at this level is just more clauses.
  std::vector<const Clause*> pending;
  std::function<void(const Clause*)> add = [&](const Clause* c) {
    if (c->kind == Clause::Kind::kAnd) {
      for (const Clause& ch : c->children) add(&ch);
    } else {
      pending.push_back(c);
    }
  };
  for (const Clause* c : clauses) add(c);

  auto can_still_bind = [&](VarId v, const Clause* except) {
    for (const Clause* p : pending) {
      if (p == except) continue;
      auto b = Binds(*p);
      if (std::find(b.begin(), b.end(), v) != b.end()) return true;
    }
    return false;
  };
  while (!pending.empty()) {
    if (ctx.empty) {
      env.Note([&] { return "(empty: skipping " + std::to_string(pending.size()) + " clauses)"; });
      return Status::Ok();
    }
    Prune(env, ctx, pending, keep);
    // 1. Filters and functions whose inputs are bound run first.
    const Clause* ready = nullptr;
    for (const Clause* p : pending) {
      bool filterish = p->kind == Clause::Kind::kPredicate || p->kind == Clause::Kind::kFunction ||
                       p->kind == Clause::Kind::kNot;
      if (!filterish) continue;
      bool ok = true;
      for (VarId v : Needs(*p)) ok = ok && ctx.Bound(v);
      if (ok && p->kind == Clause::Kind::kNot && !p->explicit_join) {
        // Implicit `not`: wait while anything else may still bind its variables.
        for (VarId v : p->join_vars) ok = ok && (ctx.Bound(v) || !can_still_bind(v, p));
      }
      if (ok) {
        ready = p;
        break;
      }
    }
    // 2. Otherwise the cheapest binder.
    if (!ready) {
      double best = 0;
      for (const Clause* p : pending) {
        if (p->kind == Clause::Kind::kPredicate || p->kind == Clause::Kind::kNot ||
            p->kind == Clause::Kind::kFunction) {
          continue;
        }
        double est = Estimate(env, ctx, *p, pending);
        if (!ready || est < best) {
          ready = p;
          best = est;
        }
      }
    }
    if (!ready) {
      // Only filters remain, and one of them needs a variable nothing binds.
      for (const Clause* p : pending) {
        for (VarId v : Needs(*p)) {
          if (!ctx.Bound(v)) {
            return ErrAt(p->pos, "unbound variable " + env.Name(v) + " in " + p->text);
          }
        }
      }
      return ErrAt(pending[0]->pos, "cannot run " + pending[0]->text);
    }
    pending.erase(std::find(pending.begin(), pending.end(), ready));
    switch (ready->kind) {
      case Clause::Kind::kPattern: DL_RETURN_IF_ERROR(ExecPattern(env, ctx, *ready, pending)); break;
      case Clause::Kind::kPredicate:
      case Clause::Kind::kFunction: DL_RETURN_IF_ERROR(ExecFunction(env, ctx, *ready)); break;
      case Clause::Kind::kNot: DL_RETURN_IF_ERROR(ExecNot(env, ctx, *ready)); break;
      case Clause::Kind::kOr: DL_RETURN_IF_ERROR(ExecOr(env, ctx, *ready)); break;
      case Clause::Kind::kRule: DL_RETURN_IF_ERROR(ExecRule(env, ctx, *ready)); break;
      case Clause::Kind::kAnd: break;  // flattened above
    }
  }
  return Status::Ok();
}

Result<Rel> RunSub(Env& env, const Rel* seed, const std::vector<const Clause*>& body,
                   const std::vector<VarId>& vars, const edn::Pos& pos) {
  Ctx sub;
  if (seed) {
    sub.rels.push_back(*seed);
    if (seed->rows == 0) sub.empty = true;
  }
  env.depth++;
  Status s = RunClauses(env, sub, body, vars);
  env.depth--;
  DL_RETURN_IF_ERROR(s);
  if (sub.empty) {
    Rel r;
    r.cols = vars;
    return r;
  }
  for (VarId v : vars) {
    if (!sub.Bound(v)) return ErrAt(pos, "variable " + env.Name(v) + " is not bound by " +
                                             "every branch");
  }
  return Collect(env, sub, vars);
}

}  // namespace datalith::query::internal
