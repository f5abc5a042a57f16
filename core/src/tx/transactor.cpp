#include "tx/transactor.h"

#include <algorithm>
#include <set>

#include "tx/transactor_impl.h"
#include "util/varint.h"

namespace datalith::internal {
namespace tx {
namespace {

bool IsSchemaAttr(const std::string& a) {
  if (a.size() < 4 || a[0] != 'd' || a[1] != 'b' || a[2] != '/') return false;
  static const std::set<std::string> kNames = {
      "db/ident",     "db/valueType", "db/cardinality", "db/unique",     "db/isComponent",
      "db/index",     "db/noHistory", "db/doc",         "db/tupleAttrs", "db/tupleType",
      "db/tupleTypes"};
  return kNames.count(a) > 0;
}

}  // namespace

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
  // A forged :datalith.tx/client would make a later transaction a duplicate.
  if (std::string_view(*op.attr).substr(0, kReservedNs.size()) == kReservedNs)
    return Err(op.form, "attribute :" + *op.attr + " is reserved: only the client id option writes it");
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
  DatomCursor c(before_, index, prefix, PrefixEnd(prefix), DatomCursor::View{}, /*fold=*/false);
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
  // Entities allocated by this transaction (and its tx entity) have no datoms before it.
  bool fresh = (e > before_->max_eid && !IsTxId(e)) || e == tx_;
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

Result<TxOutput> Transactor::Run(const Node& tx_data) {
  Result<TxOutput> out = RunSteps(tx_data);
  // A scan that met a missing node (lazy loading) saw too little: whatever the steps
  // concluded from it (a lookup ref with no entity, a failed :db/cas) is not an answer.
  if (!scan_status_.ok()) return scan_status_;
  return out;
}

Result<TxOutput> Transactor::RunSteps(const Node& tx_data) {
  DL_RETURN_IF_ERROR(Parse(tx_data));
  // Schema datoms first, so the rest of the transaction can use what it declares.
  std::vector<Op*> schema_ops, data_ops;
  for (Op& op : ops_) (op.schema ? schema_ops : data_ops).push_back(&op);
  DL_RETURN_IF_ERROR(RunOps(schema_ops));
  DL_RETURN_IF_ERROR(scan_status_);  // the schema must be complete before data ops use it
  DL_RETURN_IF_ERROR(ApplySchema());
  size_t schema_entities = schema_entities_.size();
  DL_RETURN_IF_ERROR(RunOps(data_ops));
  if (!client_.empty()) DL_RETURN_IF_ERROR(RecordClient());  // tempids are final here
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

}  // namespace tx

// Not inlined: with link-time optimisation the transactor would otherwise be inlined
// into Connection::Transact, which the WASM build compiles -Os, and be optimised for size.
[[gnu::noinline]] Result<TxOutput> Transact(const std::shared_ptr<const DbState>& before,
                                            const edn::Node& tx_data, int64_t now_millis,
                                            const std::string& client) {
  tx::Transactor t(before, now_millis);
  t.set_client(client);
  return t.Run(tx_data);
}

}  // namespace datalith::internal
