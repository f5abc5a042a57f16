// Force-included into every C++ file of the WASM build (wasm/CMakeLists.txt).
//
// Debian's Emscripten 3.1.6 ships libc++ 14, which lacks two C++20/17 library pieces
// the core uses: std::bit_cast and std::from_chars / std::to_chars for double. They are supplied here
// so the core stays plain C++20. Remove this file once the toolchain has them.
#pragma once

#ifdef __cplusplus
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

namespace std {

#ifndef __cpp_lib_bit_cast
template <class To, class From>
  requires(sizeof(To) == sizeof(From) && is_trivially_copyable_v<To> &&
           is_trivially_copyable_v<From>)
To bit_cast(const From& from) noexcept {
  To to;
  memcpy(&to, &from, sizeof(To));
  return to;
}
#endif

// from_chars semantics on top of strtod: no leading space or '+', "C" locale (the only
// one in the WASM build); out of range only when the value over- or underflows to
// infinity or zero.
inline from_chars_result from_chars(const char* first, const char* last, double& value,
                                    chars_format = chars_format::general) {
  if (first == last || *first == '+' || *first == ' ' || (*first >= '\t' && *first <= '\r'))
    return {first, errc::invalid_argument};
  string text(first, last);
  char* end = nullptr;
  errno = 0;
  double d = strtod(text.c_str(), &end);
  if (end == text.c_str()) return {first, errc::invalid_argument};
  const char* ptr = first + (end - text.c_str());
  if (errno == ERANGE && (d == 0 || isinf(d))) return {ptr, errc::result_out_of_range};
  value = d;
  return {ptr, errc()};
}

// The shortest text that reads back to `value`, fixed or scientific, whichever is
// shorter (fixed on a tie), like to_chars without a format. Finite values only.
inline to_chars_result to_chars(char* first, char* last, double value) {
  char sci[40];
  for (int digits = 1; digits <= 17; ++digits) {
    snprintf(sci, sizeof sci, "%.*e", digits - 1, value);
    if (strtod(sci, nullptr) == value) break;
  }
  // sci is [-]d[.ddd]e(+|-)xx: split it into sign, digits and exponent.
  string s(sci), mant(s.substr(0, s.find('e'))), ds;
  int exp = atoi(s.c_str() + s.find('e') + 1);
  bool neg = mant[0] == '-';
  for (char c : mant) if (c >= '0' && c <= '9') ds.push_back(c);
  string fixed = neg ? "-" : "";
  int n = static_cast<int>(ds.size());
  if (exp >= n - 1) {
    fixed += ds + string(exp - n + 1, '0');
  } else if (exp >= 0) {
    fixed += ds.substr(0, exp + 1) + "." + ds.substr(exp + 1);
  } else {
    fixed += "0." + string(-exp - 1, '0') + ds;
  }
  const string& out = fixed.size() <= s.size() ? fixed : s;
  if (static_cast<size_t>(last - first) < out.size()) return {last, errc::value_too_large};
  memcpy(first, out.data(), out.size());
  return {first + out.size(), errc()};
}

}  // namespace std
#endif
