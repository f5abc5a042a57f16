// The query engine: binds inputs, plans and runs :where clauses over relations, and
// shapes the results. docs/query.md describes the algorithm.
#include <algorithm>
#include <cmath>
#include <functional>
#include <list>
#include <mutex>
#include <set>
#include <unordered_map>

#include "datalith/query.h"
#include "query/ast.h"
#include "query/builtins.h"
#include "query/relation.h"

namespace datalith {

QueryInput QueryInput::Database(Db d) {
  QueryInput in;
  in.kind = Kind::kDatabase;
  in.db = std::move(d);
  return in;
}

QueryInput QueryInput::Data(edn::Node n) {
  QueryInput in;
  in.kind = Kind::kData;
  in.data = std::move(n);
  return in;
}

QueryInput QueryInput::List(std::vector<QueryInput> items) {
  QueryInput in;
  in.kind = Kind::kList;
  in.items = std::move(items);
  return in;
}

Result<QueryInput> QueryInput::Edn(std::string_view text) {
  DL_ASSIGN_OR_RETURN(edn::Node n, edn::ReadOne(text));
  return Data(std::move(n));
}

namespace query {
namespace {

std::string At(const edn::Pos& pos) {
  return "line " + std::to_string(pos.line) + ", col " + std::to_string(pos.col);
}

Status ErrAt(const edn::Pos& pos, const std::string& msg) {
  return Status::Invalid(At(pos) + ": " + msg);
}

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

struct Env;
// Runs `clauses` in `ctx`; `keep` are the variables the caller reads afterwards (all
// others may be projected away once no pending clause needs them).
Status RunClauses(Env& env, Ctx& ctx, const std::vector<const Clause*>& clauses,
                  const std::vector<VarId>& keep);

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

Status Limit(const Env& env, size_t rows) {
  if (env.max_rows() && rows > env.max_rows()) return TooLarge(env.max_rows());
  return Status::Ok();
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
  return Project(ctx.rels[i], vars, true);
}

// ---------------------------------------------------------------------------------
// Matching tuples (rule results, collection sources) against clause terms.

// Rows over the clause's variables from tuples matched against `terms`.
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

// ---------------------------------------------------------------------------------
// Data patterns against a database.

// A value as the query sees it: refs are plain entity ids (longs).
inline Value QueryValue(const Value& v) {
  return v.type() == ValueType::kRef ? Value::Long(static_cast<int64_t>(v.ref())) : v;
}

// An entity reference from a bound value or constant; nullopt if it names nothing.
// Only storage errors (e.g. kMissingNode while resolving a lookup ref) are errors.
Result<std::optional<EntityId>> EntityOf(const Db& db, const Value& v) {
  switch (v.type()) {
    case ValueType::kLong:
      if (v.long_value() > 0) return std::optional<EntityId>(static_cast<EntityId>(v.long_value()));
      return std::optional<EntityId>();
    case ValueType::kRef: return std::optional<EntityId>(v.ref());
    case ValueType::kKeyword: return db.schema().Entid(v.str());
    case ValueType::kTuple: {
      auto e = db.Entid(v);
      if (e.ok()) return std::optional<EntityId>(*e);
      if (e.status().code() == Code::kNotFound || e.status().code() == Code::kInvalidArgument) {
        return std::optional<EntityId>();
      }
      return e.status();
    }
    default: return std::optional<EntityId>();
  }
}

// The known parts of a pattern for one scan: constants, plus bound values when probing.
struct Known {
  std::optional<EntityId> e, a, tx;
  std::optional<Value> v;      // as the query sees it (refs as longs)
  std::optional<bool> added;
  const Attribute* attr = nullptr;
  std::optional<Value> lo, hi;  // AVET range on v (inclusive bounds, checked again later)
};

// Slots: 0 e, 1 a, 2 v, 3 tx, 4 added.
struct PatternScan {
  const Db* db;
  const Clause* c;
  std::vector<int> slot_col;  // output column of each slot's variable, -1 if none

  // Picks the index and the key components for `k`.
  void Plan(const Known& k, IndexType* index, std::vector<Value>* comps, bool* seek) const {
    comps->clear();
    *seek = false;
    auto stored_v = [&]() {  // k.v holds refs as longs (see ResolveConstants)
      if (k.attr && k.attr->is_ref() && k.v->type() == ValueType::kLong) {
        return Value::Ref(static_cast<EntityId>(k.v->long_value()));
      }
      return *k.v;
    };
    if (k.e) {
      *index = IndexType::kEavt;
      comps->push_back(Value::Ref(*k.e));
      if (k.a) {
        comps->push_back(Value::Ref(*k.a));
        if (k.v) comps->push_back(stored_v());
      }
    } else if (k.a && k.v && k.attr && (k.attr->in_avet() || k.attr->is_ref())) {
      if (k.attr->in_avet()) {
        *index = IndexType::kAvet;
        comps->push_back(Value::Ref(*k.a));
        comps->push_back(stored_v());
      } else {
        *index = IndexType::kVaet;
        comps->push_back(stored_v());
        comps->push_back(Value::Ref(*k.a));
      }
    } else if (k.a && k.attr && k.lo && k.attr->in_avet()) {
      *index = IndexType::kAvet;
      comps->push_back(Value::Ref(*k.a));
      comps->push_back(*k.lo);
      *seek = true;
    } else if (k.a) {
      *index = IndexType::kAevt;
      comps->push_back(Value::Ref(*k.a));
    } else {
      // No entity and no attribute: the whole index, filtered. (A value alone could
      // be a ref or a plain number, so VAET would miss the latter.)
      *index = IndexType::kEavt;
    }
  }

  // Scans datoms matching `k` and appends rows (over c->vars) to `out`. With
  // `skip_to` (ascending entity ids; `k` has an attribute and no entity) it is a
  // skip-scan of the attribute's AEVT range: only those entities' datoms are read,
  // each reached by a forward seek that usually stays within the current leaf.
  Status Scan(const Known& k, Rel* out, size_t max_rows,
              const std::vector<EntityId>* skip_to = nullptr) const {
    IndexType index = IndexType::kAevt;
    std::vector<Value> comps;
    bool seek = false;
    if (skip_to) {
      comps.push_back(Value::Ref(*k.a));
    } else {
      Plan(k, &index, &comps, &seek);
    }
    Result<DatomIterator> it_r = seek ? db->SeekDatoms(index, comps) : db->DatomsIter(index, comps);
    if (!it_r.ok()) {
      if (it_r.status().code() == Code::kNotFound) return Status::Ok();
      return it_r.status();
    }
    DatomIterator it = std::move(*it_r);
    const Schema& schema = db->schema();
    std::vector<Value> row(out->width());
    std::vector<bool> set(out->width());
    // Adds the row of one datom if it matches; false once past a seek's range.
    auto consume = [&](const Datom& d) -> bool {
      if (seek) {
        if (d.a != *k.a) return false;
        if (k.hi && Value::Compare(d.v, *k.hi) > 0) return false;
      }
      if (k.e && d.e != *k.e) return true;
      if (k.a && d.a != *k.a) return true;
      if (k.tx && d.tx != *k.tx) return true;
      if (k.added && d.added != *k.added) return true;
      Value qv = QueryValue(d.v);
      if (k.v && qv != *k.v) return true;
      std::fill(set.begin(), set.end(), false);
      bool ok = true;
      auto put = [&](int slot, Value&& v) {
        int col = slot_col[slot];
        if (col < 0) return;
        if (set[col]) {
          ok = ok && row[col] == v;
        } else {
          row[col] = std::move(v);
          set[col] = true;
        }
      };
      put(0, Value::Long(static_cast<int64_t>(d.e)));
      if (slot_col.size() > 1 && slot_col[1] >= 0) {
        const std::string* ident = schema.Ident(d.a);
        put(1, ident ? Value::Keyword(*ident) : Value::Long(static_cast<int64_t>(d.a)));
      }
      if (slot_col.size() > 2) put(2, std::move(qv));
      if (slot_col.size() > 3) put(3, Value::Long(static_cast<int64_t>(d.tx)));
      if (slot_col.size() > 4) put(4, Value::Boolean(d.added));
      if (ok) out->Add(row.data());
      return true;
    };
    size_t next = 0;  // skip-scan: the first wanted entity not passed yet
    std::vector<Value> target;
    if (skip_to) target = {comps.at(0), Value()};
    while (it.Valid()) {
      const Datom& d = it.datom();
      if (skip_to) {
        while (next < skip_to->size() && (*skip_to)[next] < d.e) ++next;
        if (next == skip_to->size()) break;
        if ((*skip_to)[next] != d.e) {
          target[1] = Value::Ref((*skip_to)[next]);
          DL_RETURN_IF_ERROR(it.SkipTo(target));
          continue;
        }
      }
      if (!consume(d)) break;
      if (max_rows && out->rows > max_rows) return TooLarge(max_rows);
      it.Next();
    }
    return it.status();
  }
};

// Resolves the constant slots of a pattern. Returns false if a constant names nothing
// (the pattern can match nothing).
Result<bool> ResolveConstants(const Db& db, const Clause& c, Known* k) {
  const auto& t = c.terms;
  if (t.size() > 1 && t[1].is_const()) {
    const Value& a = t[1].value;
    std::optional<EntityId> id;
    if (a.type() == ValueType::kKeyword) {
      if (const Attribute* attr = db.schema().AttrByIdent(a.str())) id = attr->id;
      else if (auto e = db.schema().Entid(a.str())) id = *e;
    } else {
      DL_ASSIGN_OR_RETURN(id, EntityOf(db, a));
    }
    if (!id) return false;
    k->a = id;
    k->attr = db.schema().Attr(*id);
  }
  if (!t.empty() && t[0].is_const()) {
    DL_ASSIGN_OR_RETURN(k->e, EntityOf(db, t[0].value));
    if (!k->e) return false;
  }
  if (t.size() > 2 && t[2].is_const()) {
    const Value& v = t[2].value;
    if (k->attr && k->attr->is_ref()) {
      DL_ASSIGN_OR_RETURN(auto e, EntityOf(db, v));
      if (!e) return false;
      k->v = Value::Long(static_cast<int64_t>(*e));
    } else {
      k->v = QueryValue(v);
    }
  }
  if (t.size() > 3 && t[3].is_const()) {
    DL_ASSIGN_OR_RETURN(k->tx, EntityOf(db, t[3].value));
    if (!k->tx) return false;
  }
  if (t.size() > 4 && t[4].is_const()) {
    if (t[4].value.type() != ValueType::kBoolean) {
      return ErrAt(t[4].pos, "the added slot of a pattern must be true or false");
    }
    k->added = t[4].value.boolean();
  }
  return true;
}

// Sets `known` slot `slot` from a bound value. Returns false if it can match nothing.
Result<bool> SetKnown(const Db& db, int slot, const Value& v, Known* k) {
  switch (slot) {
    case 0: {
      DL_ASSIGN_OR_RETURN(k->e, EntityOf(db, v));
      return k->e.has_value();
    }
    case 1: {
      std::optional<EntityId> id;
      if (v.type() == ValueType::kKeyword) {
        if (const Attribute* a = db.schema().AttrByIdent(v.str())) id = a->id;
      } else {
        DL_ASSIGN_OR_RETURN(id, EntityOf(db, v));
      }
      if (!id) return false;
      k->a = id;
      k->attr = db.schema().Attr(*id);
      return true;
    }
    case 2:
      if (k->attr && k->attr->is_ref()) {
        DL_ASSIGN_OR_RETURN(auto e, EntityOf(db, v));
        if (!e) return false;
        k->v = Value::Long(static_cast<int64_t>(*e));
      } else {
        k->v = v;
      }
      return true;
    case 3: {
      DL_ASSIGN_OR_RETURN(k->tx, EntityOf(db, v));
      return k->tx.has_value();
    }
    default:
      if (v.type() != ValueType::kBoolean) return false;
      k->added = v.boolean();
      return true;
  }
}

// Number of datoms matching the constants (and the range), from subtree counts.
uint64_t EstimateScan(const PatternScan& ps, const Known& k) {
  IndexType index;
  std::vector<Value> comps;
  bool seek;
  ps.Plan(k, &index, &comps, &seek);
  Result<uint64_t> n = seek ? ps.db->CountRange(index, comps,
                                                k.hi ? std::vector<Value>{comps[0], *k.hi}
                                                     : std::vector<Value>{comps[0]})
                            : ps.db->Count(index, comps);
  return n.ok() ? *n : UINT64_MAX / 4;
}

// Comparison predicates on one variable with a constant-like bound: pushed into an
// AVET range scan of that variable's pattern.
void FindRange(Env& env, const Ctx& ctx, VarId var, ValueType type,
               const std::vector<const Clause*>& pending, Known* k) {
  for (const Clause* p : pending) {
    if (p->kind != Clause::Kind::kPredicate || p->terms.size() != 2) continue;
    const std::string& fn = p->fn;
    if (fn != "<" && fn != ">" && fn != "<=" && fn != ">=") continue;
    int side = p->terms[0].is_var() && p->terms[0].var == var   ? 0
               : p->terms[1].is_var() && p->terms[1].var == var ? 1
                                                                  : -1;
    if (side < 0) continue;
    const Term& other = p->terms[1 - side];
    std::optional<Value> bound;
    if (other.is_const()) {
      bound = other.value;
    } else if (other.is_var()) {
      int r = ctx.RelOf(other.var);
      if (r >= 0 && ctx.rels[r].rows == 1) bound = ctx.rels[r].Row(0)[ctx.rels[r].Col(other.var)];
    }
    if (!bound || bound->type() != type) continue;
    // var > c  or  c < var: lower bound; var < c or c > var: upper bound.
    bool lower = (side == 0) == (fn[0] == '>');
    if (lower) {
      if (!k->lo || Value::Compare(*bound, *k->lo) > 0) k->lo = bound;
    } else {
      if (!k->hi || Value::Compare(*bound, *k->hi) < 0) k->hi = bound;
    }
  }
  if (k->hi && !k->lo) {
    // An upper bound alone: start at the first value of the type.
    switch (type) {
      case ValueType::kLong: k->lo = Value::Long(INT64_MIN); break;
      case ValueType::kDouble: k->lo = Value::Double(-INFINITY); break;
      case ValueType::kString: k->lo = Value::String(""); break;
      case ValueType::kInstant: k->lo = Value::Instant(INT64_MIN); break;
      default: k->hi.reset(); break;
    }
  }
}

// The constants of a pattern plus an AVET range from pending comparisons on its value
// variable. False if a constant names nothing.
Result<bool> PrepareKnown(Env& env, const Ctx& ctx, const Clause& c, const Db& db,
                          const std::vector<const Clause*>& pending, Known* k) {
  DL_ASSIGN_OR_RETURN(bool possible, ResolveConstants(db, c, k));
  if (possible && c.terms.size() > 2 && c.terms[2].is_var() && k->attr && k->attr->in_avet() &&
      !ctx.Bound(c.terms[2].var) && k->attr->type != ValueType::kNil) {
    FindRange(env, ctx, c.terms[2].var, k->attr->type, pending, k);
  }
  return possible;
}

// One index probe (a descent from the root) costs about as much as reading this many
// datoms in a sequential scan (measured on the people benchmark).
constexpr uint64_t kProbeCost = 32;
// One step of a skip-scan (a forward seek, mostly within a leaf), likewise.
constexpr uint64_t kSkipCost = 2;

// Whether a skip-scan by entity serves the pattern: ?e bound, a constant attribute
// and no value range. It walks the attribute's AEVT range (a constant value is
// checked per datom) whatever index a plain scan would use.
bool SkipScannable(const Known& k, const std::vector<int>& bound_slots) {
  return !k.e && k.a && !k.lo && !bound_slots.empty() && bound_slots[0] == 0;
}

Status ExecDbPattern(Env& env, Ctx& ctx, const Clause& c, const Db& db,
                     const std::vector<const Clause*>& pending) {
  Known k;
  DL_ASSIGN_OR_RETURN(bool possible, PrepareKnown(env, ctx, c, db, pending, &k));
  Rel out;
  out.cols = c.vars;
  PatternScan ps{&db, &c, std::vector<int>(c.terms.size(), -1)};
  for (size_t i = 0; i < c.terms.size(); ++i)
    if (c.terms[i].is_var()) ps.slot_col[i] = out.Col(c.terms[i].var);
  if (!possible) {
    env.Note([&] { return c.text + ": a constant names nothing → 0 rows"; });
    ctx.empty = true;
    return Status::Ok();
  }
  // Which variable slots are already bound?
  std::vector<int> bound_slots;
  std::vector<VarId> bound_vars;
  for (size_t i = 0; i < c.terms.size(); ++i) {
    if (c.terms[i].is_var() && ctx.Bound(c.terms[i].var)) {
      bound_slots.push_back(static_cast<int>(i));
      if (std::find(bound_vars.begin(), bound_vars.end(), c.terms[i].var) == bound_vars.end())
        bound_vars.push_back(c.terms[i].var);
    }
  }
  uint64_t scan_est = EstimateScan(ps, k);
  if (!bound_vars.empty()) {
    DL_ASSIGN_OR_RETURN(int ri, Merge(env, ctx, bound_vars));
    Rel keys = Project(ctx.rels[ri], bound_vars, true);
    // [?e :attr ...] with ?e bound: a skip-scan of the attribute's AEVT range visits
    // only the bound entities, when that reads fewer datoms than the whole range.
    if (SkipScannable(k, bound_slots) && keys.rows * kSkipCost < scan_est) {
      std::vector<EntityId> es;
      es.reserve(keys.rows);
      int col = keys.Col(c.terms[0].var);
      for (size_t r = 0; r < keys.rows; ++r) {
        DL_ASSIGN_OR_RETURN(std::optional<EntityId> e, EntityOf(db, keys.Row(r)[col]));  // as probes do
        if (e) es.push_back(*e);
      }
      std::sort(es.begin(), es.end());
      es.erase(std::unique(es.begin(), es.end()), es.end());
      DL_RETURN_IF_ERROR(ps.Scan(k, &out, env.max_rows(), &es));
      env.Note([&] { return c.text + ": skip-scan of " + std::to_string(es.size()) + " entities (scan est. " +
               std::to_string(scan_est) + ") → " + std::to_string(out.rows) + " rows"; });
      return JoinInto(env, ctx, std::move(out));
    }
    // Probe per distinct key when that reads fewer datoms than one scan.
    if (keys.rows * kProbeCost < scan_est) {
      std::vector<int> key_col;
      for (int s : bound_slots) key_col.push_back(keys.Col(c.terms[s].var));
      for (size_t r = 0; r < keys.rows; ++r) {
        Known kk = k;
        bool ok = true;
        for (size_t j = 0; j < bound_slots.size() && ok; ++j) {
          DL_ASSIGN_OR_RETURN(ok, SetKnown(db, bound_slots[j], keys.Row(r)[key_col[j]], &kk));
        }
        if (ok) DL_RETURN_IF_ERROR(ps.Scan(kk, &out, env.max_rows()));
      }
      env.Note([&] { return c.text + ": probe " + std::to_string(keys.rows) + " keys of " +
               [&] {
                 std::string s;
                 for (VarId v : bound_vars) s += (s.empty() ? "" : " ") + env.Name(v);
                 return s;
               }() +
               " (scan est. " + std::to_string(scan_est) + ") → " + std::to_string(out.rows) +
               " rows"; });
      return JoinInto(env, ctx, std::move(out));
    }
  }
  DL_RETURN_IF_ERROR(ps.Scan(k, &out, env.max_rows()));
  env.Note([&] { return c.text + ": scan" + (k.lo ? " (range)" : "") + " est. " + std::to_string(scan_est) +
           " → " + std::to_string(out.rows) + " rows"; });
  return JoinInto(env, ctx, std::move(out));
}

Status ExecPattern(Env& env, Ctx& ctx, const Clause& c,
                   const std::vector<const Clause*>& pending) {
  DL_ASSIGN_OR_RETURN(const Source* src, env.Src(c.source, c.pos));
  if (src->is_db) return ExecDbPattern(env, ctx, c, src->db, pending);
  Rel out = MatchTerms(c.terms, c.vars, [&](auto&& f) {
    for (const Value& t : src->tuples) {
      if (t.type() == ValueType::kTuple) f(t.tuple().data(), t.tuple().size());
      else f(&t, 1);
    }
  });
  env.Note([&] { return c.text + ": scan of " + env.Resolve(c.source) + " (" + std::to_string(src->tuples.size()) +
           " tuples) → " + std::to_string(out.rows) + " rows"; });
  return JoinInto(env, ctx, std::move(out));
}

// ---------------------------------------------------------------------------------
// Functions and predicates.

// Every variable of a binding form, in order.
void BindingVars(const Binding& b, std::vector<VarId>* out) {
  if (b.kind == Binding::Kind::kVar) {
    out->push_back(b.var);
  }
  for (const Binding& item : b.items) BindingVars(item, out);
}

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

// ---------------------------------------------------------------------------------
// not, or, rules.

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

// Runs `body` in a fresh context seeded with `seed` and returns its rows over `vars`.
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

Status ExecRule(Env& env, Ctx& ctx, const Clause& c);

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

// ---------------------------------------------------------------------------------
// Planning: which clause runs next.

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
    auto src = env.sources->find(env.Resolve(c.source));
    if (src == env.sources->end()) return 0;  // fails fast with a clear error
    if (!src->second.is_db) return static_cast<double>(src->second.tuples.size());
    const Db& db = src->second.db;
    Known k;
    auto possible = PrepareKnown(env, ctx, c, db, pending, &k);
    if (!possible.ok() || !*possible) return 0;
    PatternScan ps{&db, &c, {}};
    double scan = static_cast<double>(EstimateScan(ps, k));
    if (bound.empty()) return scan;
    // Probing: about one datom per key when the attribute is known, more otherwise.
    double per_key = k.a ? 1.0 : 10.0;
    // A constant value keeps the share of the attribute's datoms that hold it (known
    // when the value's AVET count is: then `scan` counts those datoms only).
    if (k.a && k.v && !k.e) {
      auto all = db.Count(IndexType::kAevt, {Value::Ref(*k.a)});
      if (all.ok() && *all > 0 && scan < static_cast<double>(*all)) per_key *= scan / static_cast<double>(*all);
    }
    return std::min(scan, bound_rows * per_key);
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

// ---------------------------------------------------------------------------------
// Inputs.

// One way the :in bindings can be satisfied: its sources, and relations of inputs.
struct World {
  Sources sources;
  std::vector<Rel> rels;
  std::map<VarId, edn::Node> pull_patterns;  // (pull ?e ?pattern) inputs, kept as EDN
};

// Converts input data to a Value (collections become tuples).
Result<Value> DataValue(const edn::Node& n) {
  if (n.kind == edn::Kind::kList || n.kind == edn::Kind::kSet) {
    std::vector<Value> items;
    for (const edn::Node& item : n.items) {
      DL_ASSIGN_OR_RETURN(Value v, DataValue(item));
      items.push_back(std::move(v));
    }
    return Value::Tuple(std::move(items));
  }
  if (n.kind == edn::Kind::kVector) {
    std::vector<Value> items;
    for (const edn::Node& item : n.items) {
      DL_ASSIGN_OR_RETURN(Value v, DataValue(item));
      items.push_back(std::move(v));
    }
    return Value::Tuple(std::move(items));
  }
  return edn::ToValue(n);
}

// A row of a binding: values of its variables and databases of its sources.
struct BoundRow {
  std::vector<Value> values;
  std::vector<const QueryInput*> dbs;
};

Status BindInput(const Binding& b, const QueryInput& in, const edn::Node* node,
                 std::vector<BoundRow>* rows, const std::string& where) {
  // `node` walks inside kData inputs; `in` is the enclosing input.
  auto items = [&](std::vector<std::pair<const QueryInput*, const edn::Node*>>* out) -> bool {
    if (node) {
      if (!(node->kind == edn::Kind::kVector || node->kind == edn::Kind::kList ||
            node->kind == edn::Kind::kSet)) {
        return false;
      }
      for (const edn::Node& n : node->items) out->push_back({&in, &n});
      return true;
    }
    if (in.kind != QueryInput::Kind::kList) return false;
    for (const QueryInput& i : in.items) {
      out->push_back({&i, i.kind == QueryInput::Kind::kData ? &i.data : nullptr});
    }
    return true;
  };
  switch (b.kind) {
    case Binding::Kind::kBlank: rows->push_back({}); return Status::Ok();
    case Binding::Kind::kVar: {
      if (!node) return ErrAt(b.pos, where + ": a database cannot bind to a variable (use $name)");
      DL_ASSIGN_OR_RETURN(Value v, DataValue(*node));
      rows->push_back({{std::move(v)}, {}});
      return Status::Ok();
    }
    case Binding::Kind::kSource:
      // Inside EDN data there is no input of its own to bind (only the enclosing one):
      // a source in a tuple or collection binding must be given as an input of its own.
      if (node && in.kind == QueryInput::Kind::kData && node != &in.data) {
        return ErrAt(b.pos, where + ": " + b.source + " is bound to EDN data inside another " +
                                "value; pass databases or collections as inputs of their own");
      }
      rows->push_back({{}, {&in}});
      return Status::Ok();
    case Binding::Kind::kRules: return ErrAt(b.pos, "% must be a top-level :in binding");
    case Binding::Kind::kTuple: {
      std::vector<std::pair<const QueryInput*, const edn::Node*>> elems;
      if (!items(&elems) || elems.size() < b.items.size()) {
        return ErrAt(b.pos, where + ": expected a tuple of " + std::to_string(b.items.size()));
      }
      std::vector<BoundRow> acc{{}};
      for (size_t i = 0; i < b.items.size(); ++i) {
        std::vector<BoundRow> part, next;
        DL_RETURN_IF_ERROR(BindInput(b.items[i], *elems[i].first, elems[i].second, &part, where));
        for (const BoundRow& a : acc)
          for (const BoundRow& p : part) {
            BoundRow r = a;
            r.values.insert(r.values.end(), p.values.begin(), p.values.end());
            r.dbs.insert(r.dbs.end(), p.dbs.begin(), p.dbs.end());
            next.push_back(std::move(r));
          }
        acc = std::move(next);
      }
      rows->insert(rows->end(), acc.begin(), acc.end());
      return Status::Ok();
    }
    case Binding::Kind::kCollection: {
      std::vector<std::pair<const QueryInput*, const edn::Node*>> elems;
      if (!items(&elems)) return ErrAt(b.pos, where + ": expected a collection");
      for (const auto& [i, n] : elems) DL_RETURN_IF_ERROR(BindInput(b.items[0], *i, n, rows, where));
      return Status::Ok();
    }
  }
  return Status::Ok();
}

void BindingSources(const Binding& b, std::vector<std::string>* out) {
  if (b.kind == Binding::Kind::kSource) out->push_back(b.source);
  for (const Binding& item : b.items) BindingSources(item, out);
}

Result<Source> MakeSource(const QueryInput& in, const std::string& name) {
  Source s;
  if (in.kind == QueryInput::Kind::kDatabase) {
    if (!in.db.valid()) return Status::Invalid("source " + name + " is not an open database");
    s.is_db = true;
    s.db = in.db;
    return s;
  }
  if (in.kind != QueryInput::Kind::kData) {
    return Status::Invalid("source " + name + " must be a database or a collection of tuples");
  }
  DL_ASSIGN_OR_RETURN(Value v, DataValue(in.data));
  if (v.type() != ValueType::kTuple) {
    return Status::Invalid("source " + name + " must be a database or a collection of tuples, got " +
                           v.ToString());
  }
  s.tuples = v.tuple();
  return s;
}

// Binds the inputs: the worlds to run the query in, and the rules (into `q`).
Result<std::vector<World>> BindInputs(const Query& q, Query* rules_into,
                                      const std::vector<QueryInput>& inputs) {
  if (inputs.size() != q.in.size()) {
    return Status::Invalid("the query takes " + std::to_string(q.in.size()) +
                           " inputs (:in), got " + std::to_string(inputs.size()));
  }
  std::vector<World> worlds(1);
  for (size_t i = 0; i < q.in.size(); ++i) {
    const Binding& b = q.in[i];
    const QueryInput& in = inputs[i];
    std::string where = "input " + std::to_string(i + 1);
    if (b.kind == Binding::Kind::kRules) {
      if (in.kind != QueryInput::Kind::kData) return Status::Invalid(where + " (%): rules must be EDN data");
      DL_RETURN_IF_ERROR(ParseRules(in.data, rules_into));
      continue;
    }
    if (b.kind == Binding::Kind::kSource) {
      DL_ASSIGN_OR_RETURN(Source s, MakeSource(in, b.source));
      for (World& w : worlds) w.sources[b.source] = s;
      continue;
    }
    bool pattern_input = false;
    for (const FindElem& f : q.find) pattern_input |= b.kind == Binding::Kind::kVar && f.pattern_var == b.var;
    if (pattern_input) {
      if (in.kind != QueryInput::Kind::kData) return Status::Invalid(where + ": a pull pattern must be EDN data");
      for (World& w : worlds) w.pull_patterns[b.var] = in.data;
      continue;
    }
    std::vector<BoundRow> rows;
    DL_RETURN_IF_ERROR(BindInput(b, in, in.kind == QueryInput::Kind::kData ? &in.data : nullptr,
                                 &rows, where));
    std::vector<VarId> vars;
    BindingVars(b, &vars);
    std::vector<std::string> srcs;
    BindingSources(b, &srcs);
    // Group rows by their databases: each group is a world of its own.
    std::vector<std::pair<std::vector<const QueryInput*>, Rel>> groups;
    for (BoundRow& r : rows) {
      auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == r.dbs; });
      if (g == groups.end()) {
        groups.push_back({r.dbs, Rel()});
        g = groups.end() - 1;
        g->second.cols = vars;
      }
      if (vars.empty()) g->second.rows = 1;
      else g->second.Add(r.values.data());
    }
    if (groups.empty()) {  // an empty collection: no rows at all
      Rel none;
      none.cols = vars;
      groups.push_back({std::vector<const QueryInput*>(srcs.size(), nullptr), none});
    }
    // Each group's sources and rows, prepared once, then combined with every world.
    std::vector<Sources> group_sources(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      const auto& dbs = groups[g].first;
      for (size_t k = 0; k < srcs.size(); ++k) {
        if (!dbs[k]) continue;
        DL_ASSIGN_OR_RETURN(group_sources[g][srcs[k]], MakeSource(*dbs[k], srcs[k]));
      }
      Dedup(&groups[g].second);
    }
    std::vector<World> next;
    for (const World& w : worlds) {
      for (size_t g = 0; g < groups.size(); ++g) {
        World nw = w;
        for (const auto& [name, src] : group_sources[g]) nw.sources[name] = src;
        nw.rels.push_back(groups[g].second);
        next.push_back(std::move(nw));
      }
    }
    worlds = std::move(next);
  }
  return worlds;
}

// ---------------------------------------------------------------------------------
// Results.

struct Run {
  std::shared_ptr<const Query> q;
  std::vector<World> worlds;
};

// Parsed queries by text (the parse is a noticeable part of small queries).
class QueryCache {
 public:
  Result<std::shared_ptr<const Query>> Get(std::string_view text) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(std::string(text));
    if (it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
    DL_ASSIGN_OR_RETURN(edn::Node form, edn::ReadOne(text));
    DL_ASSIGN_OR_RETURN(std::shared_ptr<Query> q, ParseQuery(form));
    order_.push_front(std::string(text));
    map_[std::string(text)] = {q, order_.begin()};
    if (map_.size() > kMax) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    return std::shared_ptr<const Query>(q);
  }

 private:
  static constexpr size_t kMax = 256;
  std::mutex mu_;
  std::list<std::string> order_;
  std::unordered_map<std::string, std::pair<std::shared_ptr<const Query>, std::list<std::string>::iterator>> map_;
};

QueryCache& Cache() {
  static QueryCache* cache = new QueryCache();
  return *cache;
}

// Checks what can be checked before running: function names and arities, rule names
// and arities, aggregates. (Running alone would miss them after an empty clause.)
Status Validate(const Query& q, const std::vector<Clause>& clauses) {
  // The functions CompileFn implements itself (they read a database or bind), with
  // their argument counts (-1: any).
  static const std::map<std::string, std::pair<int, int>> kSpecial = {
      {"get-else", {4, 4}}, {"get-some", {3, -1}}, {"missing?", {3, 3}}, {"ground", {1, 1}},
      {"identity", {1, 1}}, {"tuple", {0, -1}}, {"untuple", {1, 1}}};
  for (const Clause& c : clauses) {
    if (c.kind == Clause::Kind::kPredicate || c.kind == Clause::Kind::kFunction) {
      std::pair<int, int> arity;
      if (auto sp = kSpecial.find(c.fn); sp != kSpecial.end()) {
        arity = sp->second;
      } else if (const Builtin* b = FindBuiltin(c.fn)) {
        arity = {b->min_args, b->max_args};
      } else {
        return ErrAt(c.pos, "unknown function `" + c.fn + "` in " + c.text);
      }
      int n = static_cast<int>(c.terms.size());
      if (n < arity.first || (arity.second >= 0 && n > arity.second)) {
        return ErrAt(c.pos, "wrong number of arguments to `" + c.fn + "`: " + std::to_string(n));
      }
    } else if (c.kind == Clause::Kind::kRule) {
      auto it = q.rules.find(c.fn);
      if (it == q.rules.end()) return ErrAt(c.pos, "unknown rule `" + c.fn + "` (pass rules as % in :in)");
      if (it->second[0].head.size() != c.terms.size()) {
        return ErrAt(c.pos, "rule " + c.fn + " takes " + std::to_string(it->second[0].head.size()) +
                                " arguments, got " + std::to_string(c.terms.size()));
      }
    }
    DL_RETURN_IF_ERROR(Validate(q, c.children));
  }
  return Status::Ok();
}

Status Validate(const Query& q) {
  for (const FindElem& f : q.find) {
    if (f.kind == FindElem::Kind::kAggregate && !IsAggregate(f.fn)) {
      return ErrAt(f.pos, "unknown aggregate `" + f.fn + "` in " + f.text);
    }
  }
  DL_RETURN_IF_ERROR(Validate(q, q.where));
  for (const auto& [name, defs] : q.rules)
    for (const Rule& r : defs) DL_RETURN_IF_ERROR(Validate(q, r.body));
  return Status::Ok();
}

Result<QueryTable> Execute(std::shared_ptr<const Query> parsed, const std::vector<QueryInput>& inputs,
                          const QueryOptions& options, std::vector<std::string>* explain) {
  // Rules arrive as an input: parse them into a private copy of the query.
  std::shared_ptr<const Query> q = parsed;
  std::shared_ptr<Query> with_rules;
  for (const Binding& b : parsed->in) {
    if (b.kind == Binding::Kind::kRules) {
      with_rules = std::make_shared<Query>(*parsed);
      q = with_rules;
    }
  }
  DL_ASSIGN_OR_RETURN(std::vector<World> worlds, BindInputs(*q, with_rules.get(), inputs));
  DL_RETURN_IF_ERROR(Validate(*q));
  std::set<std::string> recursive;
  for (const auto& [name, defs] : q->rules)
    if (Scc(*q, name).count(name)) recursive.insert(name);
  // Every find/with variable must be bound by :in or :where.
  std::vector<VarId> vars;
  for (const FindElem& f : q->find)
    if (std::find(vars.begin(), vars.end(), f.var) == vars.end()) vars.push_back(f.var);
  size_t nfind = vars.size();
  for (VarId v : q->with)
    if (std::find(vars.begin(), vars.end(), v) == vars.end()) vars.push_back(v);

  bool aggregate = false;
  for (const FindElem& f : q->find) aggregate = aggregate || f.kind == FindElem::Kind::kAggregate;
  // Output rows: the grouping values and, per aggregate element, its bag of values;
  // each keeps its world for pull.
  struct OutRow {
    std::vector<Value> keys;  // grouping values (non-aggregate elements)
    size_t world = 0;
    std::vector<std::vector<Value>> bags;  // per aggregate element
  };
  std::vector<OutRow> out;
  auto col_of = [&](VarId v) {
    return static_cast<size_t>(std::find(vars.begin(), vars.end(), v) - vars.begin());
  };
  // One world and no aggregate: the collected relation (distinct over the find and
  // :with variables) already is the answer, one output row per row.
  const bool direct = worlds.size() == 1 && !aggregate;
  // Rows over vars + world index.
  std::vector<std::vector<Value>> rows;
  for (size_t w = 0; w < worlds.size(); ++w) {
    Env env;
    env.q = q.get();
    env.sources = &worlds[w].sources;
    env.opts = &options;
    env.explain = explain;
    env.recursive = recursive;
    if (explain && worlds.size() > 1) explain->push_back("world " + std::to_string(w + 1) + ":");
    Ctx ctx;
    for (Rel& r : worlds[w].rels) {
      if (r.rows == 0) ctx.empty = true;
      ctx.rels.push_back(std::move(r));
    }
    DL_RETURN_IF_ERROR(RunClauses(env, ctx, Pointers(q->where), vars));
    for (size_t i = 0; i < vars.size(); ++i) {
      if (!ctx.Bound(vars[i]) && !ctx.empty) {
        const FindElem* f = nullptr;
        for (const FindElem& e : q->find)
          if (e.var == vars[i]) f = &e;
        return ErrAt(f ? f->pos : edn::Pos{}, "unbound variable " + env.Name(vars[i]) + " in " +
                                                 (i < nfind ? ":find" : ":with") +
                                                 " (bind it in :in or :where)");
      }
    }
    DL_ASSIGN_OR_RETURN(Rel r, Collect(env, ctx, vars));
    if (direct) {
      std::vector<size_t> cols;
      for (const FindElem& f : q->find) cols.push_back(col_of(f.var));
      out.resize(r.rows);
      for (size_t i = 0; i < r.rows; ++i) {
        out[i].keys.reserve(cols.size());
        for (size_t c : cols) out[i].keys.push_back(r.Row(i)[c]);
      }
      continue;
    }
    for (size_t i = 0; i < r.rows; ++i) {
      std::vector<Value> row(r.Row(i), r.Row(i) + r.width());
      row.push_back(Value::Long(static_cast<int64_t>(w)));
      rows.push_back(std::move(row));
    }
  }
  // :with without aggregates gives a bag: one row per distinct find+with tuple.
  const bool bag = !aggregate && !q->with.empty();
  if (!direct) {
    std::unordered_map<size_t, std::vector<size_t>> index;
    bool has_pull = false;
    for (const FindElem& f : q->find) has_pull = has_pull || f.kind == FindElem::Kind::kPull;
    for (const auto& row : rows) {
      OutRow key;
      for (const FindElem& f : q->find)
        if (f.kind != FindElem::Kind::kAggregate) key.keys.push_back(row[col_of(f.var)]);
      key.world = static_cast<size_t>(row.back().long_value());
      size_t h = 0;
      for (const Value& v : key.keys) h = h * 31 + v.Hash();
      if (has_pull) h = h * 31 + key.world;
      OutRow* target = nullptr;
      if (!bag) {
        for (size_t i : index[h]) {
          if (out[i].keys == key.keys && (!has_pull || out[i].world == key.world)) target = &out[i];
        }
      }
      if (!target) {
        index[h].push_back(out.size());
        out.push_back(std::move(key));
        target = &out.back();
      }
      if (aggregate) {
        size_t a = 0;
        target->bags.resize(q->find.size());
        for (const FindElem& f : q->find) {
          if (f.kind == FindElem::Kind::kAggregate) target->bags[a].push_back(row[col_of(f.var)]);
          ++a;
        }
      }
    }
  }
  // Deterministic order when the caller pages through results.
  if (q->limit >= 0 || q->offset > 0) {
    std::sort(out.begin(), out.end(), [](const OutRow& a, const OutRow& b) {
      return std::lexicographical_compare(a.keys.begin(), a.keys.end(), b.keys.begin(), b.keys.end());
    });
    size_t from = std::min(out.size(), static_cast<size_t>(q->offset));
    size_t to = q->limit >= 0 ? std::min(out.size(), from + static_cast<size_t>(q->limit)) : out.size();
    out = std::vector<OutRow>(std::make_move_iterator(out.begin() + from),
                              std::make_move_iterator(out.begin() + to));
  }
  // Pull elements: one PullMany per element and world, so each pattern compiles once.
  std::map<size_t, std::vector<edn::Node>> pulled;  // find index → a node per row
  for (size_t i = 0, key = 0; i < q->find.size(); ++i) {
    const FindElem& f = q->find[i];
    if (f.kind == FindElem::Kind::kAggregate) continue;
    size_t k = key++;
    if (f.kind != FindElem::Kind::kPull) continue;
    std::vector<edn::Node>& cells = pulled[i];
    cells.resize(out.size());
    for (size_t w = 0; w < worlds.size(); ++w) {
      std::vector<Value> entities;
      std::vector<size_t> rows_at;
      for (size_t r = 0; r < out.size(); ++r) {
        if (out[r].world != w) continue;
        entities.push_back(out[r].keys[k]);
        rows_at.push_back(r);
      }
      if (entities.empty()) continue;
      auto s = worlds[w].sources.find(f.source);
      if (s == worlds[w].sources.end() || !s->second.is_db) {
        return ErrAt(f.pos, "pull: source " + f.source + " is not a database passed to the query");
      }
      const edn::Node* pattern = &f.pattern;
      if (f.pattern_var >= 0) {
        auto p = worlds[w].pull_patterns.find(f.pattern_var);
        if (p == worlds[w].pull_patterns.end()) {
          return ErrAt(f.pos, "pull pattern " + q->var_names[f.pattern_var] + " is not an :in input");
        }
        pattern = &p->second;
      }
      auto nodes = PullMany(s->second.db, *pattern, entities);
      if (!nodes.ok()) return nodes.status().WithContext(At(f.pos) + ": " + f.text);
      for (size_t j = 0; j < rows_at.size(); ++j) cells[rows_at[j]] = std::move((*nodes)[j]);
    }
  }
  static_assert(static_cast<int>(QueryTable::Shape::kScalar) == static_cast<int>(Query::Shape::kScalar) &&
                static_cast<int>(QueryTable::Keys::kSyms) == static_cast<int>(Query::Keys::kSyms));
  QueryTable table;
  table.shape = static_cast<QueryTable::Shape>(q->shape);
  table.as_vector = q->keys != Query::Keys::kNone || bag;
  table.keys = static_cast<QueryTable::Keys>(q->keys);
  table.key_names = q->key_names;
  table.width = q->find.size();
  for (const FindElem& f : q->find) {
    bool node = f.kind == FindElem::Kind::kAggregate || f.kind == FindElem::Kind::kPull;
    table.node_slot.push_back(node ? static_cast<int>(table.node_width++) : -1);
  }
  table.values.reserve(out.size() * table.width);
  table.nodes.reserve(out.size() * table.node_width);
  for (size_t row = 0; row < out.size(); ++row) {
    OutRow& r = out[row];
    size_t k = 0;
    for (size_t i = 0; i < q->find.size(); ++i) {
      const FindElem& f = q->find[i];
      if (f.kind == FindElem::Kind::kAggregate) {
        auto agg = RunAggregate(f.fn, f.params, std::move(r.bags[i]));
        if (!agg.ok()) return ErrAt(f.pos, f.text + ": " + agg.status().message());
        table.values.emplace_back();
        table.nodes.push_back(std::move(*agg));
        continue;
      }
      Value& v = r.keys[k++];
      if (f.kind == FindElem::Kind::kPull) {
        table.values.emplace_back();
        table.nodes.push_back(std::move(pulled[i][row]));
      } else {
        table.values.push_back(std::move(v));
      }
    }
  }
  return table;
}

}  // namespace
}  // namespace query

edn::Node ToEdn(QueryTable t) {
  using edn::Kind;
  using edn::Node;
  const size_t rows = t.rows();
  auto cell = [&](size_t row, size_t c) {
    return t.is_node(c) ? std::move(t.node(row, c)) : edn::FromValue(t.value(row, c));
  };
  auto row_node = [&](size_t row) {
    std::vector<Node> cells;
    cells.reserve(t.keys == QueryTable::Keys::kNone ? t.width : 2 * t.width);
    for (size_t c = 0; c < t.width; ++c) {
      if (t.keys != QueryTable::Keys::kNone) {
        const std::string& name = t.key_names[c];
        cells.push_back(t.keys == QueryTable::Keys::kKeys   ? Node::Keyword(name)
                        : t.keys == QueryTable::Keys::kStrs ? Node::String(name)
                                                            : Node::Symbol(name));
      }
      cells.push_back(cell(row, c));
    }
    return Node::Coll(t.keys == QueryTable::Keys::kNone ? Kind::kVector : Kind::kMap, std::move(cells));
  };
  switch (t.shape) {
    case QueryTable::Shape::kRelation: {
      std::vector<Node> items;
      items.reserve(rows);
      for (size_t r = 0; r < rows; ++r) items.push_back(row_node(r));
      return Node::Coll(t.as_vector ? Kind::kVector : Kind::kSet, std::move(items));
    }
    case QueryTable::Shape::kCollection: {
      std::vector<Node> items;
      items.reserve(rows);
      for (size_t r = 0; r < rows; ++r) items.push_back(cell(r, 0));
      return Node::Coll(Kind::kVector, std::move(items));
    }
    case QueryTable::Shape::kTuple:
      return rows == 0 ? Node::Nil() : row_node(0);
    case QueryTable::Shape::kScalar:
      return rows == 0 ? Node::Nil() : cell(0, 0);
  }
  return Node::Nil();
}

Result<QueryTable> QTable(std::string_view text, const std::vector<QueryInput>& inputs,
                          const QueryOptions& options) {
  DL_ASSIGN_OR_RETURN(auto q, query::Cache().Get(text));
  return query::Execute(q, inputs, options, nullptr);
}

Result<edn::Node> Q(std::string_view text, const std::vector<QueryInput>& inputs,
                    const QueryOptions& options) {
  DL_ASSIGN_OR_RETURN(QueryTable t, QTable(text, inputs, options));
  return ToEdn(std::move(t));
}

Result<edn::Node> Q(const edn::Node& form, const std::vector<QueryInput>& inputs,
                    const QueryOptions& options) {
  DL_ASSIGN_OR_RETURN(auto q, query::ParseQuery(form));
  DL_ASSIGN_OR_RETURN(QueryTable t, query::Execute(q, inputs, options, nullptr));
  return ToEdn(std::move(t));
}

Result<std::string> Explain(std::string_view text, const std::vector<QueryInput>& inputs,
                            const QueryOptions& options) {
  DL_ASSIGN_OR_RETURN(auto q, query::Cache().Get(text));
  std::vector<std::string> lines;
  DL_ASSIGN_OR_RETURN(QueryTable table, query::Execute(q, inputs, options, &lines));
  edn::Node result = ToEdn(std::move(table));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += lines[i] + "\n";
  size_t n = result.IsColl() ? result.items.size() : (result.is(edn::Kind::kNil) ? 0 : 1);
  out += "result: " + std::to_string(n) + (n == 1 ? " row\n" : " rows\n");
  return out;
}

}  // namespace datalith
