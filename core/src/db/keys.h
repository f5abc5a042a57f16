// Datom keys: the byte keys of the index trees (docs/format.md §3). This file is the one
// place that knows their layout: every key is written by WriteKey below.
//
// EAVT  e a v tx          AEVT  a e v tx
// AVET  a v e tx          VAET  v a e tx   (v is a ref: 8 bytes)
// History trees use the same orders with one more byte: 1 = assertion, 0 = retraction.
// e, a, tx are 8-byte big-endian; v is the order-preserving value encoding.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

#include "datalith/datom.h"
#include "datalith/status.h"
#include "util/varint.h"

namespace datalith::internal {

// Bytes of a key of `index` whose value encodes to `value_size` bytes (VAET keys hold
// the ref as 8 bytes instead), plus the flag byte of a history key.
inline size_t KeySize(IndexType index, size_t value_size, bool history) {
  return (index == IndexType::kVaet ? 32 : 24 + value_size) + (history ? 1 : 0);
}

// Writes the key of (e, a, v, tx) in `index` at `out`, which has room for KeySize
// bytes, and returns its end. `value` is v's encoding (EncodeValue), unused for VAET;
// `ref` is v's entity id, used only for VAET. Inline: the transactor writes every key
// of a transaction through it, into buffers sized up front.
inline char* WriteKey(char* out, IndexType index, EntityId e, EntityId a, std::string_view value,
                      EntityId ref, EntityId tx) {
  auto put_value = [&](char* at) {
    std::memcpy(at, value.data(), value.size());
    return at + value.size();
  };
  switch (index) {
    case IndexType::kEavt:
      out = put_value(StoreFixed64BE(StoreFixed64BE(out, e), a));
      break;
    case IndexType::kAevt:
      out = put_value(StoreFixed64BE(StoreFixed64BE(out, a), e));
      break;
    case IndexType::kAvet:
      out = StoreFixed64BE(put_value(StoreFixed64BE(out, a)), e);
      break;
    case IndexType::kVaet:
      out = StoreFixed64BE(StoreFixed64BE(StoreFixed64BE(out, ref), a), e);
      break;
  }
  return StoreFixed64BE(out, tx);
}

// The same for a history key: the key, then 1 for an assertion or 0 for a retraction.
inline char* WriteHistoryKey(char* out, IndexType index, EntityId e, EntityId a,
                             std::string_view value, EntityId ref, EntityId tx, bool added) {
  out = WriteKey(out, index, e, a, value, ref, tx);
  *out++ = added ? 1 : 0;
  return out;
}

// Appends the key of `d` (a history key when `history`).
void EncodeKey(IndexType index, const Datom& d, bool history, std::string* out);
// Decodes a key of `index` (history keys carry the added flag).
Status DecodeKey(IndexType index, std::string_view key, bool history, Datom* out);

// Bounds of a key range: every key that starts with `prefix`. The upper bound is
// the prefix's successor, or empty (unbounded) when the prefix is all 0xff.
std::string PrefixEnd(std::string_view prefix);

}  // namespace datalith::internal
