// The built-in functions on keywords and names, collections, strings and regular
// expressions; the WASM build compiles them for size (see below).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

#include "port/regex.h"
#include "query/builtin_call.h"

namespace datalith::query::builtin {
namespace {

// libstdc++'s std::regex matches ECMAScript patterns by recursion, one level per
// character a repetition consumes (250-650 bytes of stack each), so a long match on a
// long string overflows the stack and kills the process. Longer strings are refused:
// 8 KiB stays within a few MiB of stack for the patterns we measured.
constexpr size_t kMaxRegexInput = 8192;
// Compiling recurses once per nesting level of the pattern, so patterns are capped too.
constexpr size_t kMaxRegexPattern = 4096;

// The WASM build compiles the keyword, collection, string and regex functions below
// for size (the npm package's size budget, docs/wasm.md); comparisons, arithmetic and
// aggregates stay compiled for speed.
#ifdef __EMSCRIPTEN__
#pragma clang attribute push(__attribute__((minsize)), apply_to = function)
#endif

// ---- keywords, names, types ----

bool IsNamed(const Value& v) {
  return v.type() == ValueType::kKeyword || v.type() == ValueType::kSymbol;
}

// The position of the namespace separator of a keyword or symbol, or npos.
size_t NamespaceEnd(const std::string& s) { return s == "/" ? std::string::npos : s.find('/'); }

Result<Value> Keyword(const Call& c) {
  if (c.size() == 2) {
    if (!c[0].is_nil() && c[0].type() != ValueType::kString)
      return c.Expected(0, "a string or nil");
    DL_ASSIGN_OR_RETURN(std::string_view name, c.String(1));
    return Value::Keyword(c[0].is_nil() ? std::string(name) : c[0].str() + "/" + std::string(name));
  }
  if (c[0].is_nil() || c[0].type() == ValueType::kKeyword) return c[0];
  if (c[0].type() != ValueType::kString && c[0].type() != ValueType::kSymbol) {
    return c.Expected(0, "a string, keyword or symbol");
  }
  return Value::Keyword(c[0].str());
}

Result<Value> Name(const Call& c) {
  if (c[0].type() == ValueType::kString) return c[0];
  if (!IsNamed(c[0])) return c.Expected(0, "a string, keyword or symbol");
  const std::string& s = c[0].str();
  const size_t slash = NamespaceEnd(s);
  return Value::String(slash == std::string::npos ? s : s.substr(slash + 1));
}

Result<Value> Namespace(const Call& c) {
  if (!IsNamed(c[0])) return c.Expected(0, "a keyword or symbol");
  const std::string& s = c[0].str();
  const size_t slash = NamespaceEnd(s);
  return slash == std::string::npos ? Value::Nil() : Value::String(s.substr(0, slash));
}

Result<Value> Type(const Call& c) { return Value::Keyword(ValueTypeName(c[0].type())); }

// ---- collections ----

Result<Value> Vector(const Call& c) { return Value::Tuple(c.args()); }

Result<Value> Set(const Call& c) {
  DL_ASSIGN_OR_RETURN(const Args* items, c.Items(0));
  Args out = *items;
  SortDistinct(&out);
  return Value::Tuple(std::move(out));
}

bool IsContinuation(char ch) { return (static_cast<uint8_t>(ch) & 0xc0) == 0x80; }

int64_t CodePoints(std::string_view s) {
  return std::count_if(s.begin(), s.end(), [](char ch) { return !IsContinuation(ch); });
}

// The byte offset of code point k (k <= CodePoints(s)).
size_t ByteOffset(std::string_view s, int64_t k) {
  for (size_t p = 0; p < s.size(); ++p) {
    if (!IsContinuation(s[p]) && k-- == 0) return p;
  }
  return s.size();
}

// The length of a string (in code points) or a tuple; nil is empty.
Result<int64_t> Length(const Call& c) {
  const Value& v = c[0];
  if (v.is_nil()) return 0;
  if (v.type() == ValueType::kString) return CodePoints(v.str());
  if (v.type() == ValueType::kTuple) return static_cast<int64_t>(v.tuple().size());
  return c.Expected(0, "a string or tuple");
}

Result<Value> Count(const Call& c) {
  DL_ASSIGN_OR_RETURN(int64_t n, Length(c));
  return Value::Long(n);
}

Result<Value> IsEmpty(const Call& c) {
  DL_ASSIGN_OR_RETURN(int64_t n, Length(c));
  return Value::Boolean(n == 0);
}

Result<Value> NotEmpty(const Call& c) {
  DL_ASSIGN_OR_RETURN(int64_t n, Length(c));
  return n == 0 ? Value::Nil() : c[0];
}

Result<Value> Contains(const Call& c) {  // membership (sets and vectors are both tuples)
  DL_ASSIGN_OR_RETURN(const Args* items, c.Items(0));
  return Value::Boolean(std::find(items->begin(), items->end(), c[1]) != items->end());
}

Result<Value> Get(const Call& c) {  // (get tuple index default?)
  const Value fallback = c.size() == 3 ? c[2] : Value::Nil();
  if (c[0].type() != ValueType::kTuple || c[1].type() != ValueType::kLong) return fallback;
  const int64_t i = c[1].long_value();
  const Args& items = c[0].tuple();
  return i >= 0 && i < static_cast<int64_t>(items.size()) ? items[static_cast<size_t>(i)]
                                                          : fallback;
}

Status TooLong(const Call& c, const std::string& n) {
  return c.Fail("would produce " + n + " elements, more than the limit of " +
                std::to_string(kMaxElements));
}

Result<Value> Range(const Call& c) {  // (range end), (range start end), (range start end step)
  DL_RETURN_IF_ERROR(c.Numbers());
  const Value start = c.size() >= 2 ? c[0] : Value::Long(0);
  const Value end = c.size() >= 2 ? c[1] : c[0];
  const Value step = c.size() == 3 ? c[2] : Value::Long(1);
  Args out;
  if (start.type() == ValueType::kLong && end.type() == ValueType::kLong &&
      step.type() == ValueType::kLong) {
    const __int128 s = start.long_value(), e = end.long_value(), d = step.long_value();
    if (d == 0 && s != e) return c.Fail("step 0 would make an infinite range");
    const __int128 n =
        d > 0 ? (e > s ? (e - s + d - 1) / d : 0) : (d < 0 && s > e ? (s - e - d - 1) / -d : 0);
    if (n > kMaxElements) return TooLong(c, std::to_string(static_cast<uint64_t>(n)));
    out.reserve(static_cast<size_t>(n));
    for (__int128 i = 0; i < n; ++i) out.push_back(Value::Long(static_cast<int64_t>(s + i * d)));
    return Value::Tuple(std::move(out));
  }
  const double s = start.AsDouble(), e = end.AsDouble(), d = step.AsDouble();
  if (!std::isfinite(s) || !std::isfinite(e) || !std::isfinite(d)) {
    return c.Fail("start, end and step must be finite");
  }
  if (d == 0 && s != e) return c.Fail("step 0 would make an infinite range");
  const double n = d == 0 ? 0 : std::max(0.0, std::ceil((e - s) / d));
  if (n > kMaxElements) {
    char text[400];
    std::snprintf(text, sizeof(text), "%.0f", n);
    return TooLong(c, text);
  }
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) out.push_back(Value::Double(s + i * d));
  return Value::Tuple(std::move(out));
}

// ---- strings ----

// `str`'s rendering: nil is empty, strings are raw, uuids and instants their bare text,
// everything else its EDN form (keywords with the colon).
void AppendStr(const Value& v, std::string* out) {
  switch (v.type()) {
    case ValueType::kNil:
      break;
    case ValueType::kString:
      out->append(v.str());
      break;
    case ValueType::kUuid:
      out->append(v.uuid().ToString());
      break;
    case ValueType::kInstant:
      out->append(FormatInstant(v.instant()));
      break;
    default:
      out->append(v.ToString());
  }
}

Result<Value> Str(const Call& c) {
  std::string out;
  for (const Value& v : c.args()) AppendStr(v, &out);
  return Value::String(std::move(out));
}

Result<Value> PrStr(const Call& c) {
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) {
    if (i > 0) out.push_back(' ');
    out.append(c[i].ToString());
  }
  return Value::String(std::move(out));
}

Result<Value> Subs(const Call& c) {  // code point indexes
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(0));
  DL_ASSIGN_OR_RETURN(int64_t start, c.Long(1));
  const int64_t length = CodePoints(s);
  int64_t end = length;
  if (c.size() == 3) {
    DL_ASSIGN_OR_RETURN(end, c.Long(2));
  }
  if (start < 0 || start > end || end > length) {
    return c.Fail("index out of range: start " + std::to_string(start) + ", end " +
                  std::to_string(end) + ", length " + std::to_string(length));
  }
  const size_t from = ByteOffset(s, start);
  return Value::String(std::string(s.substr(from, ByteOffset(s, end) - from)));
}

template <int which>
Result<Value> Affix(const Call& c) {  // includes? (0), starts-with? (1), ends-with? (2)
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(0));
  DL_ASSIGN_OR_RETURN(std::string_view part, c.String(1));
  return Value::Boolean(which == 0   ? s.find(part) != std::string_view::npos
                        : which == 1 ? s.starts_with(part)
                                     : s.ends_with(part));
}

template <bool upper>
Result<Value> ChangeCase(const Call& c) {  // ASCII letters only
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(0));
  std::string out(s);
  for (char& ch : out) {
    if (upper && ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    if (!upper && ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return Value::String(std::move(out));
}

constexpr std::string_view kWhitespace = " \t\n\r\f\v";

Result<Value> Trim(const Call& c) {
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(0));
  const size_t from = s.find_first_not_of(kWhitespace);
  if (from == std::string_view::npos) return Value::String("");
  return Value::String(std::string(s.substr(from, s.find_last_not_of(kWhitespace) + 1 - from)));
}

Result<Value> Blank(const Call& c) {
  if (c[0].is_nil()) return Value::Boolean(true);
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(0));
  return Value::Boolean(s.find_first_not_of(kWhitespace) == std::string_view::npos);
}

Result<Value> Join(const Call& c) {  // (join coll), (join separator coll)
  DL_ASSIGN_OR_RETURN(const Args* items, c.Items(c.size() - 1));
  std::string separator;
  if (c.size() == 2) AppendStr(c[0], &separator);
  std::string out;
  for (size_t i = 0; i < items->size(); ++i) {
    if (i > 0) out.append(separator);
    AppendStr((*items)[i], &out);
  }
  return Value::String(std::move(out));
}

// ---- regular expressions ----
//
// The engine is the platform's (port/regex.h): std::regex natively, the JS RegExp in the
// WASM build; both take ECMAScript syntax. The argument checks, in this order, are the
// same for both.

// The size limits apply to both engines, so a query behaves the same everywhere.
Status CheckRegexSizes(const Call& c, std::string_view pattern, std::string_view subject) {
  if (pattern.size() > kMaxRegexPattern) {
    return c.Fail("the regular expression is " + std::to_string(pattern.size()) +
                  " bytes long, more than the limit of " + std::to_string(kMaxRegexPattern));
  }
  if (subject.size() > kMaxRegexInput) {
    return c.Fail("the string is " + std::to_string(subject.size()) +
                  " bytes long, more than the limit of " + std::to_string(kMaxRegexInput) +
                  " for regular expressions");
  }
  return Status::Ok();
}

// Checks argument i as a regular expression (natively: compiles it).
Status Pattern(const Call& c, size_t i) {
  if (c[i].type() != ValueType::kString) return c.Expected(i, "a string (a regular expression)");
  DL_RETURN_IF_ERROR(CheckRegexSizes(c, c[i].str(), ""));
  Status s = port::CompileRegex(c[i].str());
  return s.ok() ? s : c.Fail(s.message());
}

// Runs `op` with the pattern in argument `pattern` (checked by Pattern) on `subject`.
Result<Value> Regex(const Call& c, port::RegexOp op, size_t pattern, std::string_view subject,
                    int64_t limit = 0) {
  DL_RETURN_IF_ERROR(CheckRegexSizes(c, "", subject));
  auto r = port::RunRegex(op, c[pattern].str(), subject, limit);
  if (!r.ok()) return c.Fail(r.status().message());
  return r;
}

template <bool whole>
Result<Value> ReMatch(const Call& c) {  // re-find (whole = false), re-matches (whole = true)
  DL_RETURN_IF_ERROR(Pattern(c, 0));
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(1));
  return Regex(c, whole ? port::RegexOp::kMatch : port::RegexOp::kSearch, 0, s);
}

Result<Value> ReSeq(const Call& c) {
  DL_RETURN_IF_ERROR(Pattern(c, 0));
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(1));
  return Regex(c, port::RegexOp::kSearchAll, 0, s);
}

Result<Value> RePattern(const Call& c) {
  DL_RETURN_IF_ERROR(Pattern(c, 0));
  DL_RETURN_IF_ERROR(Regex(c, port::RegexOp::kCheck, 0, "").status());
  return c[0];
}

// (split s re limit?), with Java's rules for the limit (port::RegexOp::kSplit).
Result<Value> Split(const Call& c) {
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(0));
  DL_RETURN_IF_ERROR(Pattern(c, 1));
  int64_t limit = 0;
  if (c.size() == 3) {
    DL_ASSIGN_OR_RETURN(limit, c.Long(2));
  }
  return Regex(c, port::RegexOp::kSplit, 1, s, limit);
}

#ifdef __EMSCRIPTEN__
#pragma clang attribute pop
#endif

// ---- the table ----

constexpr int kVariadic = -1;

const Builtin kTextBuiltins[] = {
    DL_BUILTIN("keyword", 1, 2, Keyword),
    DL_BUILTIN("name", 1, 1, Name),
    DL_BUILTIN("namespace", 1, 1, Namespace),
    DL_BUILTIN("type", 1, 1, Type),
    DL_BUILTIN("vector", 0, kVariadic, Vector),
    DL_BUILTIN("list", 0, kVariadic, Vector),
    DL_BUILTIN("set", 1, 1, Set),
    DL_BUILTIN("count", 1, 1, Count),
    DL_BUILTIN("range", 1, 3, Range),
    DL_BUILTIN("empty?", 1, 1, IsEmpty),
    DL_BUILTIN("not-empty", 1, 1, NotEmpty),
    DL_BUILTIN("contains?", 2, 2, Contains),
    DL_BUILTIN("get", 2, 3, Get),
    DL_BUILTIN("str", 0, kVariadic, Str),
    DL_BUILTIN("pr-str", 0, kVariadic, PrStr),
    DL_BUILTIN("subs", 2, 3, Subs),
    DL_BUILTIN("re-find", 2, 2, ReMatch<false>),
    DL_BUILTIN("re-matches", 2, 2, ReMatch<true>),
    DL_BUILTIN("re-seq", 2, 2, ReSeq),
    DL_BUILTIN("re-pattern", 1, 1, RePattern),
    DL_BUILTIN("clojure.string/blank?", 1, 1, Blank),
    DL_BUILTIN("clojure.string/includes?", 2, 2, Affix<0>),
    DL_BUILTIN("clojure.string/starts-with?", 2, 2, Affix<1>),
    DL_BUILTIN("clojure.string/ends-with?", 2, 2, Affix<2>),
    DL_BUILTIN("clojure.string/upper-case", 1, 1, ChangeCase<true>),
    DL_BUILTIN("clojure.string/lower-case", 1, 1, ChangeCase<false>),
    DL_BUILTIN("clojure.string/trim", 1, 1, Trim),
    DL_BUILTIN("clojure.string/join", 1, 2, Join),
    DL_BUILTIN("clojure.string/split", 2, 3, Split),
    DL_BUILTIN("blank?", 1, 1, Blank),
    DL_BUILTIN("includes?", 2, 2, Affix<0>),
    DL_BUILTIN("starts-with?", 2, 2, Affix<1>),
    DL_BUILTIN("ends-with?", 2, 2, Affix<2>),
    DL_BUILTIN("upper-case", 1, 1, ChangeCase<true>),
    DL_BUILTIN("lower-case", 1, 1, ChangeCase<false>),
};

#undef DL_BUILTIN

}  // namespace

std::span<const Builtin> TextBuiltins() { return kTextBuiltins; }

}  // namespace datalith::query::builtin
