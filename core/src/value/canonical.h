// Private: the canonical double shared by Value (value.cpp) and the EDN node equality
// (edn/): -0.0 is 0.0 and every NaN is the one quiet NaN below (docs/format.md §1).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace datalith::internal {

inline constexpr uint64_t kCanonicalNaNBits = 0x7ff8000000000000ULL;

inline double CanonicalDouble(double d) {
  if (std::isnan(d)) return std::bit_cast<double>(kCanonicalNaNBits);
  if (d == 0) return 0.0;  // folds -0.0 into 0.0
  return d;
}

}  // namespace datalith::internal
