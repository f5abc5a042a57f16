// Shared by the fuzz targets: property checks that abort with a message, so libFuzzer
// keeps the input as a crash. Not assert(): a check must hold in every build type, and
// it says what broke, not only where.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "datalith/status.h"

namespace datalith::fuzz {

[[noreturn]] inline void Fail(const char* what, const char* file, int line, const std::string& detail) {
  std::fprintf(stderr, "\n%s:%d: check failed: %s\n%s\n", file, line, what, detail.c_str());
  std::abort();
}

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points past
// U+10FFFF): what the JSON encoders of the sync server require of every string.
inline bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t n;  // continuation bytes
    char32_t cp, min;
    if ((b & 0xe0) == 0xc0) {
      n = 1, cp = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
      n = 2, cp = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
      n = 3, cp = b & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// An error a decoder or parser returned for bad input: the expected code, and a message
// that names the place (`where` must occur in it, e.g. "line " or the blob's address).
inline void CheckError(const Status& s, Code code, std::string_view where, const char* file, int line) {
  if (s.ok()) Fail("an error status", file, line, "got OK");
  if (s.code() != code)
    Fail("the error code", file, line, std::string("want ") + CodeName(code) + ", got " + s.ToString());
  if (s.message().find(where) == std::string::npos)
    Fail("the error names where", file, line, "no \"" + std::string(where) + "\" in: " + s.message());
}

}  // namespace datalith::fuzz

#define FUZZ_CHECK(cond, detail)                                                    \
  do {                                                                              \
    if (!(cond)) ::datalith::fuzz::Fail(#cond, __FILE__, __LINE__, (detail));        \
  } while (0)

#define FUZZ_CHECK_ERROR(status, code, where) \
  ::datalith::fuzz::CheckError((status), (code), (where), __FILE__, __LINE__)
