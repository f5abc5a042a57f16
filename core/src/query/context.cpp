// The clause context: joining a clause's rows into it, merging or collecting the
// relations that bind a set of variables; the small helpers every stage shares.
#include <algorithm>

#include "query/exec.h"

namespace datalith::query::internal {

std::string At(const edn::Pos& pos) {
  return "line " + std::to_string(pos.line) + ", col " + std::to_string(pos.col);
}

Status ErrAt(const edn::Pos& pos, const std::string& msg) {
  return Status::Invalid(At(pos) + ": " + msg);
}

std::vector<VarId> BoundOf(const Ctx& ctx, const std::vector<VarId>& vars) {
  std::vector<VarId> out;
  for (VarId v : vars)
    if (ctx.Bound(v)) out.push_back(v);
  return out;
}

std::vector<const Clause*> Pointers(const std::vector<Clause>& cs) {
  std::vector<const Clause*> out;
  for (const Clause& c : cs) out.push_back(&c);
  return out;
}

// Adds `r` to the context, joining it with every relation it shares variables with.
Status JoinInto(Env& env, Ctx& ctx, Rel r) {
  if (ctx.empty) return Status::Ok();
  std::vector<Rel> keep;
  for (Rel& other : ctx.rels) {
    bool shares = false;
    for (VarId v : other.cols) shares = shares || r.Col(v) >= 0;
    if (shares) {
      DL_ASSIGN_OR_RETURN(r, Join(other, r, env.max_rows()));
    } else {
      keep.push_back(std::move(other));
    }
  }
  if (r.rows == 0) ctx.empty = true;
  keep.push_back(std::move(r));
  ctx.rels = std::move(keep);
  return Status::Ok();
}

// Merges the relations binding `vars` into one (a product) and returns its index, or -1
// if none of them is bound.
Result<int> Merge(Env& env, Ctx& ctx, const std::vector<VarId>& vars) {
  std::vector<int> idx;
  for (VarId v : vars) {
    int i = ctx.RelOf(v);
    if (i >= 0 && std::find(idx.begin(), idx.end(), i) == idx.end()) idx.push_back(i);
  }
  if (idx.empty()) return -1;
  if (idx.size() == 1) return idx[0];
  std::sort(idx.begin(), idx.end());
  Rel merged = std::move(ctx.rels[idx[0]]);
  for (size_t k = 1; k < idx.size(); ++k) {
    DL_ASSIGN_OR_RETURN(merged, Join(merged, ctx.rels[idx[k]], env.max_rows()));
  }
  for (size_t k = idx.size(); k-- > 1;) ctx.rels.erase(ctx.rels.begin() + idx[k]);
  ctx.rels[idx[0]] = std::move(merged);
  return idx[0];
}

// The relation over `vars` (all bound), as a product of what binds them.
Result<Rel> Collect(Env& env, Ctx& ctx, const std::vector<VarId>& vars) {
  Rel out;
  out.cols = vars;
  if (ctx.empty) return out;
  for (VarId v : vars) {
    if (!ctx.Bound(v)) return Status::Invalid("variable " + env.Name(v) + " is not bound");
  }
  DL_ASSIGN_OR_RETURN(int i, Merge(env, ctx, vars));
  if (i < 0) {
    out.rows = 1;  // no variables: true
    return out;
  }
  return Project(std::move(ctx.rels[i]), vars, true);
}

}  // namespace datalith::query::internal
