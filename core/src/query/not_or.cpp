// `not`/`not-join` (an anti-join against the body's rows) and `or`/`or-join` (the union
// of the branches' rows), each body run in a sub-context seeded with what is bound.
#include <algorithm>

#include "query/exec.h"

namespace datalith::query::internal {

Status ExecNot(Env& env, Ctx& ctx, const Clause& c) {
  SourceScope scope(env);
  DL_RETURN_IF_ERROR(scope.Enter(c));
  std::vector<VarId> eff = BoundOf(ctx, c.join_vars);
  if (c.explicit_join && eff.size() != c.join_vars.size()) {
    for (VarId v : c.join_vars)
      if (!ctx.Bound(v)) return ErrAt(c.pos, "not-join variable " + env.Name(v) + " is not bound");
  }
  DL_ASSIGN_OR_RETURN(int ri, Merge(env, ctx, eff));
  std::optional<Rel> seed;
  if (ri >= 0) seed = Project(ctx.rels[ri], eff, true);
  DL_ASSIGN_OR_RETURN(Rel found, RunSub(env, seed ? &*seed : nullptr, Pointers(c.children), eff, c.pos));
  if (ri < 0) {
    if (found.rows > 0) ctx.empty = true;
    return Status::Ok();
  }
  size_t before = ctx.rels[ri].rows;
  ctx.rels[ri] = AntiJoin(ctx.rels[ri], found);
  env.Note([&] { return c.text + ": remove " + std::to_string(before - ctx.rels[ri].rows) + " of " +
           std::to_string(before) + " rows"; });
  if (ctx.rels[ri].rows == 0) ctx.empty = true;
  return Status::Ok();
}

Status ExecOr(Env& env, Ctx& ctx, const Clause& c) {
  SourceScope scope(env);
  DL_RETURN_IF_ERROR(scope.Enter(c));
  std::vector<VarId> eff = BoundOf(ctx, c.join_vars);
  for (const Clause& branch : c.children) {
    for (VarId v : c.join_vars) {
      if (ctx.Bound(v) || std::find(branch.vars.begin(), branch.vars.end(), v) != branch.vars.end())
        continue;
      return ErrAt(branch.pos, "all branches of `or` must use the same variables: " + branch.text +
                                   " does not bind " + env.Name(v));
    }
  }
  DL_ASSIGN_OR_RETURN(int ri, Merge(env, ctx, eff));
  std::optional<Rel> seed;
  if (ri >= 0) seed = Project(ctx.rels[ri], eff, true);
  Rel all;
  all.cols = c.join_vars;
  for (const Clause& branch : c.children) {
    DL_ASSIGN_OR_RETURN(Rel r, RunSub(env, seed ? &*seed : nullptr, Pointers(branch.children),
                                      c.join_vars, branch.pos));
    all.data.insert(all.data.end(), r.data.begin(), r.data.end());
    all.rows += r.rows;
    if (all.width() == 0 && r.rows) all.rows = 1;
  }
  Dedup(&all);
  env.Note([&] { return c.text + ": " + std::to_string(c.children.size()) + " branches → " +
           std::to_string(all.rows) + " rows"; });
  return JoinInto(env, ctx, std::move(all));
}

}  // namespace datalith::query::internal
