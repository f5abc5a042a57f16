#include "tx/transactor.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "util/varint.h"

namespace datalith::internal {
namespace {

using edn::Kind;
using edn::Node;

constexpr const char* kTxTempid = "datomic.tx";

// An entity reference as written in tx data.
struct ERef {
  enum class Kind { kId, kTemp, kLookup, kIdent, kTx } kind = Kind::kId;
  EntityId id = 0;
  std::string name;  // tempid or ident
  const Node* node = nullptr;  // where it was written (a lookup ref: its [attr value])
};

// A value position: either an EDN form (converted once the attribute is known) or an
// entity reference made by the parser (nested maps, reverse attributes).
struct VRef {
  const Node* node = nullptr;
  const ERef* eref = nullptr;  // owned by the transactor
};

enum class OpKind { kAdd, kRetract, kRetractAttr, kRetractEntity, kCas };

// Ops point into the tx data (which outlives the transactor) and into the
// transactor's own stable storage, so building one copies no strings.
struct Op {
  OpKind kind;
  const ERef* e;
  const std::string* attr;  // keyword text
  VRef v;
  const Node* old;   // :db/cas expected value (may be nil)
  const Node* form;  // for messages
  bool schema = false;
};

bool IsSchemaAttr(const std::string& a) {
  if (a.size() < 4 || a[0] != 'd' || a[1] != 'b' || a[2] != '/') return false;
  static const std::set<std::string> kNames = {
      "db/ident",     "db/valueType", "db/cardinality", "db/unique",     "db/isComponent",
      "db/index",     "db/noHistory", "db/doc",         "db/tupleAttrs", "db/tupleType",
      "db/tupleTypes"};
  return kNames.count(a) > 0;
}

uint64_t Mix64(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// The datoms a transaction asserts (or retracts): kept in insertion order, found by
// (e, a, v) and by (e, a) through two open-addressing tables of indices into the
// datom vector. Erased datoms stay in the vector, marked dead. Not copyable.
class DatomSet {
 public:
  DatomSet() = default;
  DatomSet(const DatomSet&) = delete;
  DatomSet& operator=(const DatomSet&) = delete;

  bool empty() const { return live_ == 0; }
  size_t size() const { return live_; }
  void Reserve(size_t n) {
    items_.reserve(n);
    hashes_.reserve(n);
    next_.reserve(n);
    dead_.reserve(n);
    if (n * 2 > exact_.size()) Rehash(n * 2);
    size_t ea = 16;
    while (ea < n * 2) ea *= 2;
    if (ea > ea_.size()) RehashEa(ea);
  }
  const Datom* Find(EntityId e, EntityId a, const Value& v) const {
    if (live_ == 0) return nullptr;
    uint64_t h = HashOf(e, a, v);
    for (size_t s = h & (exact_.size() - 1);; s = (s + 1) & (exact_.size() - 1)) {
      uint32_t i = exact_[s];
      if (i == kEmpty) return nullptr;
      if (i != kTomb && hashes_[i] == h && items_[i].e == e && items_[i].a == a && items_[i].v == v)
        return &items_[i];
    }
  }
  bool Contains(EntityId e, EntityId a, const Value& v) const { return Find(e, a, v) != nullptr; }
  // Adds `d`, which must not be present.
  void Insert(Datom d) {
    if ((used_ + 1) * 2 > exact_.size()) Rehash(std::max<size_t>(16, live_ * 4));
    if ((ea_used_ + 1) * 2 > ea_.size()) RehashEa(std::max<size_t>(16, ea_.size() * 2));
    uint32_t i = static_cast<uint32_t>(items_.size());
    uint64_t h = HashOf(d.e, d.a, d.v);
    items_.push_back(std::move(d));
    hashes_.push_back(h);
    dead_.push_back(0);
    next_.push_back(kEmpty);
    PlaceExact(i);
    ++used_;
    ++live_;
    // Chain it in front of the other datoms with its (e, a).
    const Datom& x = items_[i];
    for (size_t s = EaHash(x.e, x.a) & (ea_.size() - 1);; s = (s + 1) & (ea_.size() - 1)) {
      uint32_t head = ea_[s];
      if (head == kEmpty) {
        ea_[s] = i;
        ++ea_used_;
        break;
      }
      if (items_[head].e == x.e && items_[head].a == x.a) {
        next_[i] = head;
        ea_[s] = i;
        break;
      }
    }
  }
  bool Erase(EntityId e, EntityId a, const Value& v) {
    if (live_ == 0) return false;
    uint64_t h = HashOf(e, a, v);
    for (size_t s = h & (exact_.size() - 1);; s = (s + 1) & (exact_.size() - 1)) {
      uint32_t i = exact_[s];
      if (i == kEmpty) return false;
      if (i != kTomb && hashes_[i] == h && items_[i].e == e && items_[i].a == a && items_[i].v == v) {
        exact_[s] = kTomb;
        dead_[i] = 1;
        --live_;
        return true;
      }
    }
  }
  // Calls fn(datom) for the live datoms with (e, a).
  template <class F>
  void ForEa(EntityId e, EntityId a, F&& fn) const {
    if (live_ == 0) return;
    for (size_t s = EaHash(e, a) & (ea_.size() - 1);; s = (s + 1) & (ea_.size() - 1)) {
      uint32_t head = ea_[s];
      if (head == kEmpty) return;
      if (items_[head].e == e && items_[head].a == a) {
        for (uint32_t i = head; i != kEmpty; i = next_[i]) {
          if (!dead_[i]) fn(items_[i]);
        }
        return;
      }
    }
  }
  // Live datoms with (e, a), in value order.
  std::vector<const Datom*> WithEa(EntityId e, EntityId a) const {
    std::vector<const Datom*> out;
    ForEa(e, a, [&](const Datom& d) { out.push_back(&d); });
    std::sort(out.begin(), out.end(), [](const Datom* x, const Datom* y) { return x->v < y->v; });
    return out;
  }
  // Calls fn(datom) for every live datom, in insertion order.
  template <class F>
  void ForEach(F&& fn) {
    for (size_t i = 0; i < items_.size(); ++i) {
      if (!dead_[i]) fn(items_[i]);
    }
  }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  static constexpr uint32_t kTomb = 0xfffffffeu;

  static uint64_t HashOf(EntityId e, EntityId a, const Value& v) {
    return Mix64(e * 0x9e3779b97f4a7c15ULL + a) ^ v.Hash();
  }
  static uint64_t EaHash(EntityId e, EntityId a) { return Mix64(e * 0x9e3779b97f4a7c15ULL ^ a); }
  void PlaceExact(uint32_t i) {
    for (size_t s = hashes_[i] & (exact_.size() - 1);; s = (s + 1) & (exact_.size() - 1)) {
      if (exact_[s] == kEmpty || exact_[s] == kTomb) {
        exact_[s] = i;
        return;
      }
    }
  }
  void Rehash(size_t want) {
    size_t cap = 16;
    while (cap < want) cap *= 2;
    exact_.assign(cap, kEmpty);
    used_ = 0;
    for (uint32_t i = 0; i < items_.size(); ++i) {
      if (!dead_[i]) {
        PlaceExact(i);
        ++used_;
      }
    }
  }
  void RehashEa(size_t cap) {
    std::vector<uint32_t> old;
    old.swap(ea_);
    ea_.assign(cap, kEmpty);
    for (uint32_t head : old) {
      if (head == kEmpty) continue;
      const Datom& x = items_[head];
      size_t s = EaHash(x.e, x.a) & (cap - 1);
      while (ea_[s] != kEmpty) s = (s + 1) & (cap - 1);
      ea_[s] = head;
    }
  }

  std::vector<Datom> items_;
  std::vector<uint64_t> hashes_;
  std::vector<uint32_t> next_;  // next older datom with the same (e, a)
  std::vector<uint8_t> dead_;
  std::vector<uint32_t> exact_;  // slots: index into items_, kEmpty or kTomb
  std::vector<uint32_t> ea_;     // slots: newest index with some (e, a), or kEmpty
  size_t used_ = 0;              // exact_ slots holding an index or a tombstone
  size_t ea_used_ = 0;
  size_t live_ = 0;
};

// Sorts `v` by `less`: insertion sort while the input is nearly in order (datoms
// mostly arrive in entity order, with values of one attribute shuffled), switching to
// std::sort once it has moved more than a few elements per entry.
template <class T, class Less>
void SortMostlySorted(T* v, size_t n, Less less) {
  size_t budget = 4 * n + 64;
  for (size_t i = 1; i < n; ++i) {
    if (!less(v[i], v[i - 1])) continue;
    T x = v[i];
    size_t j = i;
    while (j > 0 && less(x, v[j - 1])) {
      v[j] = v[j - 1];
      --j;
      if (--budget == 0) break;
    }
    v[j] = x;
    if (budget == 0) {
      std::sort(v, v + n, less);
      return;
    }
  }
}

// The same for items whose first field k0 (an attribute id) takes few values: a stable
// bucket pass by k0 first, then each bucket on its own.
template <class T, class Less>
void SortByAttribute(std::vector<T>* v, Less less) {
  std::vector<uint64_t> ids;
  for (const T& x : *v) {
    if (ids.empty() || ids.back() != x.k0) {
      if (std::find(ids.begin(), ids.end(), x.k0) == ids.end()) ids.push_back(x.k0);
      if (ids.size() > 64) return SortMostlySorted(v->data(), v->size(), less);
    }
  }
  std::sort(ids.begin(), ids.end());
  std::vector<size_t> start(ids.size() + 1, 0);
  auto bucket = [&](uint64_t id) {
    return static_cast<size_t>(std::lower_bound(ids.begin(), ids.end(), id) - ids.begin());
  };
  for (const T& x : *v) ++start[bucket(x.k0) + 1];
  for (size_t b = 1; b <= ids.size(); ++b) start[b] += start[b - 1];
  if (ids.size() > 1) {
    std::vector<T> out(v->size());
    std::vector<size_t> at(start.begin(), start.end() - 1);
    for (const T& x : *v) out[at[bucket(x.k0)]++] = x;
    v->swap(out);
  }
  for (size_t b = 0; b < ids.size(); ++b)
    SortMostlySorted(v->data() + start[b], start[b + 1] - start[b], less);
}

class Transactor {
 public:
  Transactor(std::shared_ptr<const DbState> before, int64_t now)
      : before_(std::move(before)), now_(now) {
    tx_ = before_->max_tx + 1;
    next_eid_ = before_->max_eid + 1;
    schema_ = before_->schema;
  }

  Result<TxOutput> Run(const Node& tx_data);

 private:
  // ---- parsing ----
  Status Parse(const Node& tx_data);
  Status ParseEntityMap(const Node& m, ERef* self);
  Status ParseListForm(const Node& f);
  // Parses into `r` (nested maps add their ops) / into a new transactor-owned ERef.
  Status ParseERefInto(const Node& n, ERef* r);
  Result<const ERef*> ParseERef(const Node& n) {
    ERef* r = &erefs_.emplace_back();
    DL_RETURN_IF_ERROR(ParseERefInto(n, r));
    return r;
  }
  const std::string* Name(std::string s) { return &names_.emplace_back(std::move(s)); }
  // A 2-vector [attr value] is a lookup ref, unless both are keywords and the first
  // names no attribute: then it is a collection of two idents ([:color/red :color/blue]).
  bool IsLookupRef(const Node& n) const {
    return n.is(Kind::kVector) && n.items.size() == 2 && n.items[0].is(Kind::kKeyword) &&
           (!n.items[1].is(Kind::kKeyword) || schema_->AttrByIdent(n.items[0].text) != nullptr);
  }
  std::string AutoTempid() { return "\x01" + std::to_string(++auto_tempids_); }

  // ---- resolution ----
  Result<EntityId> Resolve(const ERef& r, const Node* where);
  Result<Value> ConvertValue(const Attribute& a, const VRef& v, const Node* where, bool resolve);
  Result<const Attribute*> AttrFor(const Op& op);
  Status ResolveTempids(std::vector<Op*>& ops, const std::vector<const Attribute*>& attrs);
  Status RunOps(std::vector<Op*>& ops);

  // ---- datom logic ----
  Status Add(EntityId e, const Attribute& a, Value v, const Node* where);
  Status Retract(EntityId e, const Attribute& a, const Value& v);
  Status RetractAttr(EntityId e, const Attribute& a);
  Status RetractEntity(EntityId e, std::set<EntityId>* seen);
  std::vector<Datom> Scan(IndexType index, const std::string& prefix);
  std::vector<Datom> CurrentValues(EntityId e, const Attribute& a);
  Status ApplySchema();
  Status UpdateTuples();
  Status CheckUnique();
  Result<TxOutput> Finish();

  Status Err(const Node* where, const std::string& msg) {
    return Status::Invalid((where ? where->Where() + ": " : std::string()) + msg);
  }

  std::shared_ptr<const DbState> before_;
  int64_t now_;
  EntityId tx_;
  EntityId next_eid_;
  std::shared_ptr<const Schema> schema_;
  std::vector<Op> ops_;
  std::deque<ERef> erefs_;         // entity references the ops point to
  std::deque<std::string> names_;  // attribute names made by the parser
  int auto_tempids_ = 0;
  std::unordered_map<std::string, EntityId> tempids_;
  DatomSet adds_;
  DatomSet retracts_;  // retracted datoms (with the tx that asserted them)
  // a + v → the entity this tx asserts a unique value for, and the form that did.
  struct UniqueClaim {
    EntityId e;
    const Node* where;
  };
  std::map<std::string, UniqueClaim> unique_adds_;
  std::set<EntityId> schema_entities_;
  std::set<EntityId> reindex_;  // attributes whose AVET membership this tx changed
  // Canonical tempids used as an entity (e position) and as a value (with its form):
  // a tempid used only as a value would name an entity without datoms.
  std::unordered_set<std::string> entity_tempids_;
  std::map<std::string, const Node*> value_tempids_;
  std::set<std::pair<EntityId, EntityId>> touched_;  // (e, a) for composite tuples
  Status scan_status_;  // first storage error met by Scan
};

std::string WhereOf(const Node* n) { return n ? n->Where() + ": " : std::string(); }

// ---------------------------------------------------------------- parsing

Status Transactor::ParseERefInto(const Node& n, ERef* out) {
  ERef& r = *out;
  r.node = &n;
  switch (n.kind) {
    case Kind::kLong:
      if (n.i > 0) {
        r.kind = ERef::Kind::kId;
        r.id = static_cast<EntityId>(n.i);
      } else if (n.i < 0) {
        r.kind = ERef::Kind::kTemp;
        r.name = std::to_string(n.i);
      } else {
        return Err(&n, "0 is not an entity id");
      }
      return Status::Ok();
    case Kind::kString:
      if (n.text.empty()) return Err(&n, "empty tempid");
      r.kind = n.text == kTxTempid ? ERef::Kind::kTx : ERef::Kind::kTemp;
      r.name = n.text;
      return Status::Ok();
    case Kind::kKeyword:
      if (n.text == "db/current-tx") {
        r.kind = ERef::Kind::kTx;
      } else {
        r.kind = ERef::Kind::kIdent;
        r.name = n.text;
      }
      return Status::Ok();
    case Kind::kVector: {
      if (n.items.size() != 2 || !n.items[0].is(Kind::kKeyword))
        return Err(&n, "a lookup ref is [attribute value], got " + edn::Write(n));
      auto v = edn::ToValue(n.items[1]);
      if (!v.ok()) return Err(&n.items[1], "lookup ref value: " + v.status().message());
      r.kind = ERef::Kind::kLookup;  // the value is converted again when resolved
      return Status::Ok();
    }
    case Kind::kMap:
      return ParseEntityMap(n, &r);
    default:
      return Err(&n, "expected an entity id, tempid, ident or lookup ref, got " + edn::Write(n));
  }
}

Status Transactor::ParseEntityMap(const Node& m, ERef* self) {
  const Node* id = m.GetKeyword("db/id");
  if (id) {
    DL_RETURN_IF_ERROR(ParseERefInto(*id, self));
  } else {
    self->kind = ERef::Kind::kTemp;
    self->name = AutoTempid();
  }
  for (size_t i = 0; i + 1 < m.items.size(); i += 2) {
    const Node& k = m.items[i];
    const Node& v = m.items[i + 1];
    if (!k.is(Kind::kKeyword)) return Err(&k, "entity map keys must be keywords, got " + edn::Write(k));
    if (k.text == "db/id") continue;
    size_t slash = k.text.find('/');
    size_t name_at = slash == std::string::npos ? 0 : slash + 1;
    if (name_at < k.text.size() && k.text[name_at] == '_') {
      // Reverse attribute: each value is an entity pointing at this one.
      const std::string* attr = Name(k.text.substr(0, name_at) + k.text.substr(name_at + 1));
      std::vector<const Node*> refs;
      bool coll = (v.is(Kind::kVector) && !IsLookupRef(v)) ||
                  v.is(Kind::kList) || v.is(Kind::kSet);
      if (coll) {
        for (const Node& x : v.items) refs.push_back(&x);
      } else {
        refs.push_back(&v);
      }
      for (const Node* x : refs) {
        DL_ASSIGN_OR_RETURN(const ERef* other, ParseERef(*x));
        ops_.push_back(Op{OpKind::kAdd, other, attr, VRef{nullptr, self}, nullptr, &k});
      }
      continue;
    }
    if (v.is(Kind::kNil)) return Err(&v, "nil value for :" + k.text);
    // Collections: for cardinality-many attributes, each element is a value. Which
    // attributes are many is known only after the schema pass, so record the form and
    // let RunOps split it.
    if (v.is(Kind::kMap)) {
      DL_ASSIGN_OR_RETURN(const ERef* nested, ParseERef(v));
      ops_.push_back(Op{OpKind::kAdd, self, &k.text, VRef{nullptr, nested}, nullptr, &k});
      continue;
    }
    bool has_map = false;
    if (v.is(Kind::kVector) || v.is(Kind::kList) || v.is(Kind::kSet)) {
      for (const Node& x : v.items) has_map = has_map || x.is(Kind::kMap);
    }
    if (has_map) {
      // A collection holding nested entities: one value each (a many ref attribute).
      for (const Node& x : v.items) {
        if (x.is(Kind::kMap)) {
          DL_ASSIGN_OR_RETURN(const ERef* nested, ParseERef(x));
          ops_.push_back(Op{OpKind::kAdd, self, &k.text, VRef{nullptr, nested}, nullptr, &k});
        } else {
          ops_.push_back(Op{OpKind::kAdd, self, &k.text, VRef{&x, nullptr}, nullptr, &k});
        }
      }
      continue;
    }
    ops_.push_back(Op{OpKind::kAdd, self, &k.text, VRef{&v, nullptr}, nullptr, &k});
  }
  return Status::Ok();
}

Status Transactor::ParseListForm(const Node& f) {
  if (f.items.empty() || !f.items[0].is(Kind::kKeyword))
    return Err(&f, "a list form starts with an operation keyword, got " + edn::Write(f));
  const std::string& op = f.items[0].text;
  auto arity = [&](size_t lo, size_t hi) -> Status {
    size_t n = f.items.size() - 1;
    if (n < lo || n > hi)
      return Err(&f, ":" + op + " takes " + std::to_string(lo) +
                         (hi != lo ? " to " + std::to_string(hi) : "") + " arguments, got " +
                         std::to_string(n));
    return Status::Ok();
  };
  auto attr_of = [&](const Node& n) -> Result<const std::string*> {
    if (!n.is(Kind::kKeyword)) return Err(&n, "attribute must be a keyword, got " + edn::Write(n));
    return &n.text;
  };
  if (op == "db/add" || op == "db/retract") {
    DL_RETURN_IF_ERROR(op == "db/add" ? arity(3, 3) : arity(2, 3));
    DL_ASSIGN_OR_RETURN(const ERef* e, ParseERef(f.items[1]));
    DL_ASSIGN_OR_RETURN(const std::string* a, attr_of(f.items[2]));
    if (f.items.size() == 3) {
      ops_.push_back(Op{OpKind::kRetractAttr, e, a, {}, nullptr, &f});
    } else {
      if (f.items[3].is(Kind::kNil)) return Err(&f.items[3], "nil value for :" + *a);
      ops_.push_back(Op{op == "db/add" ? OpKind::kAdd : OpKind::kRetract, e, a,
                        VRef{&f.items[3], nullptr}, nullptr, &f});
    }
  } else if (op == "db/retractEntity" || op == "db.fn/retractEntity") {
    DL_RETURN_IF_ERROR(arity(1, 1));
    DL_ASSIGN_OR_RETURN(const ERef* e, ParseERef(f.items[1]));
    ops_.push_back(Op{OpKind::kRetractEntity, e, Name(""), {}, nullptr, &f});
  } else if (op == "db.fn/retractAttribute" || op == "db/retractAttribute") {
    DL_RETURN_IF_ERROR(arity(2, 2));
    DL_ASSIGN_OR_RETURN(const ERef* e, ParseERef(f.items[1]));
    DL_ASSIGN_OR_RETURN(const std::string* a, attr_of(f.items[2]));
    ops_.push_back(Op{OpKind::kRetractAttr, e, a, {}, nullptr, &f});
  } else if (op == "db/cas" || op == "db.fn/cas") {
    DL_RETURN_IF_ERROR(arity(4, 4));
    DL_ASSIGN_OR_RETURN(const ERef* e, ParseERef(f.items[1]));
    DL_ASSIGN_OR_RETURN(const std::string* a, attr_of(f.items[2]));
    if (f.items[4].is(Kind::kNil)) return Err(&f.items[4], ":db/cas new value must not be nil");
    ops_.push_back(Op{OpKind::kCas, e, a, VRef{&f.items[4], nullptr}, &f.items[3], &f});
  } else {
    return Err(&f.items[0], "unknown operation :" + op);
  }
  return Status::Ok();
}

Status Transactor::Parse(const Node& tx_data) {
  if (!tx_data.is(Kind::kVector) && !tx_data.is(Kind::kList))
    return Err(&tx_data, "transaction data must be a vector of entity maps and list forms");
  size_t estimate = 0;
  for (const Node& f : tx_data.items) estimate += f.is(Kind::kMap) ? f.items.size() / 2 : 1;
  ops_.reserve(estimate);
  for (const Node& f : tx_data.items) {
    if (f.is(Kind::kMap)) {
      DL_RETURN_IF_ERROR(ParseEntityMap(f, &erefs_.emplace_back()));
    } else if (f.is(Kind::kVector) || f.is(Kind::kList)) {
      DL_RETURN_IF_ERROR(ParseListForm(f));
    } else {
      return Err(&f, "expected an entity map or a list form, got " + edn::Write(f));
    }
  }
  for (Op& op : ops_) op.schema = IsSchemaAttr(*op.attr);
  return Status::Ok();
}

// ---------------------------------------------------------------- resolution

Result<EntityId> Transactor::Resolve(const ERef& r, const Node* where) {
  switch (r.kind) {
    case ERef::Kind::kId:
      if (r.id >= kTx0 && r.id > tx_) return Err(where, "unknown transaction id " + std::to_string(r.id));
      if (r.id < kTx0 && r.id > std::max(before_->max_eid, next_eid_ - 1))
        return Err(where, "entity id " + std::to_string(r.id) +
                              " was never allocated (use a tempid for new entities)");
      return r.id;
    case ERef::Kind::kTx:
      return tx_;
    case ERef::Kind::kIdent: {
      auto id = schema_->Entid(r.name);
      if (!id) return Err(where, "no entity with :db/ident :" + r.name);
      return *id;
    }
    case ERef::Kind::kLookup: {
      const Node& ln = *r.node;  // [attr value], checked by the parser
      auto lv = edn::ToValue(ln.items[1]);
      if (!lv.ok()) return Err(&ln.items[1], "lookup ref value: " + lv.status().message());
      Value lookup = Value::Tuple({Value::Keyword(ln.items[0].text), *lv});
      const auto& t = lookup.tuple();
      const Attribute* a = schema_->AttrByIdent(t[0].str());
      if (!a) return Err(where, "lookup ref " + lookup.ToString() + ": unknown attribute");
      if (a->unique == Unique::kNone)
        return Err(where, "lookup ref " + lookup.ToString() + ": :" + a->ident + " is not unique");
      Value v = t[1];
      if (a->is_ref() && v.type() == ValueType::kLong) v = Value::Ref(v.long_value());
      std::string prefix;
      PutFixed64BE(&prefix, a->id);
      EncodeValue(v, &prefix);
      for (const Datom& d : Scan(IndexType::kAvet, prefix)) return d.e;
      auto it = unique_adds_.find(prefix);
      if (it != unique_adds_.end()) return it->second.e;
      return Err(where, "lookup ref " + lookup.ToString() + " names no entity");
    }
    case ERef::Kind::kTemp: {
      auto it = tempids_.find(r.name);
      if (it == tempids_.end()) return Err(where, "unresolved tempid " + r.name);
      return it->second;
    }
  }
  return Status::Internal("bad entity reference");
}

Result<const Attribute*> Transactor::AttrFor(const Op& op) {
  const Attribute* a = schema_->AttrByIdent(*op.attr);
  if (a) return a;
  if (schema_->flexibility() == SchemaFlexibility::kWrite)
    return Err(op.form, "unknown attribute :" + *op.attr + " (declare it in the schema first)");
  // Schema-on-read: install an untyped attribute on first use. An entity that already
  // carries the ident (from an earlier transaction or this one) becomes the attribute.
  std::optional<EntityId> existing = schema_->Entid(*op.attr);
  if (!existing) {
    std::string prefix;
    PutFixed64BE(&prefix, sys::kIdent);
    EncodeValue(Value::Keyword(*op.attr), &prefix);
    auto it = unique_adds_.find(prefix);
    if (it != unique_adds_.end()) existing = it->second.e;
  }
  auto next = std::make_shared<Schema>(*schema_);
  Attribute at;
  at.id = existing ? *existing : next_eid_++;
  at.ident = *op.attr;
  next->SetIdent(at.id, at.ident);
  next->PutAttr(at);
  next->Reindex();
  schema_ = next;
  if (!existing) {
    const Attribute* ident_attr = schema_->Attr(sys::kIdent);
    DL_RETURN_IF_ERROR(Add(at.id, *ident_attr, Value::Keyword(*op.attr), op.form));
  }
  return schema_->Attr(at.id);
}

Result<Value> Transactor::ConvertValue(const Attribute& a, const VRef& vr, const Node* where,
                                       bool resolve) {
  if (vr.eref) {
    if (!a.is_ref() && schema_->flexibility() == SchemaFlexibility::kWrite)
      return Err(where, "a nested or reverse entity needs :" + a.ident + " to be a ref attribute");
    if (!resolve) return Value();
    DL_ASSIGN_OR_RETURN(EntityId e, Resolve(*vr.eref, where));
    return Value::Ref(e);
  }
  const Node& n = *vr.node;
  if (a.is_ref()) {
    if (n.is(Kind::kLong) || n.is(Kind::kString) || n.is(Kind::kKeyword) || n.is(Kind::kVector)) {
      ERef r;
      DL_RETURN_IF_ERROR(ParseERefInto(n, &r));
      if (!resolve) return Value();
      DL_ASSIGN_OR_RETURN(EntityId e, Resolve(r, &n));
      return Value::Ref(e);
    }
    return Err(&n, "value of ref attribute :" + a.ident + " must be an entity reference, got " +
                       edn::Write(n));
  }
  auto v = edn::ToValue(n);
  if (!v.ok()) return Err(&n, "value of :" + a.ident + ": " + v.status().message());
  Value val = std::move(v).value();
  if (val.is_nil()) return Err(&n, "nil value for :" + a.ident);
  if (a.type == ValueType::kDouble && val.type() == ValueType::kLong)
    val = Value::Double(static_cast<double>(val.long_value()));
  if (a.type == ValueType::kNil) return val;  // untyped (schema-on-read)
  if (val.type() != a.type)
    return Err(&n, "value " + edn::Write(n) + " for :" + a.ident + " is a " +
                       ValueTypeName(val.type()) + ", expected " + ValueTypeName(a.type));
  if (a.type == ValueType::kTuple) {
    const auto& items = val.tuple();
    if (!a.tuple_attrs.empty())
      return Err(&n, ":" + a.ident + " is a composite tuple; it is maintained from its attributes");
    if (!a.tuple_types.empty()) {
      if (items.size() != a.tuple_types.size())
        return Err(&n, "tuple for :" + a.ident + " must have " +
                           std::to_string(a.tuple_types.size()) + " elements");
      for (size_t i = 0; i < items.size(); ++i) {
        if (!items[i].is_nil() && items[i].type() != a.tuple_types[i])
          return Err(&n, "tuple element " + std::to_string(i) + " for :" + a.ident + " must be a " +
                             ValueTypeName(a.tuple_types[i]));
      }
    } else if (a.tuple_type != ValueType::kNil) {
      for (const Value& x : items) {
        if (!x.is_nil() && x.type() != a.tuple_type)
          return Err(&n, "tuple elements of :" + a.ident + " must be " + ValueTypeName(a.tuple_type));
      }
    }
  }
  return val;
}

// Tempids: upsert through unique identities (existing entities, then unification of
// new ones within this transaction), then fresh ids in order of first appearance.
Status Transactor::ResolveTempids(std::vector<Op*>& ops, const std::vector<const Attribute*>& attrs) {
  std::map<std::string, EntityId> upserted;
  std::map<std::string, std::string> new_by_unique;  // a + v → tempid
  std::map<std::string, std::string> alias;          // tempid → canonical tempid
  auto canon = [&](const std::string& t) -> const std::string& {
    const std::string* p = &t;
    for (auto it = alias.find(*p); it != alias.end(); it = alias.find(*p)) p = &it->second;
    return *p;
  };
  bool any_identity = false;
  for (const Attribute* a : attrs) any_identity = any_identity || (a && a->unique == Unique::kIdentity);
  for (int round = 0; round < 4 && any_identity; ++round) {
    bool progress = false;
    for (size_t i = 0; i < ops.size(); ++i) {
      Op* op = ops[i];
      if (op->kind != OpKind::kAdd || op->e->kind != ERef::Kind::kTemp) continue;
      const Attribute* a = attrs[i];
      if (!a || a->unique != Unique::kIdentity) continue;
      std::string t = canon(op->e->name);
      // An upserted tempid is checked against its other identity values too.
      if (tempids_.count(t) && !upserted.count(t)) continue;
      // The value must be resolvable now (a ref value may wait for another tempid).
      auto v = ConvertValue(*a, op->v, op->form, false);
      if (!v.ok()) return v.status();
      Value val = *v;
      if (a->is_ref() || op->v.eref) {
        auto r = ConvertValue(*a, op->v, op->form, true);
        if (!r.ok()) continue;
        val = *r;
      }
      std::string key;
      PutFixed64BE(&key, a->id);
      EncodeValue(val, &key);
      auto found = Scan(IndexType::kAvet, key);
      if (!found.empty()) {
        EntityId e = found[0].e;
        auto prev = upserted.find(t);
        if (prev != upserted.end() && prev->second != e)
          return Err(op->form, "tempid " + op->e->name + " upserts to two entities: " +
                                   std::to_string(prev->second) + " and " + std::to_string(e));
        if (prev == upserted.end()) {
          upserted[t] = e;
          tempids_[t] = e;
          progress = true;
        }
      } else {
        auto it = new_by_unique.find(key);
        if (it == new_by_unique.end()) {
          new_by_unique[key] = t;
        } else if (std::string o = canon(it->second); o != t) {
          // Same identity value: the same entity. Keep an upserted tempid canonical.
          if (upserted.count(t) && !upserted.count(o)) alias[o] = t;
          else if (!upserted.count(t)) alias[t] = o;
          else continue;  // two upserted entities: Add reports the unique conflict
          progress = true;
        }
      }
    }
    if (!progress) break;
  }
  // Allocate the rest; aliases share their canonical tempid's id.
  const ERef* last_e = nullptr;  // the ops of one entity map share their ERef
  for (size_t i = 0; i < ops.size(); ++i) {
    Op* op = ops[i];
    auto visit = [&](const std::string& name, bool entity) {
      const std::string& t = canon(name);
      if (entity) entity_tempids_.insert(t);
      else value_tempids_.try_emplace(t, op->form);
      auto it = tempids_.find(t);
      if (it == tempids_.end()) it = tempids_.emplace(t, next_eid_++).first;
      EntityId id = it->second;
      if (&t != &name) tempids_[name] = id;
    };
    if (op->e->kind == ERef::Kind::kTemp && op->e != last_e) visit(op->e->name, true);
    last_e = op->e;
    if (op->v.eref && op->v.eref->kind == ERef::Kind::kTemp) visit(op->v.eref->name, false);
    const Attribute* a = attrs[i];
    if (op->v.node && a && a->is_ref()) {
      // Tempids in value position: a single value or the elements of a collection.
      std::vector<const Node*> vals{op->v.node};
      if ((op->v.node->is(Kind::kVector) && !IsLookupRef(*op->v.node)) || op->v.node->is(Kind::kList) ||
          op->v.node->is(Kind::kSet)) {
        vals.clear();
        for (const Node& x : op->v.node->items) vals.push_back(&x);
      }
      for (const Node* x : vals) {
        if (x->is(Kind::kString) && x->text != kTxTempid) visit(x->text, false);
        if (x->is(Kind::kLong) && x->i < 0) visit(std::to_string(x->i), false);
      }
    }
  }
  return Status::Ok();
}

Status Transactor::RunOps(std::vector<Op*>& ops) {
  // Resolve attributes first (schema-on-read may install some), then tempids.
  std::vector<EntityId> attr_ids(ops.size(), 0);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i]->kind == OpKind::kRetractEntity) continue;
    DL_ASSIGN_OR_RETURN(const Attribute* a, AttrFor(*ops[i]));
    attr_ids[i] = a->id;
  }
  // By id, from the final schema: installing an attribute replaces the schema object.
  // Nothing below changes the schema.
  std::vector<const Attribute*> attrs(ops.size(), nullptr);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (attr_ids[i]) attrs[i] = schema_->Attr(attr_ids[i]);
  }
  DL_RETURN_IF_ERROR(ResolveTempids(ops, attrs));
  adds_.Reserve(adds_.size() + ops.size() + 1);
  const ERef* last_temp = nullptr;  // tempids are final here: resolve each ERef once
  EntityId last_temp_id = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    Op& op = *ops[i];
    EntityId e;
    if (op.e == last_temp) {
      e = last_temp_id;
    } else {
      DL_ASSIGN_OR_RETURN(e, Resolve(*op.e, op.e->node ? op.e->node : op.form));
      if (op.e->kind == ERef::Kind::kTemp) {
        last_temp = op.e;
        last_temp_id = e;
      }
    }
    if (op.kind == OpKind::kRetractEntity) {
      std::set<EntityId> seen;
      DL_RETURN_IF_ERROR(RetractEntity(e, &seen));
      continue;
    }
    const Attribute* a = attrs[i];
    if (op.kind == OpKind::kRetractAttr) {
      DL_RETURN_IF_ERROR(RetractAttr(e, *a));
      continue;
    }
    // Cardinality-many: a collection value is several values (a tuple-typed attribute
    // takes vectors as values; a ref attribute takes a 2-vector lookup ref).
    const Node* n = op.v.node;
    bool lookup_like = n && a->is_ref() && IsLookupRef(*n);
    bool split = n && a->many && (n->is(Kind::kVector) || n->is(Kind::kList) || n->is(Kind::kSet)) &&
                 !lookup_like && !(a->type == ValueType::kTuple && n->is(Kind::kVector) &&
                                   (n->items.empty() || !n->items[0].IsColl()));
    if (!split && n && !a->many && (n->is(Kind::kList) || n->is(Kind::kSet)))
      return Err(n, "cardinality-one attribute :" + a->ident + " takes one value, got " + edn::Write(*n));
    size_t count = split ? n->items.size() : 1;
    for (size_t vi = 0; vi < count; ++vi) {
      VRef vr = split ? VRef{&n->items[vi], nullptr} : op.v;
      const Node* where = vr.node ? vr.node : op.form;
      if (vr.node && vr.node->is(Kind::kMap))
        return Err(vr.node, "a nested map needs a ref attribute; :" + a->ident + " is not one");
      if (op.kind == OpKind::kCas) {
        if (a->many) return Err(op.form, ":db/cas needs a cardinality-one attribute, :" + a->ident + " is many");
        std::vector<Datom> cur = CurrentValues(e, *a);
        std::optional<Value> expected;
        if (!op.old->is(Kind::kNil)) {
          DL_ASSIGN_OR_RETURN(Value ov, ConvertValue(*a, VRef{op.old, nullptr}, op.old, true));
          expected = ov;
        }
        bool match = expected ? (cur.size() == 1 && cur[0].v == *expected) : cur.empty();
        if (!match)
          return Status::Conflict(WhereOf(op.form) + ":db/cas failed on entity " + std::to_string(e) +
                                  " :" + a->ident + ": expected " +
                                  (expected ? expected->ToString() : "nil") + ", found " +
                                  (cur.empty() ? "nil" : cur[0].v.ToString()));
      }
      DL_ASSIGN_OR_RETURN(Value v, ConvertValue(*a, vr, where, true));
      if (op.kind == OpKind::kRetract) {
        DL_RETURN_IF_ERROR(Retract(e, *a, v));
      } else {
        DL_RETURN_IF_ERROR(Add(e, *a, std::move(v), where));
      }
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- datom logic

std::vector<Datom> Transactor::Scan(IndexType index, const std::string& prefix) {
  DatomCursor c(before_, index, prefix, PrefixEnd(prefix), DatomCursor::View{});
  std::vector<Datom> out;
  for (; c.Valid(); c.Next()) out.push_back(c.datom());
  scan_status_ = c.status().ok() ? scan_status_ : c.status();
  return out;
}

std::vector<Datom> Transactor::CurrentValues(EntityId e, const Attribute& a) {
  std::string prefix;
  PutFixed64BE(&prefix, e);
  PutFixed64BE(&prefix, a.id);
  std::vector<Datom> out;
  for (Datom& d : Scan(IndexType::kEavt, prefix)) {
    if (!retracts_.Contains(d.e, d.a, d.v)) out.push_back(std::move(d));
  }
  for (const Datom* d : adds_.WithEa(e, a.id)) out.push_back(*d);
  return out;
}

Status Transactor::Add(EntityId e, const Attribute& a, Value v, const Node* where) {
  if (IsTxId(e) && e != tx_ && !a.ident.empty())
    return Err(where, "cannot add datoms to past transaction " + std::to_string(e));
  bool other_add = false;  // cardinality-one: this tx already asserts another value
  if (a.many) {
    if (adds_.Contains(e, a.id, v)) return Status::Ok();
  } else {
    bool same = false;
    adds_.ForEa(e, a.id, [&](const Datom& d) { (d.v == v ? same : other_add) = true; });
    if (same) return Status::Ok();
  }
  if (retracts_.Erase(e, a.id, v)) return Status::Ok();  // re-asserting what this tx retracted
  bool exists = false;
  std::vector<Datom> olds;
  // Entities allocated by this transaction have no datoms before it.
  bool fresh = e > before_->max_eid && !IsTxId(e);
  if (!fresh) {
    std::string prefix;
    PutFixed64BE(&prefix, e);
    PutFixed64BE(&prefix, a.id);
    for (Datom& d : Scan(IndexType::kEavt, prefix)) {
      if (retracts_.Contains(d.e, d.a, d.v)) continue;
      if (d.v == v) exists = true;
      else olds.push_back(std::move(d));
    }
  }
  if (exists) return Status::Ok();  // redundant
  if (!a.many) {
    std::vector<const Datom*> other;
    if (other_add) other = adds_.WithEa(e, a.id);
    if (!other.empty())
      return Err(where, "conflict: two values for cardinality-one :" + a.ident + " of entity " +
                            std::to_string(e) + ": " + other[0]->v.ToString() + " and " + v.ToString());
    for (Datom& d : olds) retracts_.Insert(std::move(d));
  }
  if (a.unique != Unique::kNone) {
    std::string ukey;
    PutFixed64BE(&ukey, a.id);
    EncodeValue(v, &ukey);
    // Holders in the database are checked once every retraction of the tx is known
    // (CheckUnique); here only claims within this tx.
    auto it = unique_adds_.find(ukey);
    if (it != unique_adds_.end() && it->second.e != e)
      return Status::Conflict(WhereOf(where) + "unique conflict: :" + a.ident + " " + v.ToString() +
                              " asserted for entities " + std::to_string(it->second.e) + " and " +
                              std::to_string(e));
    unique_adds_[ukey] = UniqueClaim{e, where};
  }
  adds_.Insert(Datom{e, a.id, std::move(v), tx_, true});
  if (schema_->TuplesOver(a.id)) touched_.insert({e, a.id});
  if (a.id <= sys::kTupleTypes && a.id != sys::kTxInstant) schema_entities_.insert(e);
  return Status::Ok();
}

// A unique value asserted by this tx must not be held by another entity after it.
Status Transactor::CheckUnique() {
  for (const auto& [ukey, claim] : unique_adds_) {
    for (const Datom& d : Scan(IndexType::kAvet, ukey)) {
      if (d.e != claim.e && !retracts_.Contains(d.e, d.a, d.v))
        return Status::Conflict(WhereOf(claim.where) + "unique conflict: :" +
                                schema_->Attr(d.a)->ident + " " + d.v.ToString() +
                                " already belongs to entity " + std::to_string(d.e));
    }
  }
  return Status::Ok();
}

Status Transactor::Retract(EntityId e, const Attribute& a, const Value& v) {
  if (adds_.Erase(e, a.id, v)) {
    touched_.insert({e, a.id});
    if (!unique_adds_.empty()) {
      std::string ukey;  // a + v
      PutFixed64BE(&ukey, a.id);
      EncodeValue(v, &ukey);
      unique_adds_.erase(ukey);
    }
    return Status::Ok();
  }
  std::string key;
  PutFixed64BE(&key, e);
  PutFixed64BE(&key, a.id);
  EncodeValue(v, &key);
  for (Datom& d : Scan(IndexType::kEavt, key)) {
    if (!retracts_.Contains(d.e, d.a, d.v)) retracts_.Insert(d);
    touched_.insert({e, a.id});
    if (a.id <= sys::kTupleTypes) schema_entities_.insert(e);
  }
  return Status::Ok();
}

Status Transactor::RetractAttr(EntityId e, const Attribute& a) {
  for (const Datom& d : CurrentValues(e, a)) DL_RETURN_IF_ERROR(Retract(e, a, d.v));
  return Status::Ok();
}

Status Transactor::RetractEntity(EntityId e, std::set<EntityId>* seen) {
  if (!seen->insert(e).second) return Status::Ok();
  std::string prefix;
  PutFixed64BE(&prefix, e);
  std::vector<EntityId> components;
  for (const Datom& d : Scan(IndexType::kEavt, prefix)) {
    const Attribute* a = schema_->Attr(d.a);
    if (!a) continue;
    if (a->component && d.v.type() == ValueType::kRef) components.push_back(d.v.ref());
    DL_RETURN_IF_ERROR(Retract(e, *a, d.v));
  }
  for (const Datom& d : Scan(IndexType::kVaet, prefix)) {
    const Attribute* a = schema_->Attr(d.a);
    if (a) DL_RETURN_IF_ERROR(Retract(d.e, *a, d.v));
  }
  for (EntityId c : components) DL_RETURN_IF_ERROR(RetractEntity(c, seen));
  return Status::Ok();
}

// Rebuilds the attributes of entities whose schema datoms changed, validating that the
// change is safe for the data already stored.
Status Transactor::ApplySchema() {
  if (schema_entities_.empty()) return Status::Ok();
  auto next = std::make_shared<Schema>(*schema_);
  for (EntityId e : schema_entities_) {
    if (e <= sys::kLastSystem) return Status::Invalid("the system attributes cannot be changed");
    std::map<EntityId, Value> props;  // schema attribute → value after this tx
    std::string prefix;
    PutFixed64BE(&prefix, e);
    for (const Datom& d : Scan(IndexType::kEavt, prefix)) {
      if (d.a <= sys::kTupleTypes && !retracts_.Contains(d.e, d.a, d.v)) props[d.a] = d.v;
    }
    // This tx's assertions about e, in (a, v) order.
    std::vector<const Datom*> mine;
    adds_.ForEach([&](const Datom& d) {
      if (d.e == e && d.a <= sys::kTupleTypes) mine.push_back(&d);
    });
    std::sort(mine.begin(), mine.end(), [](const Datom* x, const Datom* y) {
      return x->a != y->a ? x->a < y->a : x->v < y->v;
    });
    for (const Datom* d : mine) props[d->a] = d->v;
    const Attribute* old = schema_->Attr(e);
    std::string name = props.count(sys::kIdent) ? props[sys::kIdent].str()
                                                 : (old ? old->ident : std::to_string(e));
    auto fail = [&](const std::string& why) {
      return Status::Invalid("schema change for :" + name + " refused: " + why);
    };
    if (props.count(sys::kIdent)) next->SetIdent(e, props[sys::kIdent].str());
    else next->RemoveIdent(e);
    bool has_type = props.count(sys::kValueType) > 0;
    bool declares = has_type || props.count(sys::kCardinality) || props.count(sys::kUnique) ||
                    props.count(sys::kTupleAttrs);
    if (!declares) {
      if (old) {
        if (before_->current[0].count > 0) {
          std::string ap;
          PutFixed64BE(&ap, e);
          if (!Scan(IndexType::kAevt, ap).empty() && schema_->flexibility() == SchemaFlexibility::kWrite)
            return fail("it has datoms; its :db/valueType cannot be retracted");
        }
        if (schema_->flexibility() == SchemaFlexibility::kWrite) next->RemoveAttr(e);
      }
      continue;  // a plain ident (an enum value)
    }
    if (!props.count(sys::kIdent)) return fail("an attribute needs a :db/ident");
    Attribute a;
    a.id = e;
    a.ident = name;
    if (has_type) {
      auto t = ParseValueTypeName(props[sys::kValueType].str().substr(props[sys::kValueType].str().find('/') + 1));
      if (props[sys::kValueType].str().rfind("db.type/", 0) != 0 || !t)
        return fail("unknown :db/valueType :" + props[sys::kValueType].str());
      a.type = *t;
    } else if (schema_->flexibility() == SchemaFlexibility::kWrite) {
      return fail("missing :db/valueType");
    }
    if (props.count(sys::kCardinality)) {
      const std::string& c = props[sys::kCardinality].str();
      if (c == "db.cardinality/many") a.many = true;
      else if (c != "db.cardinality/one") return fail("unknown :db/cardinality :" + c);
    }
    if (props.count(sys::kUnique)) {
      const std::string& u = props[sys::kUnique].str();
      if (u == "db.unique/identity") a.unique = Unique::kIdentity;
      else if (u == "db.unique/value") a.unique = Unique::kValue;
      else return fail("unknown :db/unique :" + u);
    }
    if (props.count(sys::kIsComponent)) a.component = props[sys::kIsComponent].boolean();
    if (props.count(sys::kIndex)) a.indexed = props[sys::kIndex].boolean();
    if (props.count(sys::kNoHistory)) a.no_history = props[sys::kNoHistory].boolean();
    if (props.count(sys::kDoc)) a.doc = props[sys::kDoc].str();
    if (props.count(sys::kTupleAttrs)) {
      for (const Value& x : props[sys::kTupleAttrs].tuple()) {
        if (x.type() != ValueType::kKeyword) return fail(":db/tupleAttrs must be keywords");
        const Attribute* src = next->AttrByIdent(x.str());
        if (!src) return fail(":db/tupleAttrs names unknown attribute :" + x.str());
        if (src->many) return fail(":db/tupleAttrs attribute :" + x.str() + " is cardinality-many");
        a.tuple_attrs.push_back(src->id);
      }
      if (a.tuple_attrs.size() < 2) return fail(":db/tupleAttrs needs at least two attributes");
    }
    if (props.count(sys::kTupleType)) {
      const std::string& s = props[sys::kTupleType].str();
      auto t = ParseValueTypeName(s.substr(s.find('/') + 1));
      if (!t) return fail("unknown :db/tupleType :" + s);
      a.tuple_type = *t;
    }
    if (props.count(sys::kTupleTypes)) {
      for (const Value& x : props[sys::kTupleTypes].tuple()) {
        auto t = x.type() == ValueType::kKeyword ? ParseValueTypeName(x.str().substr(x.str().find('/') + 1))
                                                 : std::nullopt;
        if (!t) return fail("bad :db/tupleTypes element " + x.ToString());
        a.tuple_types.push_back(*t);
      }
    }
    if ((!a.tuple_attrs.empty() || !a.tuple_types.empty() || a.tuple_type != ValueType::kNil) &&
        a.type != ValueType::kTuple)
      return fail("tuple properties need :db/valueType :db.type/tuple");
    if (a.component && a.type != ValueType::kRef) return fail(":db/isComponent needs a ref attribute");
    if (old) {
      // Existing attribute: only safe changes.
      std::string ap;
      PutFixed64BE(&ap, e);
      std::vector<Datom> data;
      bool loaded = false;
      auto existing = [&]() -> const std::vector<Datom>& {
        if (!loaded) data = Scan(IndexType::kAevt, ap), loaded = true;
        return data;
      };
      if (old->type != a.type && old->type != ValueType::kNil && !existing().empty())
        return fail(std::string("cannot change :db/valueType from ") + ValueTypeKeyword(old->type) +
                    " to " + ValueTypeKeyword(a.type) + " while datoms use it");
      if (old->type == ValueType::kNil && a.type != ValueType::kNil) {
        // Typing an untyped (schema-on-read) attribute: its values must fit.
        for (const Datom& d : existing()) {
          if (d.v.type() != a.type)
            return fail("value " + d.v.ToString() + " of entity " + std::to_string(d.e) + " is not a " +
                        ValueTypeName(a.type));
        }
      }
      if (old->many && !a.many) {
        const auto& ds = existing();
        for (size_t i = 1; i < ds.size(); ++i) {
          if (ds[i].e == ds[i - 1].e)
            return fail("entity " + std::to_string(ds[i].e) +
                        " has several values, so it cannot become cardinality-one");
        }
      }
      if (old->unique == Unique::kNone && a.unique != Unique::kNone) {
        std::set<std::string> seen;
        for (const Datom& d : existing()) {
          std::string enc;
          EncodeValue(d.v, &enc);
          if (!seen.insert(enc).second)
            return fail("value " + d.v.ToString() + " is held by several entities, so it cannot be unique");
        }
      }
      if (old->tuple_attrs != a.tuple_attrs && !old->tuple_attrs.empty())
        return fail(":db/tupleAttrs cannot change");
      if (old->in_avet() != a.in_avet()) reindex_.insert(e);
    }
    next->PutAttr(a);
  }
  next->Reindex();
  schema_ = next;
  return Status::Ok();
}

// Composite tuples: recompute every tuple attribute over an (e, a) this tx touched.
Status Transactor::UpdateTuples() {
  std::set<std::pair<EntityId, EntityId>> todo;  // (e, tuple attr)
  for (const auto& [e, a] : touched_) {
    if (const auto* ts = schema_->TuplesOver(a)) {
      for (EntityId t : *ts) todo.insert({e, t});
    }
  }
  for (const auto& [e, t] : todo) {
    const Attribute& ta = *schema_->Attr(t);
    std::vector<Value> items;
    bool any = false;
    for (EntityId src : ta.tuple_attrs) {
      auto vals = CurrentValues(e, *schema_->Attr(src));
      items.push_back(vals.empty() ? Value() : vals[0].v);
      any = any || !vals.empty();
    }
    if (!any) {
      DL_RETURN_IF_ERROR(RetractAttr(e, ta));
    } else {
      DL_RETURN_IF_ERROR(Add(e, ta, Value::Tuple(std::move(items)), nullptr));
    }
  }
  return Status::Ok();
}

Result<TxOutput> Transactor::Finish() {
  // The tx entity and its instant (monotonic per database).
  const Attribute& inst = *schema_->Attr(sys::kTxInstant);
  int64_t instant = std::max(now_, before_->last_instant);
  std::vector<const Datom*> given = adds_.WithEa(tx_, sys::kTxInstant);
  if (!given.empty()) {
    instant = given[0]->v.instant();
    if (instant < before_->last_instant)
      return Status::Invalid(":db/txInstant " + given[0]->v.ToString() +
                             " is before the previous transaction's");
  } else {
    DL_RETURN_IF_ERROR(Add(tx_, inst, Value::Instant(instant), nullptr));
  }

  auto after = std::make_shared<DbState>(*before_);
  after->schema = schema_;
  after->max_tx = tx_;
  after->max_eid = std::max(before_->max_eid, next_eid_ - 1);
  after->last_instant = instant;
  after->commit = Address();

  TxOutput out;
  // Every datom of the tx, retractions (carrying the tx that asserted them) and
  // assertions, and the indices it goes to.
  struct Entry {
    Datom* d;
    bool add;
    bool avet;  // in AVET
    bool keep;  // a retraction recorded in history
  };
  std::vector<Entry> entries;
  entries.reserve(retracts_.size() + adds_.size());
  EntityId cached_id = 0;
  const Attribute* cached = nullptr;
  auto attr_of = [&](EntityId id) {
    if (id != cached_id || !cached) {
      cached_id = id;
      cached = schema_->Attr(id);
    }
    return cached;
  };
  retracts_.ForEach([&](Datom& d) {
    const Attribute* a = schema_->Attr(d.a);
    if (!a) a = before_->schema->Attr(d.a);
    bool keep = before_->keep_history && !(a && a->no_history);
    // If this tx took the attribute out of AVET, its datoms are still there to remove
    // (the reindex pass below moves the rest).
    if (reindex_.count(d.a)) a = nullptr;
    entries.push_back(Entry{&d, false, !a || a->in_avet(), keep});
  });
  adds_.ForEach([&](Datom& d) {
    const Attribute* a = attr_of(d.a);
    entries.push_back(Entry{&d, true, !a || a->in_avet(), false});
  });
  // Each value encoded once; keys of all four orders are assembled from it.
  const uint32_t n = static_cast<uint32_t>(entries.size());
  std::string vals;
  std::vector<uint32_t> voff(n + 1);
  for (uint32_t i = 0; i < n; ++i) {
    voff[i] = static_cast<uint32_t>(vals.size());
    EncodeValue(entries[i].d->v, &vals);
  }
  voff[n] = static_cast<uint32_t>(vals.size());
  auto vview = [&](uint32_t i) { return std::string_view(vals.data() + voff[i], voff[i + 1] - voff[i]); };
  // The first 16 bytes of each value's encoding as two big-endian, zero-padded
  // integers: ordering by them agrees with memcmp on the full encodings unless they
  // are equal; then two encodings of at most 16 bytes order by length (the shorter is
  // a prefix of the other), longer ones by their bytes.
  auto head = [&](uint32_t i, size_t from) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(vals.data()) + voff[i];
    size_t len = voff[i + 1] - voff[i];
    uint64_t x = 0;
    for (size_t j = from; j < from + 8; ++j) x = (x << 8) | (j < len ? p[j] : 0);
    return x;
  };
  // Index edits must be sorted by key. Sorting works on the key's fields (integers
  // first, value bytes only on ties) and skips orders the datoms already come in; a
  // datom is never both asserted and retracted, so keys are unique per tree.
  // Carries what building a key needs besides the value bytes, so that pass does not
  // chase datoms in sorted (that is, random) order.
  struct SortKey {
    uint64_t k0, k1, k2, k3;
    uint32_t i;
    uint32_t vlen;
    bool add;
    bool keep;
  };
  auto vtie = [&](const SortKey& x, const SortKey& y) {  // values whose heads are equal
    if (x.vlen <= 16 && y.vlen <= 16) return x.vlen < y.vlen ? -1 : x.vlen > y.vlen ? 1 : 0;
    return vview(x.i).compare(vview(y.i));
  };
  std::vector<SortKey> order;
  order.reserve(n);
  std::vector<uint32_t> eavt_order;
  std::string cb, hb;  // key bytes of one tree's edits, reused tree after tree
  std::vector<index::KeyEdit> cur, hist;
  for (int ix = 0; ix < kIndexCount; ++ix) {
    const IndexType type = static_cast<IndexType>(ix);
    order.clear();
    for (uint32_t i = 0; i < n; ++i) {
      const Entry& en = entries[i];
      const Datom& d = *en.d;
      uint32_t vlen = voff[i + 1] - voff[i];
      switch (type) {
        case IndexType::kEavt:
          order.push_back(SortKey{d.e, d.a, head(i, 0), head(i, 8), i, vlen, en.add, en.keep});
          break;
        case IndexType::kAevt:
          order.push_back(SortKey{d.a, d.e, head(i, 0), head(i, 8), i, vlen, en.add, en.keep});
          break;
        case IndexType::kAvet:
          if (en.avet) order.push_back(SortKey{d.a, head(i, 0), head(i, 8), d.e, i, vlen, en.add, en.keep});
          break;
        case IndexType::kVaet:
          if (d.v.type() == ValueType::kRef)
            order.push_back(SortKey{d.v.ref(), d.a, d.e, 0, i, vlen, en.add, en.keep});
          break;
      }
    }
    if (order.empty()) continue;
    auto less = [&](const SortKey& x, const SortKey& y) {
      if (x.k0 != y.k0) return x.k0 < y.k0;
      if (x.k1 != y.k1) return x.k1 < y.k1;
      if (x.k2 != y.k2) return x.k2 < y.k2;
      if (type == IndexType::kAvet) {  // a v e: all of the value before e
        int c = vtie(x, y);
        if (c != 0) return c < 0;
        return x.k3 < y.k3;
      }
      if (x.k3 != y.k3) return x.k3 < y.k3;
      return type != IndexType::kVaet && vtie(x, y) < 0;
    };
    if (type == IndexType::kAevt || type == IndexType::kAvet) {
      SortByAttribute(&order, less);
    } else {
      SortMostlySorted(order.data(), order.size(), less);
    }
    if (type == IndexType::kEavt) {
      eavt_order.reserve(order.size());
      for (const SortKey& k : order) eavt_order.push_back(k.i);
    }
    // Keys go back to back into one buffer per tree, reserved up front so the views
    // stay valid.
    auto key_len = [&](uint32_t i) -> size_t {
      return type == IndexType::kVaet ? 32 : 24 + (voff[i + 1] - voff[i]);
    };
    size_t cur_bytes = 0, hist_bytes = 0, hist_count = 0;
    for (const SortKey& k : order) {
      size_t len = key_len(k.i);
      cur_bytes += len;
      if (!k.add && k.keep) {
        hist_bytes += 2 * (len + 1);
        hist_count += 2;
      }
    }
    cur.clear();
    hist.clear();
    // Sized exactly, then written through pointers (no per-field string calls).
    cb.resize(cur_bytes);
    hb.resize(hist_bytes);
    cur.reserve(order.size());
    hist.reserve(hist_count);
    // The key fields are the sort fields: e a v / a e v / a v e / v a e. Writes the key
    // at `p` and returns its end.
    auto put = [&](char* p, const SortKey& k, EntityId tx) {
      auto value = [&](char* at) {
        std::string_view v = vview(k.i);
        std::memcpy(at, v.data(), v.size());
        return at + v.size();
      };
      p = StoreFixed64BE(p, k.k0);
      switch (type) {
        case IndexType::kEavt:
        case IndexType::kAevt:
          p = value(StoreFixed64BE(p, k.k1));
          break;
        case IndexType::kAvet:
          p = StoreFixed64BE(value(p), k.k3);
          break;
        case IndexType::kVaet:
          p = StoreFixed64BE(StoreFixed64BE(p, k.k1), k.k2);
          break;
      }
      return StoreFixed64BE(p, tx);
    };
    char* cw = cb.data();
    char* hw = hb.data();
    auto edit = [](const char* from, const char* to, bool insert) {
      return index::KeyEdit{std::string_view(from, static_cast<size_t>(to - from)), insert};
    };
    for (const SortKey& k : order) {
      EntityId tx = k.add ? tx_ : entries[k.i].d->tx;  // a retraction names its assertion's tx
      char* at = cw;
      cw = put(cw, k, tx);
      cur.push_back(edit(at, cw, k.add));
      if (!k.add && k.keep) {
        // History: the assertion (its own tx) and this retraction (tx_), in that order.
        at = hw;
        hw = put(hw, k, tx);
        *hw++ = 1;
        hist.push_back(edit(at, hw, true));
        at = hw;
        hw = put(hw, k, tx_);
        *hw++ = 0;
        hist.push_back(edit(at, hw, true));
      }
    }
    if (cw != cb.data() + cb.size() || hw != hb.data() + hb.size())
      return Status::Internal("transaction: index keys do not fill their buffer");
    out.key_bytes += cb.size() + hb.size();
    for (auto* edits : {&cur, &hist}) {
      if (edits->empty()) continue;
      // The order above is byte order by construction; check it (cheap, linear) and
      // fall back to a plain sort rather than hand a tree unsorted edits.
      auto by_key = [](const index::KeyEdit& x, const index::KeyEdit& y) { return x.key < y.key; };
      if (!std::is_sorted(edits->begin(), edits->end(), by_key))
        std::sort(edits->begin(), edits->end(), by_key);
      index::Child& root = edits == &cur ? after->current[ix] : after->history[ix];
      DL_ASSIGN_OR_RETURN(root, index::Apply(*after->src, root, edits->data(),
                                             edits->data() + edits->size()));
    }
  }
  // The report's datoms, in EAVT order (which is (e, a, v) order, as asserted and
  // retracted datoms never coincide).
  out.tx_data.reserve(eavt_order.size());
  for (uint32_t i : eavt_order) {
    Datom& d = *entries[i].d;
    if (entries[i].add) {
      out.tx_data.push_back(std::move(d));
    } else {
      out.tx_data.push_back(Datom{d.e, d.a, std::move(d.v), tx_, false});
    }
  }
  // Attributes whose AVET membership changed (:db/index, :db/unique): move their
  // current and history datoms in or out of AVET.
  for (EntityId attr : reindex_) {
    bool on = schema_->Attr(attr)->in_avet();
    std::string lo;
    PutFixed64BE(&lo, attr);
    std::string hi = PrefixEnd(lo);
    for (bool hist : {false, true}) {
      int aevt = static_cast<int>(IndexType::kAevt), avet = static_cast<int>(IndexType::kAvet);
      index::Iterator it(after->src.get(), hist ? after->history[aevt] : after->current[aevt]);
      std::vector<index::Edit> edits;
      for (it.Seek(lo); it.Valid() && it.key() < std::string_view(hi); it.Next()) {
        Datom d;
        DL_RETURN_IF_ERROR(DecodeKey(IndexType::kAevt, it.key(), hist, &d));
        std::string key;
        EncodeKey(IndexType::kAvet, d, hist, &key);
        out.key_bytes += key.size();
        edits.push_back({std::move(key), on});
      }
      DL_RETURN_IF_ERROR(it.status());
      if (edits.empty()) continue;
      index::SortEdits(&edits);
      index::Child& root = hist ? after->history[avet] : after->current[avet];
      DL_ASSIGN_OR_RETURN(root, index::Apply(*after->src, root, edits));
    }
  }
  for (const auto& [name, id] : tempids_) {
    if (!name.empty() && name[0] == '\x01') continue;  // generated for maps without :db/id
    out.tempids[name] = id;
  }
  out.tempids[kTxTempid] = tx_;
  out.tx = tx_;
  out.after = std::move(after);
  return out;
}

Result<TxOutput> Transactor::Run(const Node& tx_data) {
  DL_RETURN_IF_ERROR(Parse(tx_data));
  // Schema datoms first, so the rest of the transaction can use what it declares.
  std::vector<Op*> schema_ops, data_ops;
  for (Op& op : ops_) (op.schema ? schema_ops : data_ops).push_back(&op);
  DL_RETURN_IF_ERROR(RunOps(schema_ops));
  DL_RETURN_IF_ERROR(scan_status_);
  DL_RETURN_IF_ERROR(ApplySchema());
  size_t schema_entities = schema_entities_.size();
  DL_RETURN_IF_ERROR(RunOps(data_ops));
  // :db/retractEntity of an attribute or enum (or a schema-on-read attribute
  // installed on first use) changes the schema too.
  if (schema_entities_.size() != schema_entities) DL_RETURN_IF_ERROR(ApplySchema());
  for (const auto& [t, form] : value_tempids_) {
    if (!entity_tempids_.count(t))
      return Err(form, "tempid " + (t[0] == '-' ? t : "\"" + t + "\"") +
                           " is used only as a value; it names no entity");
  }
  DL_RETURN_IF_ERROR(UpdateTuples());
  DL_RETURN_IF_ERROR(CheckUnique());
  DL_RETURN_IF_ERROR(scan_status_);
  return Finish();
}

}  // namespace

// Not inlined: with link-time optimisation the transactor would otherwise be inlined
// into Connection::Transact, which the WASM build compiles -Os, and be optimised for size.
[[gnu::noinline]] Result<TxOutput> Transact(const std::shared_ptr<const DbState>& before,
                                            const edn::Node& tx_data, int64_t now_millis) {
  Transactor t(before, now_millis);
  return t.Run(tx_data);
}

}  // namespace datalith::internal
