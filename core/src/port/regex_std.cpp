// port/regex.h natively: std::regex (ECMAScript syntax). Compiles to nothing in the
// WASM build, which uses regex_js.cpp.
#ifndef __EMSCRIPTEN__

#include <memory>
#include <regex>
#include <unordered_map>
#include <vector>

#include "port/regex.h"

namespace datalith::port {
namespace {

using Regex = std::shared_ptr<const std::regex>;
using Iter = std::string_view::const_iterator;
using MatchResults = std::match_results<Iter>;

// `pattern` compiled, from a per-thread cache (a query calls a regex function per row).
Result<Regex> Compiled(const std::string& pattern) {
  constexpr size_t kRegexCacheSize = 256;
  thread_local std::unordered_map<std::string, Regex> cache;
  if (auto it = cache.find(pattern); it != cache.end()) return it->second;
  try {
    auto re = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
    if (cache.size() >= kRegexCacheSize) cache.clear();
    cache.emplace(pattern, re);
    return Regex(re);
  } catch (const std::regex_error& e) {
    return Status::Invalid("invalid regular expression " + Value::String(pattern).ToString() +
                           ": " + e.what());
  }
}

Value MatchValue(const MatchResults& m) {
  if (m.size() == 1) return Value::String(m.str(0));
  std::vector<Value> items;
  for (size_t g = 0; g < m.size(); ++g) {
    items.push_back(m[g].matched ? Value::String(m.str(g)) : Value::Nil());
  }
  return Value::Tuple(std::move(items));
}

Value Split(const std::regex& re, std::string_view s, int64_t limit) {
  std::vector<Value> parts;
  size_t start = 0;
  for (std::regex_iterator<Iter> it(s.begin(), s.end(), re), end; it != end; ++it) {
    if (limit > 0 && static_cast<int64_t>(parts.size()) + 1 >= limit) break;
    const auto pos = static_cast<size_t>(it->position(0));
    if (it->length(0) == 0 && pos == 0) continue;
    parts.push_back(Value::String(std::string(s.substr(start, pos - start))));
    start = pos + static_cast<size_t>(it->length(0));
  }
  const bool split = !parts.empty();
  parts.push_back(Value::String(std::string(s.substr(start))));
  if (split && limit == 0) {
    while (!parts.empty() && parts.back().str().empty()) parts.pop_back();
  }
  return Value::Tuple(std::move(parts));
}

}  // namespace

Status CompileRegex(const std::string& pattern) { return Compiled(pattern).status(); }

Result<Value> RunRegex(RegexOp op, const std::string& pattern, std::string_view s,
                       int64_t limit) {
  DL_ASSIGN_OR_RETURN(Regex re, Compiled(pattern));
  try {
    switch (op) {
      case RegexOp::kSearch:
      case RegexOp::kMatch: {
        MatchResults m;
        const bool found = op == RegexOp::kMatch ? std::regex_match(s.begin(), s.end(), m, *re)
                                                 : std::regex_search(s.begin(), s.end(), m, *re);
        return found ? MatchValue(m) : Value::Nil();
      }
      case RegexOp::kSearchAll: {
        std::vector<Value> out;
        for (std::regex_iterator<Iter> it(s.begin(), s.end(), *re), end; it != end; ++it) {
          out.push_back(MatchValue(*it));
        }
        return out.empty() ? Value::Nil() : Value::Tuple(std::move(out));
      }
      case RegexOp::kSplit:
        return Split(*re, s, limit);
      case RegexOp::kCheck:
        return Value::Boolean(true);
    }
  } catch (const std::regex_error& e) {
    return Status::Invalid(std::string("regular expression failed: ") + e.what());
  }
  return Value::Nil();
}

}  // namespace datalith::port

#endif  // !__EMSCRIPTEN__
