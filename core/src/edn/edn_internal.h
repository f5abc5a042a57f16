// Private to edn/: what the readers (reader.cpp, json_tx.cpp), the writer (writer.cpp),
// node equality and hashing (node.cpp) and the Value conversions (convert.cpp) share.
#pragma once

#include <cstdint>
#include <string>

#include "datalith/edn.h"
#include "util/hex.h"

namespace datalith::edn::detail {

// Collections, tags and discards nest by recursion; past this depth the readers report
// an error instead of risking the stack.
constexpr int kMaxDepth = 512;

inline bool IsSurrogate(char32_t cp) { return cp >= 0xd800 && cp <= 0xdfff; }

// Four uppercase hex digits of `cp`'s low 16 bits (messages and \uXXXX escapes).
inline std::string Hex4(char32_t cp) {
  std::string out;
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHexDigitsUpper[(cp >> shift) & 0xf]);
  return out;
}

// "line L, col C", and an Invalid status that starts with it.
std::string WhereText(Pos p);
Status ErrorAt(Pos p, const std::string& message);
// "integer", "map", ... for messages.
const char* KindName(Kind k);

// Why `name` is not a valid symbol (or keyword name, without the colon), or nullptr
// (reader.cpp; also json_tx.cpp).
const char* InvalidNameReason(std::string_view name, bool keyword);

// A hash consistent with Equal (node.cpp).
uint64_t NodeHash(const Node& n);

// The form as written, cut to a readable length for messages (writer.cpp).
std::string Quote(const Node& n);

}  // namespace datalith::edn::detail
