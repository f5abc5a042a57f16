#include "tx/transactor.h"

#include <algorithm>
#include <set>
#include <unordered_map>

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
  Value lookup;      // [attr-keyword value]
  const Node* node = nullptr;  // where it was written, for messages
};

// A value position: either an EDN form (converted once the attribute is known) or an
// entity reference made by the parser (nested maps, reverse attributes).
struct VRef {
  const Node* node = nullptr;
  std::optional<ERef> eref;
};

enum class OpKind { kAdd, kRetract, kRetractAttr, kRetractEntity, kCas };

struct Op {
  OpKind kind;
  ERef e;
  std::string attr;  // keyword text
  VRef v;
  VRef old;          // :db/cas expected value (node may be nil)
  const Node* form;  // for messages
  bool schema = false;
};

bool IsSchemaAttr(const std::string& a) {
  static const std::set<std::string> kNames = {
      "db/ident",     "db/valueType", "db/cardinality", "db/unique",     "db/isComponent",
      "db/index",     "db/noHistory", "db/doc",         "db/tupleAttrs", "db/tupleType",
      "db/tupleTypes"};
  return kNames.count(a) > 0;
}

std::string EavKey(EntityId e, EntityId a, const Value& v) {
  std::string k;
  PutFixed64BE(&k, e);
  PutFixed64BE(&k, a);
  EncodeValue(v, &k);
  return k;
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
  Result<ERef> ParseERef(const Node& n);
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
  Status ResolveTempids(std::vector<Op*>& ops);
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
  int auto_tempids_ = 0;
  std::map<std::string, EntityId> tempids_;
  std::vector<std::string> tempid_order_;
  std::map<std::string, Datom> adds_;      // EAV key → datom
  std::map<std::string, Datom> retracts_;  // EAV key → retracted datom (original tx)
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
  std::set<std::string> entity_tempids_;
  std::map<std::string, const Node*> value_tempids_;
  std::set<std::pair<EntityId, EntityId>> touched_;  // (e, a) for composite tuples
  Status scan_status_;  // first storage error met by Scan
};

std::string WhereOf(const Node* n) { return n ? n->Where() + ": " : std::string(); }

// ---------------------------------------------------------------- parsing

Result<ERef> Transactor::ParseERef(const Node& n) {
  ERef r;
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
      return r;
    case Kind::kString:
      if (n.text.empty()) return Err(&n, "empty tempid");
      r.kind = n.text == kTxTempid ? ERef::Kind::kTx : ERef::Kind::kTemp;
      r.name = n.text;
      return r;
    case Kind::kKeyword:
      if (n.text == "db/current-tx") {
        r.kind = ERef::Kind::kTx;
      } else {
        r.kind = ERef::Kind::kIdent;
        r.name = n.text;
      }
      return r;
    case Kind::kVector: {
      if (n.items.size() != 2 || !n.items[0].is(Kind::kKeyword))
        return Err(&n, "a lookup ref is [attribute value], got " + edn::Write(n));
      auto v = edn::ToValue(n.items[1]);
      if (!v.ok()) return Err(&n.items[1], "lookup ref value: " + v.status().message());
      r.kind = ERef::Kind::kLookup;
      r.lookup = Value::Tuple({Value::Keyword(n.items[0].text), *v});
      return r;
    }
    case Kind::kMap: {
      DL_RETURN_IF_ERROR(ParseEntityMap(n, &r));
      return r;
    }
    default:
      return Err(&n, "expected an entity id, tempid, ident or lookup ref, got " + edn::Write(n));
  }
}

Status Transactor::ParseEntityMap(const Node& m, ERef* self) {
  const Node* id = m.GetKeyword("db/id");
  if (id) {
    DL_ASSIGN_OR_RETURN(*self, ParseERef(*id));
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
    std::string name = slash == std::string::npos ? k.text : k.text.substr(slash + 1);
    if (!name.empty() && name[0] == '_') {
      // Reverse attribute: each value is an entity pointing at this one.
      std::string attr = slash == std::string::npos ? name.substr(1)
                                                    : k.text.substr(0, slash + 1) + name.substr(1);
      std::vector<const Node*> refs;
      bool coll = (v.is(Kind::kVector) && !IsLookupRef(v)) ||
                  v.is(Kind::kList) || v.is(Kind::kSet);
      if (coll) {
        for (const Node& x : v.items) refs.push_back(&x);
      } else {
        refs.push_back(&v);
      }
      for (const Node* x : refs) {
        DL_ASSIGN_OR_RETURN(ERef other, ParseERef(*x));
        Op op{OpKind::kAdd, other, attr, VRef{nullptr, *self}, {}, &k};
        ops_.push_back(std::move(op));
      }
      continue;
    }
    if (v.is(Kind::kNil)) return Err(&v, "nil value for :" + k.text);
    // Collections: for cardinality-many attributes, each element is a value. Which
    // attributes are many is known only after the schema pass, so record the form and
    // let RunOps split it.
    if (v.is(Kind::kMap)) {
      ERef nested;
      DL_RETURN_IF_ERROR(ParseEntityMap(v, &nested));
      ops_.push_back(Op{OpKind::kAdd, *self, k.text, VRef{nullptr, nested}, {}, &k});
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
          ERef nested;
          DL_RETURN_IF_ERROR(ParseEntityMap(x, &nested));
          ops_.push_back(Op{OpKind::kAdd, *self, k.text, VRef{nullptr, nested}, {}, &k});
        } else {
          ops_.push_back(Op{OpKind::kAdd, *self, k.text, VRef{&x, std::nullopt}, {}, &k});
        }
      }
      continue;
    }
    ops_.push_back(Op{OpKind::kAdd, *self, k.text, VRef{&v, std::nullopt}, {}, &k});
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
  auto attr_of = [&](const Node& n) -> Result<std::string> {
    if (!n.is(Kind::kKeyword)) return Err(&n, "attribute must be a keyword, got " + edn::Write(n));
    return n.text;
  };
  if (op == "db/add" || op == "db/retract") {
    DL_RETURN_IF_ERROR(op == "db/add" ? arity(3, 3) : arity(2, 3));
    DL_ASSIGN_OR_RETURN(ERef e, ParseERef(f.items[1]));
    DL_ASSIGN_OR_RETURN(std::string a, attr_of(f.items[2]));
    if (f.items.size() == 3) {
      ops_.push_back(Op{OpKind::kRetractAttr, e, a, {}, {}, &f});
    } else {
      if (f.items[3].is(Kind::kNil)) return Err(&f.items[3], "nil value for :" + a);
      ops_.push_back(Op{op == "db/add" ? OpKind::kAdd : OpKind::kRetract, e, a,
                        VRef{&f.items[3], std::nullopt}, {}, &f});
    }
  } else if (op == "db/retractEntity" || op == "db.fn/retractEntity") {
    DL_RETURN_IF_ERROR(arity(1, 1));
    DL_ASSIGN_OR_RETURN(ERef e, ParseERef(f.items[1]));
    ops_.push_back(Op{OpKind::kRetractEntity, e, "", {}, {}, &f});
  } else if (op == "db.fn/retractAttribute" || op == "db/retractAttribute") {
    DL_RETURN_IF_ERROR(arity(2, 2));
    DL_ASSIGN_OR_RETURN(ERef e, ParseERef(f.items[1]));
    DL_ASSIGN_OR_RETURN(std::string a, attr_of(f.items[2]));
    ops_.push_back(Op{OpKind::kRetractAttr, e, a, {}, {}, &f});
  } else if (op == "db/cas" || op == "db.fn/cas") {
    DL_RETURN_IF_ERROR(arity(4, 4));
    DL_ASSIGN_OR_RETURN(ERef e, ParseERef(f.items[1]));
    DL_ASSIGN_OR_RETURN(std::string a, attr_of(f.items[2]));
    if (f.items[4].is(Kind::kNil)) return Err(&f.items[4], ":db/cas new value must not be nil");
    ops_.push_back(Op{OpKind::kCas, e, a, VRef{&f.items[4], std::nullopt},
                      VRef{&f.items[3], std::nullopt}, &f});
  } else {
    return Err(&f.items[0], "unknown operation :" + op);
  }
  return Status::Ok();
}

Status Transactor::Parse(const Node& tx_data) {
  if (!tx_data.is(Kind::kVector) && !tx_data.is(Kind::kList))
    return Err(&tx_data, "transaction data must be a vector of entity maps and list forms");
  for (const Node& f : tx_data.items) {
    if (f.is(Kind::kMap)) {
      ERef self;
      DL_RETURN_IF_ERROR(ParseEntityMap(f, &self));
    } else if (f.is(Kind::kVector) || f.is(Kind::kList)) {
      DL_RETURN_IF_ERROR(ParseListForm(f));
    } else {
      return Err(&f, "expected an entity map or a list form, got " + edn::Write(f));
    }
  }
  for (Op& op : ops_) op.schema = IsSchemaAttr(op.attr);
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
      const auto& t = r.lookup.tuple();
      const Attribute* a = schema_->AttrByIdent(t[0].str());
      if (!a) return Err(where, "lookup ref " + r.lookup.ToString() + ": unknown attribute");
      if (a->unique == Unique::kNone)
        return Err(where, "lookup ref " + r.lookup.ToString() + ": :" + a->ident + " is not unique");
      Value v = t[1];
      if (a->is_ref() && v.type() == ValueType::kLong) v = Value::Ref(v.long_value());
      std::string prefix;
      PutFixed64BE(&prefix, a->id);
      EncodeValue(v, &prefix);
      for (const Datom& d : Scan(IndexType::kAvet, prefix)) return d.e;
      auto it = unique_adds_.find(prefix);
      if (it != unique_adds_.end()) return it->second.e;
      return Err(where, "lookup ref " + r.lookup.ToString() + " names no entity");
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
  const Attribute* a = schema_->AttrByIdent(op.attr);
  if (a) return a;
  if (schema_->flexibility() == SchemaFlexibility::kWrite)
    return Err(op.form, "unknown attribute :" + op.attr + " (declare it in the schema first)");
  // Schema-on-read: install an untyped attribute on first use. An entity that already
  // carries the ident (from an earlier transaction or this one) becomes the attribute.
  std::optional<EntityId> existing = schema_->Entid(op.attr);
  if (!existing) {
    std::string prefix;
    PutFixed64BE(&prefix, sys::kIdent);
    EncodeValue(Value::Keyword(op.attr), &prefix);
    auto it = unique_adds_.find(prefix);
    if (it != unique_adds_.end()) existing = it->second.e;
  }
  auto next = std::make_shared<Schema>(*schema_);
  Attribute at;
  at.id = existing ? *existing : next_eid_++;
  at.ident = op.attr;
  next->SetIdent(at.id, at.ident);
  next->PutAttr(at);
  next->Reindex();
  schema_ = next;
  if (!existing) {
    const Attribute* ident_attr = schema_->Attr(sys::kIdent);
    DL_RETURN_IF_ERROR(Add(at.id, *ident_attr, Value::Keyword(op.attr), op.form));
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
      DL_ASSIGN_OR_RETURN(ERef r, ParseERef(n));
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
Status Transactor::ResolveTempids(std::vector<Op*>& ops) {
  std::map<std::string, EntityId> upserted;
  std::map<std::string, std::string> new_by_unique;  // a + v → tempid
  std::map<std::string, std::string> alias;          // tempid → canonical tempid
  auto canon = [&](std::string t) {
    while (alias.count(t)) t = alias[t];
    return t;
  };
  for (int round = 0; round < 4; ++round) {
    bool progress = false;
    for (Op* op : ops) {
      if (op->kind != OpKind::kAdd || op->e.kind != ERef::Kind::kTemp) continue;
      const Attribute* a = schema_->AttrByIdent(op->attr);
      if (!a || a->unique != Unique::kIdentity) continue;
      std::string t = canon(op->e.name);
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
          return Err(op->form, "tempid " + op->e.name + " upserts to two entities: " +
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
  for (Op* op : ops) {
    auto visit = [&](const ERef& r, bool entity = true) {
      if (r.kind != ERef::Kind::kTemp) return;
      std::string t = canon(r.name);
      if (entity) entity_tempids_.insert(t);
      else value_tempids_.emplace(t, op->form);
      if (!tempids_.count(t)) {
        tempids_[t] = next_eid_++;
        tempid_order_.push_back(t);
      }
      if (t != r.name) tempids_[r.name] = tempids_[t];
    };
    visit(op->e);
    if (op->v.eref) visit(*op->v.eref, false);
    const Attribute* a = schema_->AttrByIdent(op->attr);
    if (op->v.node && a && a->is_ref()) {
      // Tempids in value position: a single value or the elements of a collection.
      std::vector<const Node*> vals{op->v.node};
      if ((op->v.node->is(Kind::kVector) && !IsLookupRef(*op->v.node)) || op->v.node->is(Kind::kList) ||
          op->v.node->is(Kind::kSet)) {
        vals.clear();
        for (const Node& x : op->v.node->items) vals.push_back(&x);
      }
      for (const Node* x : vals) {
        if (x->is(Kind::kString) && x->text != kTxTempid) visit(ERef{ERef::Kind::kTemp, 0, x->text, {}}, false);
        if (x->is(Kind::kLong) && x->i < 0) visit(ERef{ERef::Kind::kTemp, 0, std::to_string(x->i), {}}, false);
      }
    }
  }
  return Status::Ok();
}

Status Transactor::RunOps(std::vector<Op*>& ops) {
  // Resolve attributes first (schema-on-read may install some), then tempids.
  std::vector<EntityId> attrs(ops.size(), 0);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i]->kind == OpKind::kRetractEntity) continue;
    DL_ASSIGN_OR_RETURN(const Attribute* a, AttrFor(*ops[i]));
    attrs[i] = a->id;
  }
  DL_RETURN_IF_ERROR(ResolveTempids(ops));
  for (size_t i = 0; i < ops.size(); ++i) {
    Op& op = *ops[i];
    DL_ASSIGN_OR_RETURN(EntityId e, Resolve(op.e, op.e.node ? op.e.node : op.form));
    if (op.kind == OpKind::kRetractEntity) {
      std::set<EntityId> seen;
      DL_RETURN_IF_ERROR(RetractEntity(e, &seen));
      continue;
    }
    const Attribute* a = schema_->Attr(attrs[i]);  // by id: the schema may have moved
    if (op.kind == OpKind::kRetractAttr) {
      DL_RETURN_IF_ERROR(RetractAttr(e, *a));
      continue;
    }
    // Cardinality-many: a collection value is several values (a tuple-typed attribute
    // takes vectors as values; a ref attribute takes a 2-vector lookup ref).
    std::vector<VRef> values;
    const Node* n = op.v.node;
    bool lookup_like = n && a->is_ref() && IsLookupRef(*n);
    if (n && a->many && (n->is(Kind::kVector) || n->is(Kind::kList) || n->is(Kind::kSet)) &&
        !lookup_like && !(a->type == ValueType::kTuple && n->is(Kind::kVector) &&
                          (n->items.empty() || !n->items[0].IsColl()))) {
      for (const Node& x : n->items) values.push_back(VRef{&x, std::nullopt});
    } else if (n && !a->many && (n->is(Kind::kList) || n->is(Kind::kSet))) {
      return Err(n, "cardinality-one attribute :" + a->ident + " takes one value, got " + edn::Write(*n));
    } else {
      values.push_back(op.v);
    }
    for (const VRef& vr : values) {
      const Node* where = vr.node ? vr.node : op.form;
      if (vr.node && vr.node->is(Kind::kMap))
        return Err(vr.node, "a nested map needs a ref attribute; :" + a->ident + " is not one");
      if (op.kind == OpKind::kCas) {
        if (a->many) return Err(op.form, ":db/cas needs a cardinality-one attribute, :" + a->ident + " is many");
        std::vector<Datom> cur = CurrentValues(e, *a);
        std::optional<Value> expected;
        if (!op.old.node->is(Kind::kNil)) {
          DL_ASSIGN_OR_RETURN(Value ov, ConvertValue(*a, op.old, op.old.node, true));
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
    if (!retracts_.count(EavKey(d.e, d.a, d.v))) out.push_back(std::move(d));
  }
  for (auto it = adds_.lower_bound(prefix); it != adds_.end() && it->first.compare(0, 16, prefix) == 0; ++it)
    out.push_back(it->second);
  return out;
}

Status Transactor::Add(EntityId e, const Attribute& a, Value v, const Node* where) {
  if (IsTxId(e) && e != tx_ && !a.ident.empty())
    return Err(where, "cannot add datoms to past transaction " + std::to_string(e));
  std::string key = EavKey(e, a.id, v);
  if (adds_.count(key)) return Status::Ok();
  if (retracts_.erase(key)) return Status::Ok();  // re-asserting what this tx retracted
  std::string prefix = key.substr(0, 16);
  bool exists = false;
  std::vector<Datom> olds;
  // Entities allocated by this transaction have no datoms before it.
  bool fresh = e > before_->max_eid && !IsTxId(e);
  if (!fresh) for (Datom& d : Scan(IndexType::kEavt, prefix)) {
    if (retracts_.count(EavKey(d.e, d.a, d.v))) continue;
    if (d.v == v) exists = true;
    else olds.push_back(std::move(d));
  }
  if (exists) return Status::Ok();  // redundant
  if (!a.many) {
    for (auto it = adds_.lower_bound(prefix); it != adds_.end() && it->first.compare(0, 16, prefix) == 0; ++it) {
      return Err(where, "conflict: two values for cardinality-one :" + a.ident + " of entity " +
                            std::to_string(e) + ": " + it->second.v.ToString() + " and " + v.ToString());
    }
    for (Datom& d : olds) {
      retracts_[EavKey(d.e, d.a, d.v)] = d;
    }
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
  adds_[key] = Datom{e, a.id, std::move(v), tx_, true};
  if (schema_->TuplesOver(a.id)) touched_.insert({e, a.id});
  if (a.id <= sys::kTupleTypes && a.id != sys::kTxInstant) schema_entities_.insert(e);
  return Status::Ok();
}

// A unique value asserted by this tx must not be held by another entity after it.
Status Transactor::CheckUnique() {
  for (const auto& [ukey, claim] : unique_adds_) {
    for (const Datom& d : Scan(IndexType::kAvet, ukey)) {
      if (d.e != claim.e && !retracts_.count(EavKey(d.e, d.a, d.v)))
        return Status::Conflict(WhereOf(claim.where) + "unique conflict: :" +
                                schema_->Attr(d.a)->ident + " " + d.v.ToString() +
                                " already belongs to entity " + std::to_string(d.e));
    }
  }
  return Status::Ok();
}

Status Transactor::Retract(EntityId e, const Attribute& a, const Value& v) {
  std::string key = EavKey(e, a.id, v);
  if (adds_.erase(key)) {
    touched_.insert({e, a.id});
    unique_adds_.erase(key.substr(8));  // a + v
    return Status::Ok();
  }
  for (Datom& d : Scan(IndexType::kEavt, key)) {
    retracts_[key] = d;
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
      if (d.a <= sys::kTupleTypes && !retracts_.count(EavKey(d.e, d.a, d.v))) props[d.a] = d.v;
    }
    for (auto it = adds_.lower_bound(prefix); it != adds_.end() && it->first.compare(0, 8, prefix) == 0; ++it) {
      if (it->second.a <= sys::kTupleTypes) props[it->second.a] = it->second.v;
    }
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
  std::string tprefix;
  PutFixed64BE(&tprefix, tx_);
  PutFixed64BE(&tprefix, sys::kTxInstant);
  int64_t instant = std::max(now_, before_->last_instant);
  auto given = adds_.lower_bound(tprefix);
  if (given != adds_.end() && given->first.compare(0, 16, tprefix) == 0) {
    instant = given->second.v.instant();
    if (instant < before_->last_instant)
      return Status::Invalid(":db/txInstant " + given->second.v.ToString() +
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
  std::vector<index::Edit> cur[kIndexCount], hist[kIndexCount];
  auto indices_of = [&](const Datom& d, const Attribute* a, auto&& fn) {
    fn(IndexType::kEavt);
    fn(IndexType::kAevt);
    if (!a || a->in_avet()) fn(IndexType::kAvet);
    if (d.v.type() == ValueType::kRef) fn(IndexType::kVaet);
  };
  for (auto& [k, d] : retracts_) {
    const Attribute* a = schema_->Attr(d.a);
    if (!a) a = before_->schema->Attr(d.a);
    bool keep = before_->keep_history && !(a && a->no_history);
    // If this tx took the attribute out of AVET, its datoms are still there to remove
    // (the reindex pass below moves the rest).
    if (reindex_.count(d.a)) a = nullptr;
    indices_of(d, a, [&](IndexType ix) {
      int i = static_cast<int>(ix);
      std::string key;
      EncodeKey(ix, d, false, &key);
      cur[i].push_back({std::move(key), false});
      if (keep) {
        std::string hk;
        EncodeKey(ix, d, true, &hk);
        hist[i].push_back({std::move(hk), true});
        Datom r = d;
        r.tx = tx_;
        r.added = false;
        std::string rk;
        EncodeKey(ix, r, true, &rk);
        hist[i].push_back({std::move(rk), true});
      }
    });
    out.tx_data.push_back(Datom{d.e, d.a, d.v, tx_, false});
  }
  for (auto& [k, d] : adds_) {
    const Attribute* a = schema_->Attr(d.a);
    indices_of(d, a, [&](IndexType ix) {
      std::string key;
      EncodeKey(ix, d, false, &key);
      cur[static_cast<int>(ix)].push_back({std::move(key), true});
    });
    out.tx_data.push_back(d);
  }
  // Index edits must be sorted; a datom may not be both added and retracted (the
  // maps above exclude it), so keys are unique per tree.
  for (int i = 0; i < kIndexCount; ++i) {
    for (auto* edits : {&cur[i], &hist[i]}) {
      if (edits->empty()) continue;
      index::SortEdits(edits);
      for (const auto& ed : *edits) out.key_bytes += ed.key.size();
      index::Child& root = edits == &cur[i] ? after->current[i] : after->history[i];
      DL_ASSIGN_OR_RETURN(root, index::Apply(*after->src, root, *edits));
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
  std::sort(out.tx_data.begin(), out.tx_data.end(), [](const Datom& x, const Datom& y) {
    if (x.e != y.e) return x.e < y.e;
    if (x.a != y.a) return x.a < y.a;
    if (x.v != y.v) return x.v < y.v;
    return x.added < y.added;
  });
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

Result<TxOutput> Transact(const std::shared_ptr<const DbState>& before, const edn::Node& tx_data,
                          int64_t now_millis) {
  Transactor t(before, now_millis);
  return t.Run(tx_data);
}

}  // namespace datalith::internal
