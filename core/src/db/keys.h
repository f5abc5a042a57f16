// Datom keys: the byte keys of the index trees (docs/format.md §3).
//
// EAVT  e a v tx          AEVT  a e v tx
// AVET  a v e tx          VAET  v a e tx   (v is a ref: 8 bytes)
// History trees use the same orders with one more byte: 1 = assertion, 0 = retraction.
// e, a, tx are 8-byte big-endian; v is the order-preserving value encoding.
#pragma once

#include <string>
#include <string_view>

#include "datalith/datom.h"
#include "datalith/status.h"

namespace datalith::internal {

void EncodeKey(IndexType index, const Datom& d, bool history, std::string* out);
// Decodes a key of `index` (history keys carry the added flag).
Status DecodeKey(IndexType index, std::string_view key, bool history, Datom* out);

// Bounds of a key range: every key that starts with `prefix`. The upper bound is
// the prefix's successor, or empty (unbounded) when the prefix is all 0xff.
std::string PrefixEnd(std::string_view prefix);

}  // namespace datalith::internal
