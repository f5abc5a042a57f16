#include "datalith/schema.h"

#include <algorithm>

#include "util/varint.h"

namespace datalith {
namespace {

struct SysAttr {
  EntityId id;
  const char* ident;
  ValueType type;
  bool many;
  bool indexed;
};

// The bootstrap schema. Ids and idents are frozen.
constexpr SysAttr kSystem[] = {
    {sys::kIdent, "db/ident", ValueType::kKeyword, false, true},
    {sys::kValueType, "db/valueType", ValueType::kKeyword, false, true},
    {sys::kCardinality, "db/cardinality", ValueType::kKeyword, false, true},
    {sys::kUnique, "db/unique", ValueType::kKeyword, false, true},
    {sys::kIsComponent, "db/isComponent", ValueType::kBoolean, false, true},
    {sys::kIndex, "db/index", ValueType::kBoolean, false, true},
    {sys::kNoHistory, "db/noHistory", ValueType::kBoolean, false, true},
    {sys::kDoc, "db/doc", ValueType::kString, false, true},
    {sys::kTupleAttrs, "db/tupleAttrs", ValueType::kTuple, false, true},
    {sys::kTupleType, "db/tupleType", ValueType::kKeyword, false, true},
    {sys::kTupleTypes, "db/tupleTypes", ValueType::kTuple, false, true},
    {sys::kTxInstant, "db/txInstant", ValueType::kInstant, false, true},
};

// Flags byte of a serialized attribute. Do not renumber.
constexpr uint8_t kFlagMany = 1, kFlagComponent = 2, kFlagIndexed = 4, kFlagNoHistory = 8;

void PutString(std::string* out, const std::string& s) {
  PutVarint(out, s.size());
  out->append(s);
}

bool GetString(std::string_view in, size_t* pos, std::string* s) {
  uint64_t n;
  if (!GetVarint(in, pos, &n) || n > in.size() - *pos) return false;
  s->assign(in.substr(*pos, n));
  *pos += n;
  return true;
}

}  // namespace

std::shared_ptr<const Schema> Schema::Bootstrap(SchemaFlexibility flex) {
  auto s = std::make_shared<Schema>();
  s->flex_ = flex;
  for (const SysAttr& sa : kSystem) {
    Attribute a;
    a.id = sa.id;
    a.ident = sa.ident;
    a.type = sa.type;
    a.many = sa.many;
    a.indexed = sa.indexed;
    if (sa.id == sys::kIdent) a.unique = Unique::kIdentity;
    s->PutAttr(a);
    s->SetIdent(sa.id, sa.ident);
  }
  s->Reindex();
  return s;
}

const Attribute* Schema::AttrByIdent(const std::string& ident) const {
  auto it = by_ident_.find(ident);
  return it == by_ident_.end() ? nullptr : Attr(it->second);
}

std::optional<EntityId> Schema::Entid(const std::string& ident) const {
  auto it = by_ident_.find(ident);
  if (it == by_ident_.end()) return std::nullopt;
  return it->second;
}

const std::string* Schema::Ident(EntityId id) const {
  auto it = idents_.find(id);
  return it == idents_.end() ? nullptr : &it->second;
}

const std::vector<EntityId>* Schema::TuplesOver(EntityId a) const {
  auto it = tuples_over_.find(a);
  return it == tuples_over_.end() ? nullptr : &it->second;
}

void Schema::SetIdent(EntityId id, const std::string& ident) {
  auto old = idents_.find(id);
  if (old != idents_.end()) by_ident_.erase(old->second);
  idents_[id] = ident;
  by_ident_[ident] = id;
  auto a = attrs_.find(id);
  if (a != attrs_.end()) a->second.ident = ident;
}

void Schema::RemoveIdent(EntityId id) {
  auto old = idents_.find(id);
  if (old == idents_.end()) return;
  by_ident_.erase(old->second);
  idents_.erase(old);
}

void Schema::PutAttr(const Attribute& attr) { attrs_[attr.id] = attr; }
void Schema::RemoveAttr(EntityId id) { attrs_.erase(id); }

void Schema::Reindex() {
  tuples_over_.clear();
  for (auto& [id, a] : attrs_) {
    for (EntityId src : a.tuple_attrs) tuples_over_[src].push_back(id);
  }
  for (auto& [src, list] : tuples_over_) std::sort(list.begin(), list.end());
}

void Schema::Encode(std::string* out) const {
  out->push_back(static_cast<char>(flex_));
  // Sorted, so equal schemas encode to equal bytes.
  std::vector<std::pair<EntityId, std::string>> idents(idents_.begin(), idents_.end());
  std::sort(idents.begin(), idents.end());
  PutVarint(out, idents.size());
  for (const auto& [id, ident] : idents) {
    PutVarint(out, id);
    PutString(out, ident);
  }
  std::vector<const Attribute*> attrs;
  for (const auto& [id, a] : attrs_) attrs.push_back(&a);
  std::sort(attrs.begin(), attrs.end(), [](auto* x, auto* y) { return x->id < y->id; });
  PutVarint(out, attrs.size());
  for (const Attribute* a : attrs) {
    PutVarint(out, a->id);
    out->push_back(static_cast<char>(a->type));
    out->push_back(static_cast<char>(a->unique));
    uint8_t flags = (a->many ? kFlagMany : 0) | (a->component ? kFlagComponent : 0) |
                    (a->indexed ? kFlagIndexed : 0) | (a->no_history ? kFlagNoHistory : 0);
    out->push_back(static_cast<char>(flags));
    PutString(out, a->doc);
    out->push_back(static_cast<char>(a->tuple_type));
    PutVarint(out, a->tuple_attrs.size());
    for (EntityId t : a->tuple_attrs) PutVarint(out, t);
    PutVarint(out, a->tuple_types.size());
    for (ValueType t : a->tuple_types) out->push_back(static_cast<char>(t));
  }
}

Result<std::shared_ptr<Schema>> Schema::Decode(std::string_view in, size_t* pos) {
  auto bad = [&](const char* what) {
    return Status::Corruption(std::string("schema: ") + what + " at byte " + std::to_string(*pos));
  };
  auto s = std::make_shared<Schema>();
  auto byte = [&](uint8_t* b) {
    if (*pos >= in.size()) return false;
    *b = static_cast<uint8_t>(in[(*pos)++]);
    return true;
  };
  auto type = [&](ValueType* t) {
    uint8_t b;
    if (!byte(&b) || b > static_cast<uint8_t>(ValueType::kTuple)) return false;
    *t = static_cast<ValueType>(b);
    return true;
  };
  uint8_t flex;
  if (!byte(&flex) || flex > 1) return bad("bad flexibility");
  s->flex_ = static_cast<SchemaFlexibility>(flex);
  uint64_t n;
  if (!GetVarint(in, pos, &n) || n > in.size()) return bad("bad ident count");
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id;
    std::string ident;
    if (!GetVarint(in, pos, &id) || !GetString(in, pos, &ident)) return bad("truncated ident");
    s->SetIdent(id, ident);
  }
  if (!GetVarint(in, pos, &n) || n > in.size()) return bad("bad attribute count");
  for (uint64_t i = 0; i < n; ++i) {
    Attribute a;
    uint8_t unique, flags;
    if (!GetVarint(in, pos, &a.id) || !type(&a.type) || !byte(&unique) || unique > 2 ||
        !byte(&flags) || !GetString(in, pos, &a.doc) || !type(&a.tuple_type))
      return bad("truncated attribute");
    a.unique = static_cast<Unique>(unique);
    a.many = flags & kFlagMany;
    a.component = flags & kFlagComponent;
    a.indexed = flags & kFlagIndexed;
    a.no_history = flags & kFlagNoHistory;
    uint64_t m;
    if (!GetVarint(in, pos, &m) || m > in.size()) return bad("bad tuple attrs");
    for (uint64_t j = 0; j < m; ++j) {
      uint64_t t;
      if (!GetVarint(in, pos, &t)) return bad("truncated tuple attrs");
      a.tuple_attrs.push_back(t);
    }
    if (!GetVarint(in, pos, &m) || m > in.size()) return bad("bad tuple types");
    for (uint64_t j = 0; j < m; ++j) {
      ValueType t;
      if (!type(&t)) return bad("truncated tuple types");
      a.tuple_types.push_back(t);
    }
    const std::string* ident = s->Ident(a.id);
    if (!ident) return bad("attribute without ident");
    a.ident = *ident;
    s->PutAttr(a);
  }
  s->Reindex();
  return s;
}

std::optional<ValueType> ParseValueTypeName(const std::string& name) {
  static const std::pair<const char*, ValueType> kNames[] = {
      {"boolean", ValueType::kBoolean}, {"long", ValueType::kLong},
      {"double", ValueType::kDouble},   {"float", ValueType::kDouble},
      {"string", ValueType::kString},   {"keyword", ValueType::kKeyword},
      {"symbol", ValueType::kSymbol},   {"ref", ValueType::kRef},
      {"instant", ValueType::kInstant}, {"uuid", ValueType::kUuid},
      {"tuple", ValueType::kTuple},
  };
  for (const auto& [n, t] : kNames) {
    if (name == n) return t;
  }
  return std::nullopt;
}

const char* ValueTypeKeyword(ValueType t) {
  switch (t) {
    case ValueType::kBoolean: return "db.type/boolean";
    case ValueType::kLong: return "db.type/long";
    case ValueType::kDouble: return "db.type/double";
    case ValueType::kString: return "db.type/string";
    case ValueType::kKeyword: return "db.type/keyword";
    case ValueType::kSymbol: return "db.type/symbol";
    case ValueType::kRef: return "db.type/ref";
    case ValueType::kInstant: return "db.type/instant";
    case ValueType::kUuid: return "db.type/uuid";
    case ValueType::kTuple: return "db.type/tuple";
    case ValueType::kNil: return "db.type/nil";
  }
  return "db.type/nil";
}

}  // namespace datalith
