// The hash mixing steps shared by Value::Hash, the EDN node hash and the transactor's
// datom set. In-memory only (never stored), but kept bit-for-bit stable all the same.
#pragma once

#include <cstdint>
#include <string_view>

namespace datalith {

// splitmix64's finaliser: a bijection of 64-bit words that spreads every input bit.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// One splitmix64 step: the golden-ratio increment, then the finaliser.
inline uint64_t SplitMix64(uint64_t x) { return Mix64(x + 0x9e3779b97f4a7c15ULL); }

// FNV-1a over the bytes, then a splitmix64 step.
inline uint64_t HashBytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return SplitMix64(h);
}

}  // namespace datalith
