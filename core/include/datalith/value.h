// Value: the V of a datom, and the scalar currency of queries.
//
// Values have one total order across types: first the type tag (ValueType, below),
// then the value within the type. The order is defined by the key encoding in
// docs/format.md and is identical in the native and the WASM build; Compare() agrees
// with memcmp of EncodeValue() bytes. Values are immutable and cheap to copy
// (tuples share their elements). Thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "datalith/status.h"

namespace datalith {

// Type tags. Serialized in keys and nodes: do not renumber.
enum class ValueType : uint8_t {
  kNil = 0,  // only inside tuples and query results; never a datom value
  kBoolean = 1,
  kLong = 2,
  kDouble = 3,
  kString = 4,
  kKeyword = 5,  // text without the leading colon: "person/name"
  kSymbol = 6,
  kRef = 7,      // entity id
  kInstant = 8,  // milliseconds since the Unix epoch, UTC
  kUuid = 9,
  kTuple = 10,
};

const char* ValueTypeName(ValueType t);

struct Uuid {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const Uuid& o) const { return hi == o.hi && lo == o.lo; }
  // Canonical 8-4-4-4-12 lowercase hex.
  std::string ToString() const;
  static Result<Uuid> Parse(std::string_view text);
};

class Value {
 public:
  Value() = default;  // nil

  static Value Nil() { return Value(); }
  static Value Boolean(bool b);
  static Value Long(int64_t i);
  // -0.0 becomes 0.0 and every NaN the canonical NaN, so equal values encode equally.
  static Value Double(double d);
  static Value String(std::string s);
  static Value Keyword(std::string name);  // "ns/name", no colon
  static Value Symbol(std::string name);
  static Value Ref(uint64_t eid);
  static Value Instant(int64_t millis);
  static Value MakeUuid(Uuid u);
  static Value Tuple(std::vector<Value> items);

  ValueType type() const { return type_; }
  bool is_nil() const { return type_ == ValueType::kNil; }
  bool is_number() const { return type_ == ValueType::kLong || type_ == ValueType::kDouble; }

  bool boolean() const { return u_.b; }
  int64_t long_value() const { return u_.i; }  // kLong and kInstant
  double double_value() const { return u_.d; }
  uint64_t ref() const { return u_.u; }
  int64_t instant() const { return u_.i; }
  Uuid uuid() const { return u_.uuid; }
  const std::string& str() const { return s_; }  // kString, kKeyword, kSymbol
  const std::vector<Value>& tuple() const;
  // A number as double (kLong or kDouble); other types give 0.
  double AsDouble() const;

  // Total order: type tag, then value. Returns <0, 0, >0.
  static int Compare(const Value& a, const Value& b);
  bool operator==(const Value& o) const { return Compare(*this, o) == 0; }
  bool operator!=(const Value& o) const { return Compare(*this, o) != 0; }
  bool operator<(const Value& o) const { return Compare(*this, o) < 0; }
  size_t Hash() const;

  // EDN text: "foo" :kw sym 42 1.5 #inst "..." #uuid "..." [1 2]; refs print as numbers.
  std::string ToString() const;

 private:
  friend Status DecodeValueInto(std::string_view bytes, size_t* pos, Value* out);

  ValueType type_ = ValueType::kNil;
  union U {
    bool b;
    int64_t i;
    uint64_t u;
    double d;
    Uuid uuid;
    U() : uuid() {}
  } u_;
  std::string s_;
  std::shared_ptr<const std::vector<Value>> tuple_;
};

struct ValueHash {
  size_t operator()(const Value& v) const { return v.Hash(); }
};

// Order-preserving key encoding (docs/format.md): memcmp(EncodeValue(a), EncodeValue(b))
// has the sign of Value::Compare(a, b). Appends to *out.
void EncodeValue(const Value& v, std::string* out);
// Decodes one value at *pos and advances it. Corruption on malformed bytes.
Result<Value> DecodeValue(std::string_view bytes, size_t* pos);
// The same into *out, whose text buffer is reused: a scan decoding key after key into
// one Datom allocates nothing for strings that fit the last one's buffer. On error
// *out is unspecified.
Status DecodeValueInto(std::string_view bytes, size_t* pos, Value* out);

// Milliseconds since the epoch → "2020-01-02T03:04:05.006Z" and back (RFC 3339, any
// offset accepted on parse).
std::string FormatInstant(int64_t millis);
Result<int64_t> ParseInstant(std::string_view text);

}  // namespace datalith
