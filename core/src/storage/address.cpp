// Address: the 128-bit content hash that names every blob in a Store.
#include <xxhash.h>

#include <cstring>

#include "datalith/store.h"
#include "util/hex.h"

namespace datalith {

namespace {

constexpr size_t kAddressBytes = 16;
constexpr size_t kAddressHexChars = 2 * kAddressBytes;

void StoreBigEndian64(uint64_t v, uint8_t* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

bool Address::IsZero() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::string Address::Hex() const {
  std::string out(kAddressHexChars, '0');
  for (size_t i = 0; i < kAddressBytes; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

Result<Address> Address::FromHex(std::string_view hex) {
  if (hex.size() != kAddressHexChars) {
    return Status::Invalid("address `" + std::string(hex) + "`: expected " +
                           std::to_string(kAddressHexChars) + " hex digits, got " +
                           std::to_string(hex.size()));
  }
  Address a;
  for (size_t i = 0; i < kAddressBytes; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::Invalid("address `" + std::string(hex) + "`: invalid hex digit at position " +
                             std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    }
    a.bytes[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return a;
}

Address Address::Of(std::string_view canonical) {
  // Big-endian (high64 then low64) so that the hex form matches XXH3-128's canonical
  // representation and byte order is stable across platforms (docs/format.md).
  XXH128_hash_t h = XXH3_128bits(canonical.data(), canonical.size());
  Address a;
  StoreBigEndian64(h.high64, a.bytes.data());
  StoreBigEndian64(h.low64, a.bytes.data() + 8);
  return a;
}

size_t AddressHash::operator()(const Address& a) const {
  // The address is already a uniform hash; its first word is a fine bucket key.
  uint64_t v;
  std::memcpy(&v, a.bytes.data(), sizeof(v));
  return static_cast<size_t>(v);
}

}  // namespace datalith
