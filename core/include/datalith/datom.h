// Datoms, entity ids and index orders.
#pragma once

#include <cstdint>
#include <string>

#include "datalith/value.h"

namespace datalith {

using EntityId = uint64_t;

// Entity ids below kTx0 are entities (1..kFirstUserEid-1 reserved for the system
// schema); transaction ids live in their own range above it. Both stay below 2^53 so
// they are exact JS numbers.
constexpr EntityId kFirstUserEid = 1000;
constexpr EntityId kTx0 = EntityId{1} << 42;

inline bool IsTxId(EntityId e) { return e >= kTx0; }

// [e a v tx added]. `a` is the attribute's entity id; Db::Ident() names it.
struct Datom {
  EntityId e = 0;
  EntityId a = 0;
  Value v;
  EntityId tx = 0;
  bool added = true;

  bool operator==(const Datom& o) const {
    return e == o.e && a == o.a && v == o.v && tx == o.tx && added == o.added;
  }
};

// Index orders. Serialized in commit records: do not renumber.
enum class IndexType : uint8_t {
  kEavt = 0,
  kAevt = 1,
  kAvet = 2,  // every attribute unless the schema says :db/index false
  kVaet = 3,  // reverse refs: only datoms whose value is a ref
};
constexpr int kIndexCount = 4;

const char* IndexName(IndexType t);  // "eavt", ...
bool ParseIndexName(const std::string& name, IndexType* out);

}  // namespace datalith
