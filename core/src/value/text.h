// Private: EDN text helpers shared by Value::ToString (value.cpp) and edn::Write
// (edn/writer.cpp), so a value prints identically whichever path renders it.
#pragma once

#include <string>
#include <string_view>

namespace datalith::internal {

// Appends `cp` as UTF-8. Code points beyond U+10FFFF are not representable; callers
// validate first.
void AppendUtf8(char32_t cp, std::string* out);

// Appends `s` as a double-quoted EDN string literal. Control characters are escaped
// (named escapes where EDN has one, \uXXXX otherwise); other bytes pass through.
void AppendEdnString(std::string_view s, std::string* out);

// Appends the shortest text that reads back to exactly `d`, always with a `.` or an
// exponent so it reads as a float; ##Inf, ##-Inf and ##NaN for non-finite values.
void AppendEdnDouble(double d, std::string* out);

}  // namespace datalith::internal
