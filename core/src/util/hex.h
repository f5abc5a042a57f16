// Hexadecimal digits: addresses and uuids print lowercase; the EDN reader's messages
// and \uXXXX escapes print uppercase; parsing takes either case.
#pragma once

namespace datalith {

inline constexpr char kHexDigits[] = "0123456789abcdef";
inline constexpr char kHexDigitsUpper[] = "0123456789ABCDEF";

// Value of one hex digit (either case), or -1.
inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace datalith
