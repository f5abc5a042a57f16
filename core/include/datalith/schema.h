// Schema: attributes and idents, derived from schema datoms in the database.
//
// The schema is data: `[:db/add ?a :db/ident :person/name]` etc. A Schema object is
// an immutable view of those datoms at one basis, rebuilt by the transactor when a
// transaction touches schema attributes and saved in each commit record so that
// opening a database does not scan the indices. Thread-compatible (immutable).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "datalith/datom.h"
#include "datalith/value.h"

namespace datalith {

// Serialized: do not renumber.
enum class SchemaFlexibility : uint8_t {
  kWrite = 0,  // attributes must be declared; value types are checked
  kRead = 1,   // any attribute; undeclared ones are created on first use, untyped
};

enum class Unique : uint8_t { kNone = 0, kValue = 1, kIdentity = 2 };

struct Attribute {
  EntityId id = 0;
  std::string ident;                    // "person/name"
  ValueType type = ValueType::kNil;     // kNil: untyped (schema-on-read)
  bool many = false;                    // :db.cardinality/many
  Unique unique = Unique::kNone;
  bool component = false;
  bool indexed = true;                  // in AVET (:db/index false opts out)
  bool no_history = false;
  std::string doc;
  std::vector<EntityId> tuple_attrs;    // composite tuple: the source attributes
  std::vector<ValueType> tuple_types;   // heterogeneous tuple: element types
  ValueType tuple_type = ValueType::kNil;  // homogeneous tuple: element type

  bool is_ref() const { return type == ValueType::kRef; }
  bool in_avet() const { return indexed || unique != Unique::kNone; }
};

// The reserved system attributes. Their ids are frozen (they appear in every store).
namespace sys {
constexpr EntityId kIdent = 1;
constexpr EntityId kValueType = 2;
constexpr EntityId kCardinality = 3;
constexpr EntityId kUnique = 4;
constexpr EntityId kIsComponent = 5;
constexpr EntityId kIndex = 6;
constexpr EntityId kNoHistory = 7;
constexpr EntityId kDoc = 8;
constexpr EntityId kTupleAttrs = 9;
constexpr EntityId kTupleType = 10;
constexpr EntityId kTupleTypes = 11;
constexpr EntityId kTxInstant = 12;
constexpr EntityId kLastSystem = 12;
// Reserved for the client ids of exactly-once transactions (TxOptions::client_id), but
// not bootstrap attributes: the first transaction with a client id installs them
// (docs/format.md §3), so databases written without them stay as they were.
constexpr EntityId kTxClient = 13;   // :datalith.tx/client, string, :db.unique/value
constexpr EntityId kTxTempids = 14;  // :datalith.tx/tempids, string, :db/index false
}  // namespace sys

class Schema {
 public:
  // The bootstrap schema: only the system attributes.
  static std::shared_ptr<const Schema> Bootstrap(SchemaFlexibility flex);

  SchemaFlexibility flexibility() const { return flex_; }
  // The attribute with this id, or nullptr.
  const Attribute* Attr(EntityId id) const {
    auto it = attrs_.find(id);
    return it == attrs_.end() ? nullptr : &it->second;
  }
  // The attribute named `ident` ("person/name"), or nullptr.
  const Attribute* AttrByIdent(const std::string& ident) const;
  // Any entity's :db/ident (attributes and enum idents alike).
  std::optional<EntityId> Entid(const std::string& ident) const;
  const std::string* Ident(EntityId id) const;
  const std::unordered_map<EntityId, Attribute>& attributes() const { return attrs_; }
  const std::unordered_map<EntityId, std::string>& idents() const { return idents_; }
  // Attributes that are composite tuples over `a`.
  const std::vector<EntityId>* TuplesOver(EntityId a) const;

  // Mutation, for the transactor building the next schema (on a copy).
  void SetIdent(EntityId id, const std::string& ident);
  void RemoveIdent(EntityId id);
  void PutAttr(const Attribute& attr);
  void RemoveAttr(EntityId id);
  void Reindex();  // recompute derived maps after mutations

  // Binary form kept in commit records (docs/format.md §4).
  void Encode(std::string* out) const;
  static Result<std::shared_ptr<Schema>> Decode(std::string_view in, size_t* pos);

 private:
  SchemaFlexibility flex_ = SchemaFlexibility::kWrite;
  std::unordered_map<EntityId, Attribute> attrs_;
  std::unordered_map<EntityId, std::string> idents_;
  std::unordered_map<std::string, EntityId> by_ident_;
  std::unordered_map<EntityId, std::vector<EntityId>> tuples_over_;
};

// "long" → ValueType::kLong for the :db.type/* keywords (name after the slash).
std::optional<ValueType> ParseValueTypeName(const std::string& name);
const char* ValueTypeKeyword(ValueType t);  // "db.type/long"

}  // namespace datalith
