// LEB128 unsigned varints and fixed big-endian integers for the storage formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace datalith {

// The varint of `v` at `p` (room for kMaxVarint bytes); returns the end.
constexpr size_t kMaxVarint = 10;
inline char* StoreVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void PutVarint(std::string* out, uint64_t v) {
  char b[kMaxVarint];
  out->append(b, static_cast<size_t>(StoreVarint(b, v) - b));
}

// Reads a varint at *pos; false on truncation or overlong encodings.
inline bool GetVarint(std::string_view in, size_t* pos, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    uint8_t b = static_cast<uint8_t>(in[(*pos)++]);
    result |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}

// `v` as 8 big-endian bytes at `p`; returns the end.
inline char* StoreFixed64BE(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
  return p + 8;
}

inline void PutFixed64BE(std::string* out, uint64_t v) {
  char b[8];
  out->append(b, static_cast<size_t>(StoreFixed64BE(b, v) - b));
}

inline uint64_t GetFixed64BE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace datalith
