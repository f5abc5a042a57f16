// memcmp for the WASM build. musl's compares byte by byte, and B+tree key comparisons
// (std::string_view::compare) spend most of their time in it; this one compares
// eight bytes at a time (WebAssembly loads may be unaligned) and finds the order of
// the first differing word by comparing it big-endian. Only the sign of the result
// is defined, as for any memcmp. Replaces libc's at link time.
#include <cstddef>
#include <cstdint>
#include <cstring>

extern "C" int memcmp(const void* a, const void* b, size_t n) {
  auto p = static_cast<const unsigned char*>(a);
  auto q = static_cast<const unsigned char*>(b);
  for (; n >= 8; p += 8, q += 8, n -= 8) {
    uint64_t x, y;
    __builtin_memcpy(&x, p, 8);
    __builtin_memcpy(&y, q, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  for (; n > 0; ++p, ++q, --n) {
    if (*p != *q) return *p < *q ? -1 : 1;
  }
  return 0;
}
