// Data patterns: matching [e a v tx added] against a database (index choice, probes,
// skip-scans, AVET ranges from pending comparisons) or against a collection source.
#include <algorithm>
#include <cmath>

#include "query/exec.h"

namespace datalith::query::internal {

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

namespace {

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
      if (k.v && !SameQueryValue(d.v, *k.v)) return true;
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
      if (slot_col.size() > 2 && slot_col[2] >= 0) put(2, QueryValue(d.v));
      if (slot_col.size() > 3) put(3, Value::Long(static_cast<int64_t>(d.tx)));
      if (slot_col.size() > 4) put(4, Value::Boolean(d.added));
      if (ok) out->AddMoved(row.data());
      return true;
    };
    size_t next = 0;  // skip-scan: the first wanted entity not passed yet
    // A cardinality-one attribute in the current view has one datom per entity: once it
    // is consumed, the scan seeks the next wanted entity instead of reading the datom after.
    const bool one_per_entity = skip_to && k.attr && !k.attr->many && !db->as_of() && !db->since() &&
                                !db->is_history();
    auto skip = [&](EntityId e) -> Status {
      Status moved = it.SkipToIds(*k.a, e);
      if (moved.code() == Code::kMissingNode) return AskAhead(moved, comps.at(0), *skip_to, next);
      return moved;
    };
    while (it.Valid()) {
      const Datom& d = it.datom();
      if (skip_to) {
        while (next < skip_to->size() && (*skip_to)[next] < d.e) ++next;
        if (next == skip_to->size()) break;
        if ((*skip_to)[next] != d.e) {
          DL_RETURN_IF_ERROR(skip((*skip_to)[next]));
          continue;
        }
      }
      EntityId e = d.e;
      if (!consume(d)) break;
      if (max_rows && out->rows > max_rows) return TooLarge(max_rows);
      if (one_per_entity) {
        while (next < skip_to->size() && (*skip_to)[next] <= e) ++next;
        if (next == skip_to->size()) break;
        DL_RETURN_IF_ERROR(skip((*skip_to)[next]));
        continue;
      }
      it.Next();
    }
    if (skip_to && it.status().code() == Code::kMissingNode) return AskAhead(it.status(), comps.at(0), *skip_to, next);
    return it.status();
  }

  // A skip-scan stopped at a node not loaded yet (lazy loading): the entities after it
  // are looked up too, each from the root, only so that every node the scan will need
  // at this depth is asked for in the same round trip. Returns `missing`.
  Status AskAhead(const Status& missing, const Value& attr, const std::vector<EntityId>& es, size_t from) const {
    for (size_t i = from; i < es.size(); ++i) {
      auto probe = db->DatomsIter(IndexType::kAevt, {attr, Value::Ref(es[i])});
      (void)probe;  // found or missing, it is only asked for
    }
    return missing;
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

// For explain: why a pattern can match nothing. An attribute the schema lacks is
// usually a typo, so it is a warning.
std::string NothingNamed(const Db& db, const Clause& c, const std::string& source) {
  const auto& t = c.terms;
  if (t.size() > 1 && t[1].is_const() && t[1].value.type() == ValueType::kKeyword &&
      !db.schema().AttrByIdent(t[1].value.str()) && !db.schema().Entid(t[1].value.str())) {
    return "warning: " + t[1].value.ToString() + " is not an attribute of " + source;
  }
  return "a constant names nothing";
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

// A variable bound before this pattern may hold, in an entity position (e, tx, or the
// value of a ref attribute), an ident or a lookup ref rather than an id (a query input:
// `:in $ ?e` given [:person/email "a@b"]). Such values are replaced by the id they name
// in `db`, so the pattern's probes and joins compare ids; rows naming nothing drop out
// (the pattern could not match them).
Status ResolveEntityVars(const Db& db, const Clause& c, const Known& k, Ctx* ctx) {
  for (size_t slot = 0; slot < c.terms.size() && slot < 4; ++slot) {
    const Term& t = c.terms[slot];
    if (slot == 1 || !t.is_var() || (slot == 2 && !(k.attr && k.attr->is_ref()))) continue;
    int ri = ctx->RelOf(t.var);
    if (ri < 0) continue;
    Rel& rel = ctx->rels[ri];
    int col = rel.Col(t.var);
    bool all_ids = true;
    for (size_t r = 0; r < rel.rows && all_ids; ++r) all_ids = rel.Row(r)[col].type() == ValueType::kLong;
    if (all_ids) continue;
    Rel out;
    out.cols = rel.cols;
    for (size_t r = 0; r < rel.rows; ++r) {
      DL_ASSIGN_OR_RETURN(std::optional<EntityId> e, EntityOf(db, rel.Row(r)[col]));
      if (!e) continue;
      out.Add(rel.Row(r));
      out.data[(out.rows - 1) * out.width() + col] = Value::Long(static_cast<int64_t>(*e));
    }
    Dedup(&out);
    if (out.rows == 0) ctx->empty = true;
    rel = std::move(out);
  }
  return Status::Ok();
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
    env.Note([&] { return c.text + ": " + NothingNamed(db, c, env.Resolve(c.source)) + " → 0 rows"; });
    ctx.empty = true;
    return Status::Ok();
  }
  DL_RETURN_IF_ERROR(ResolveEntityVars(db, c, k, &ctx));
  if (ctx.empty) {
    env.Note([&] { return c.text + ": the bound entities name nothing in " + env.Resolve(c.source) + " → 0 rows"; });
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
      // A probe that lacks a node (lazy loading) does not stop the others: each records
      // what it lacks, so one round trip to storage loads the next level for every key
      // (a probe step costs the trees' depth in round trips, not keys × depth).
      Status missing;
      for (size_t r = 0; r < keys.rows; ++r) {
        Known kk = k;
        bool ok = true;
        for (size_t j = 0; j < bound_slots.size() && ok; ++j) {
          Result<bool> set = SetKnown(db, bound_slots[j], keys.Row(r)[key_col[j]], &kk);
          if (!set.ok() && set.status().code() == Code::kMissingNode) {
            if (missing.ok()) missing = set.status();
            ok = false;
            break;
          }
          DL_ASSIGN_OR_RETURN(ok, std::move(set));
        }
        if (!ok) continue;
        Status scanned = ps.Scan(kk, &out, env.max_rows());
        if (scanned.code() == Code::kMissingNode) {
          if (missing.ok()) missing = scanned;
          continue;
        }
        DL_RETURN_IF_ERROR(scanned);
      }
      DL_RETURN_IF_ERROR(missing);
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

}  // namespace

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

double EstimatePattern(Env& env, const Ctx& ctx, const Clause& c,
                       const std::vector<const Clause*>& pending, bool any_bound,
                       double bound_rows) {
  auto src = env.sources->find(env.Resolve(c.source));
  if (src == env.sources->end()) return 0;  // fails fast with a clear error
  if (!src->second.is_db) return static_cast<double>(src->second.tuples.size());
  const Db& db = src->second.db;
  Known k;
  auto possible = PrepareKnown(env, ctx, c, db, pending, &k);
  if (!possible.ok() || !*possible) return 0;
  PatternScan ps{&db, &c, {}};
  double scan = static_cast<double>(EstimateScan(ps, k));
  if (!any_bound) return scan;
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

}  // namespace datalith::query::internal
