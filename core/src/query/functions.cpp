// Function and predicate clauses: the functions that read a database or bind (get-else,
// get-some, missing?, ground, tuple, ...) compiled here, the rest from builtins, applied
// per row; results are destructured by the clause's binding form.
#include <algorithm>
#include <functional>
#include <map>

#include "query/builtins.h"
#include "query/exec.h"

namespace datalith::query::internal {

void BindingVars(const Binding& b, std::vector<VarId>* out) {
  if (b.kind == Binding::Kind::kVar) {
    out->push_back(b.var);
  }
  for (const Binding& item : b.items) BindingVars(item, out);
}

namespace {

// Destructures `v` by binding `b` into rows over BindingVars(b) (appended to `rows`).
Status Destructure(const Binding& b, const Value& v, std::vector<std::vector<Value>>* rows) {
  switch (b.kind) {
    case Binding::Kind::kBlank: rows->push_back({}); return Status::Ok();
    case Binding::Kind::kVar: rows->push_back({v}); return Status::Ok();
    case Binding::Kind::kTuple: {
      if (v.type() != ValueType::kTuple || v.tuple().size() < b.items.size()) {
        return ErrAt(b.pos, "cannot bind " + v.ToString() + " to a tuple of " +
                                std::to_string(b.items.size()));
      }
      std::vector<std::vector<Value>> acc{{}};
      for (size_t i = 0; i < b.items.size(); ++i) {
        std::vector<std::vector<Value>> part, next;
        DL_RETURN_IF_ERROR(Destructure(b.items[i], v.tuple()[i], &part));
        for (const auto& a : acc)
          for (const auto& p : part) {
            next.push_back(a);
            next.back().insert(next.back().end(), p.begin(), p.end());
          }
        acc = std::move(next);
      }
      rows->insert(rows->end(), acc.begin(), acc.end());
      return Status::Ok();
    }
    case Binding::Kind::kCollection: {
      if (v.is_nil()) return Status::Ok();
      if (v.type() != ValueType::kTuple) {
        return ErrAt(b.pos, "cannot bind " + v.ToString() + " to a collection");
      }
      for (const Value& item : v.tuple()) DL_RETURN_IF_ERROR(Destructure(b.items[0], item, rows));
      return Status::Ok();
    }
    default: return ErrAt(b.pos, "a function result cannot bind a source");
  }
}

// Arguments that name a source (get-else and friends) resolve to a database.
Result<const Db*> DbArg(Env& env, const Clause& c, size_t i) {
  const Term& t = c.terms[i];
  if (!t.is_const() || t.value.type() != ValueType::kSymbol) {
    return ErrAt(t.pos, c.fn + " expects a source ($) as argument " + std::to_string(i + 1));
  }
  DL_ASSIGN_OR_RETURN(const Source* s, env.Src(t.value.str(), t.pos));
  if (!s->is_db) return ErrAt(t.pos, c.fn + ": source " + t.value.str() + " is not a database");
  return &s->db;
}

Result<EntityId> AttrArg(const Db& db, const Clause& c, size_t i) {
  const Term& t = c.terms[i];
  if (!t.is_const() || t.value.type() != ValueType::kKeyword) {
    return ErrAt(t.pos, c.fn + " expects an attribute keyword as argument " + std::to_string(i + 1));
  }
  const Attribute* a = db.schema().AttrByIdent(t.value.str());
  if (!a) return Status::NotFound(":" + t.value.str());
  return a->id;
}

// One function application. `args` holds the evaluated arguments (source arguments
// as symbols). Sets *out, or leaves it unset for "no result" (the row drops out).
using Fn = std::function<Status(const std::vector<Value>& args, std::optional<Value>* out)>;

Result<Fn> CompileFn(Env& env, const Clause& c) {
  const std::string& name = c.fn;
  // Names and argument counts were checked by Validate.
  if (name == "get-else") {
    DL_ASSIGN_OR_RETURN(const Db* db, DbArg(env, c, 0));
    auto a = AttrArg(*db, c, 2);
    if (!a.ok() && a.status().code() != Code::kNotFound) return a.status();
    const Attribute* attr = a.ok() ? db->schema().Attr(*a) : nullptr;
    if (attr && attr->many) return ErrAt(c.pos, "get-else: :" + attr->ident + " is cardinality many");
    if (c.terms[3].is_const() && c.terms[3].value.is_nil()) {
      return ErrAt(c.terms[3].pos, "get-else: the default cannot be nil");
    }
    std::optional<EntityId> aid = a.ok() ? std::optional<EntityId>(*a) : std::nullopt;
    return Fn([db, aid](const std::vector<Value>& args, std::optional<Value>* out) -> Status {
      *out = args[3];
      DL_ASSIGN_OR_RETURN(auto e, EntityOf(*db, args[1]));
      if (!e || !aid) return Status::Ok();
      DL_ASSIGN_OR_RETURN(DatomIterator it, db->DatomsIter(IndexType::kEavt, {Value::Ref(*e), Value::Ref(*aid)}));
      if (it.Valid()) *out = QueryValue(it.datom().v);
      return it.status();
    });
  }
  if (name == "get-some") {
    DL_ASSIGN_OR_RETURN(const Db* db, DbArg(env, c, 0));
    std::vector<std::pair<EntityId, Value>> attrs;
    for (size_t i = 2; i < c.terms.size(); ++i) {
      auto a = AttrArg(*db, c, i);
      if (a.ok()) attrs.emplace_back(*a, c.terms[i].value);
      else if (a.status().code() != Code::kNotFound) return a.status();
    }
    return Fn([db, attrs](const std::vector<Value>& args, std::optional<Value>* out) -> Status {
      DL_ASSIGN_OR_RETURN(auto e, EntityOf(*db, args[1]));
      if (!e) return Status::Ok();
      for (const auto& [aid, kw] : attrs) {
        DL_ASSIGN_OR_RETURN(DatomIterator it, db->DatomsIter(IndexType::kEavt, {Value::Ref(*e), Value::Ref(aid)}));
        if (it.Valid()) {
          *out = Value::Tuple({kw, QueryValue(it.datom().v)});
          return Status::Ok();
        }
        DL_RETURN_IF_ERROR(it.status());
      }
      return Status::Ok();
    });
  }
  if (name == "missing?") {
    DL_ASSIGN_OR_RETURN(const Db* db, DbArg(env, c, 0));
    // A reverse attribute (:ns/_name) asks whether anything refers to the entity.
    Clause forward = c;
    bool reverse = false;
    if (c.terms[2].is_const() && c.terms[2].value.type() == ValueType::kKeyword) {
      const std::string& kw = c.terms[2].value.str();
      size_t slash = kw.find('/');
      size_t name = slash == std::string::npos ? 0 : slash + 1;
      if (kw.compare(name, 1, "_") == 0 && !db->schema().AttrByIdent(kw)) {
        reverse = true;
        forward.terms[2].value = Value::Keyword(kw.substr(0, name) + kw.substr(name + 1));
      }
    }
    auto a = AttrArg(*db, forward, 2);
    if (!a.ok() && a.status().code() != Code::kNotFound) return a.status();
    std::optional<EntityId> aid = a.ok() ? std::optional<EntityId>(*a) : std::nullopt;
    return Fn([db, aid, reverse](const std::vector<Value>& args, std::optional<Value>* out) -> Status {
      DL_ASSIGN_OR_RETURN(auto e, EntityOf(*db, args[1]));
      bool missing = true;
      if (e && aid) {
        DL_ASSIGN_OR_RETURN(DatomIterator it, db->DatomsIter(reverse ? IndexType::kVaet : IndexType::kEavt,
                                                             {Value::Ref(*e), Value::Ref(*aid)}));
        missing = !it.Valid();
        DL_RETURN_IF_ERROR(it.status());
      }
      *out = Value::Boolean(missing);
      return Status::Ok();
    });
  }
  if (name == "ground" || name == "identity") {
    return Fn([](const std::vector<Value>& args, std::optional<Value>* out) {
      *out = args[0];
      return Status::Ok();
    });
  }
  if (name == "tuple") {
    return Fn([](const std::vector<Value>& args, std::optional<Value>* out) {
      *out = Value::Tuple(args);
      return Status::Ok();
    });
  }
  if (name == "untuple") {
    return Fn([](const std::vector<Value>& args, std::optional<Value>* out) -> Status {
      if (args[0].type() != ValueType::kTuple) {
        return Status::Invalid("untuple: " + args[0].ToString() + " is not a tuple");
      }
      *out = args[0];
      return Status::Ok();
    });
  }
  const Builtin* b = FindBuiltin(name);
  if (!b) return Status::Internal("function `" + name + "` was not validated");
  BuiltinFn f = b->fn;
  return Fn([f](const std::vector<Value>& args, std::optional<Value>* out) -> Status {
    DL_ASSIGN_OR_RETURN(Value v, f(args));
    *out = std::move(v);
    return Status::Ok();
  });
}

}  // namespace

// CompileFn implements these itself; Validate checks calls against this table.
std::optional<std::pair<int, int>> SpecialFnArity(const std::string& name) {
  static const std::map<std::string, std::pair<int, int>> kSpecial = {
      {"get-else", {4, 4}}, {"get-some", {3, -1}}, {"missing?", {3, 3}}, {"ground", {1, 1}},
      {"identity", {1, 1}}, {"tuple", {0, -1}}, {"untuple", {1, 1}}};
  auto it = kSpecial.find(name);
  if (it == kSpecial.end()) return std::nullopt;
  return it->second;
}

Status ExecFunction(Env& env, Ctx& ctx, const Clause& c) {
  DL_ASSIGN_OR_RETURN(Fn fn, CompileFn(env, c));
  std::vector<VarId> in_vars;
  for (const Term& t : c.terms)
    if (t.is_var() && std::find(in_vars.begin(), in_vars.end(), t.var) == in_vars.end())
      in_vars.push_back(t.var);
  std::vector<VarId> out_vars;
  if (c.kind == Clause::Kind::kFunction) BindingVars(c.binding, &out_vars);
  // Output variables that are already bound become equality checks.
  std::vector<VarId> all = in_vars;
  for (VarId v : out_vars)
    if (ctx.Bound(v)) all.push_back(v);
  DL_ASSIGN_OR_RETURN(int ri, Merge(env, ctx, all));
  Rel unit = Rel::Unit();
  const Rel& in = ri >= 0 ? ctx.rels[ri] : unit;
  std::vector<int> arg_col(c.terms.size(), -1);
  for (size_t i = 0; i < c.terms.size(); ++i)
    if (c.terms[i].is_var()) arg_col[i] = in.Col(c.terms[i].var);
  Rel out;
  out.cols = in.cols;
  std::vector<int> out_col;  // per out var: existing column, or -1 (new)
  for (VarId v : out_vars) {
    int col = in.Col(v);
    out_col.push_back(col);
    if (col < 0 && out.Col(v) < 0) out.cols.push_back(v);
  }
  std::vector<Value> args(c.terms.size());
  std::vector<Value> row(out.cols.size());
  std::vector<std::vector<Value>> bound_rows;
  for (size_t r = 0; r < in.rows; ++r) {
    const Value* src = in.Row(r);
    for (size_t i = 0; i < c.terms.size(); ++i) {
      args[i] = arg_col[i] >= 0 ? src[arg_col[i]] : c.terms[i].value;
    }
    std::optional<Value> result;
    Status s = fn(args, &result);
    if (!s.ok()) return s.WithContext(At(c.pos) + ": " + c.text);
    if (!result) continue;
    if (c.kind == Clause::Kind::kFunction && result->is_nil()) continue;  // binds nothing
    if (c.kind == Clause::Kind::kPredicate) {
      if (Truthy(*result)) out.Add(src);
      continue;
    }
    bound_rows.clear();
    DL_RETURN_IF_ERROR(Destructure(c.binding, *result, &bound_rows));
    for (const auto& b : bound_rows) {
      std::copy(src, src + in.width(), row.begin());
      bool ok = true;
      for (size_t j = 0; j < out_vars.size() && ok; ++j) {
        int col = out_col[j] >= 0 ? out_col[j] : out.Col(out_vars[j]);
        if (out_col[j] >= 0 || static_cast<size_t>(col) < in.width()) {
          ok = row[col] == b[j];
        } else {
          row[col] = b[j];
        }
      }
      if (ok) out.Add(row.data());
    }
    DL_RETURN_IF_ERROR(Limit(env, out.rows));
  }
  env.Note([&] { return c.text + ": " + (c.kind == Clause::Kind::kPredicate ? "filter " : "compute ") +
           std::to_string(in.rows) + " → " + std::to_string(out.rows) + " rows"; });
  if (out.rows == 0) ctx.empty = true;
  if (ri >= 0) {
    ctx.rels[ri] = std::move(out);
  } else {
    ctx.rels.push_back(std::move(out));
  }
  return Status::Ok();
}

}  // namespace datalith::query::internal
