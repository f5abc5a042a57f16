// SHA-256 (OpenSSL's), for comparing secrets by digest: two digests are always 32
// bytes, so a constant-time comparison of digests leaks neither a token's bytes nor its
// length (a plain comparison stops at the first differing byte or at a length
// mismatch). Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace datalith::sync {

using Digest = std::array<uint8_t, 32>;

Digest Sha256(std::string_view data);

// Compares every byte, whatever differs first.
bool DigestsEqual(const Digest& a, const Digest& b);

}  // namespace datalith::sync
