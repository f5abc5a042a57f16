// The schema side of a transaction: rebuilding the attributes whose schema datoms it
// changed, after checking that the change is safe for the data already stored.
#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "tx/transactor_impl.h"
#include "util/varint.h"

namespace datalith::internal::tx {

// Rebuilds the attributes of entities whose schema datoms changed, validating that the
// change is safe for the data already stored.
Status Transactor::ApplySchema() {
  if (schema_entities_.empty()) return Status::Ok();
  auto next = std::make_shared<Schema>(*schema_);
  for (EntityId e : schema_entities_) {
    if (e <= sys::kLastSystem) return Status::Invalid("the system attributes cannot be changed");
    if ((e == sys::kTxClient || e == sys::kTxTempids) && !reserved_schema_ok_)
      return Status::Invalid("the client id attributes (:datalith.tx/*, entities 13 and 14) are reserved");
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
        if (TreeCount(*before_, false, 0) > 0) {
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

}  // namespace datalith::internal::tx
