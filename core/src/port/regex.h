// Regular expressions (ECMAScript syntax) from the platform: std::regex natively, the
// JS engine's RegExp in the WASM build, which leaves libc++'s regex out of the package
// (~50 KB of its size budget). regex_std.cpp and regex_js.cpp implement it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "datalith/status.h"
#include "datalith/value.h"

namespace datalith::port {

// Errors are whole phrases ("invalid regular expression \"(\": ...", "regular
// expression failed: ...") for the caller to prefix with its name. Callers bound the
// pattern and subject sizes: std::regex recurses per character.

// Compiles `pattern` natively (cached per thread), so an invalid one fails here. The
// JS engine compiles per operation instead: in the WASM build this accepts every
// pattern and an invalid one fails in RunRegex.
Status CompileRegex(const std::string& pattern);

enum class RegexOp : uint8_t {
  // The first match (kSearch) or a match of the whole subject (kMatch): the matched
  // text, or with groups [match group1 ...] (nil for a group that took no part); nil
  // if none.
  kSearch = 0,
  kMatch = 1,
  kSearchAll = 2,  // every match, each as kSearch gives it, in a tuple; nil if none
  // The parts between matches, a tuple of strings, with Java's rules: a positive
  // `limit` caps the number of parts, 0 drops trailing empty parts, a negative limit
  // keeps them; a zero-width match at the start makes no leading empty part.
  kSplit = 3,
  kCheck = 4,  // true if the pattern compiles
};

Result<Value> RunRegex(RegexOp op, const std::string& pattern, std::string_view subject,
                       int64_t limit = 0);

}  // namespace datalith::port
