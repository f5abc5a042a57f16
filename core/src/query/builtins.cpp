#include "query/builtins.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#ifdef __EMSCRIPTEN__
#include <emscripten.h>

#include <cstdlib>
#else
#include <regex>
#endif
#include <string>
#include <unordered_map>

namespace datalith::query {
namespace {

using Args = std::vector<Value>;

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
// `range` and `(rand n ?x)` refuse to build more elements than this.
constexpr int64_t kMaxElements = 10'000'000;
// libstdc++'s std::regex matches ECMAScript patterns by recursion, one level per
// character a repetition consumes (250-650 bytes of stack each), so a long match on a
// long string overflows the stack and kills the process. Longer strings are refused:
// 8 KiB stays within a few MiB of stack for the patterns we measured.
constexpr size_t kMaxRegexInput = 8192;
// Compiling recurses once per nesting level of the pattern, so patterns are capped too.
constexpr size_t kMaxRegexPattern = 4096;

// ---- messages ----

// "nil", "a string", "an instant", ...
std::string Describe(const Value& v) {
  if (v.is_nil()) return "nil";
  if (v.type() == ValueType::kInstant) return "an instant";
  return std::string("a ") + ValueTypeName(v.type());
}

Status Fail(std::string_view fn, const std::string& what) {
  return Status::Invalid("`" + std::string(fn) + "`: " + what);
}

// One call of a built-in: its name (as the query spelled it) and its arguments, with
// the argument checks every function shares.
class Call {
 public:
  Call(const char* name, const Args& args) : name_(name), args_(args) {}

  const char* name() const { return name_; }
  size_t size() const { return args_.size(); }
  const Value& operator[](size_t i) const { return args_[i]; }
  const Args& args() const { return args_; }

  Status Fail(const std::string& what) const { return query::Fail(name_, what); }
  // "`+`: argument 2 is a string, expected a number"
  Status Expected(size_t i, const char* what) const {
    return Fail("argument " + std::to_string(i + 1) + " is " + Describe(args_[i]) + ", expected " +
                what);
  }
  Status Number(size_t i) const {
    return args_[i].is_number() ? Status::Ok() : Expected(i, "a number");
  }
  Status Numbers() const {
    for (size_t i = 0; i < size(); ++i) DL_RETURN_IF_ERROR(Number(i));
    return Status::Ok();
  }
  Result<int64_t> Long(size_t i) const {
    if (args_[i].type() != ValueType::kLong) return Expected(i, "a long");
    return args_[i].long_value();
  }
  Result<std::string_view> String(size_t i) const {
    if (args_[i].type() != ValueType::kString) return Expected(i, "a string");
    return std::string_view(args_[i].str());
  }
  // A tuple's items; nil counts as the empty tuple.
  Result<const Args*> Items(size_t i) const {
    static const Args kEmpty;
    if (args_[i].is_nil()) return &kEmpty;
    if (args_[i].type() != ValueType::kTuple) return Expected(i, "a tuple");
    return &args_[i].tuple();
  }

 private:
  const char* name_;
  const Args& args_;
};

// Binds an implementation to the name it is registered under, so that messages name
// the function as the query spelled it (`!=`, not `not=`).
template <size_t N>
struct FnName {
  char text[N];
  constexpr FnName(const char (&s)[N]) { std::copy_n(s, N, text); }  // NOLINT: implicit
};
using Impl = Result<Value> (*)(const Call&);
template <FnName name, Impl impl>
Result<Value> Bound(const Args& args) {
  return impl(Call(name.text, args));
}
#define DL_BUILTIN(name, min, max, impl) \
  Builtin { name, min, max, &Bound<name, impl> }

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng([] {
    try {
      return static_cast<uint64_t>(std::random_device{}());
    } catch (...) {
      return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }
  }());
  return rng;
}

// ---- order ----

// Exact comparison of a long with a double: no rounding of large longs.
int CompareLongDouble(int64_t i, double d) {
  if (std::isnan(d)) return -1;  // NaN sorts after every number, as in the Value order
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  const double t = std::trunc(d);
  const auto ti = static_cast<int64_t>(t);
  if (i != ti) return i < ti ? -1 : 1;
  return t < d ? -1 : (t > d ? 1 : 0);
}

// The order of the comparison functions, `compare`, `min`/`max` and the aggregates:
// two numbers compare by numeric value (1 < 1.5, 1 and 1.0 tie); everything else by
// the total Value order. Numbers are adjacent in the Value order, so this is still a
// total preorder.
int Cmp(const Value& a, const Value& b) {
  if (a.type() != b.type() && a.is_number() && b.is_number()) {
    return a.type() == ValueType::kLong ? CompareLongDouble(a.long_value(), b.double_value())
                                        : -CompareLongDouble(b.long_value(), a.double_value());
  }
  return Value::Compare(a, b);
}

// A strict total order consistent with Value equality: Cmp, then 1 before 1.0.
bool Before(const Value& a, const Value& b) {
  const int c = Cmp(a, b);
  return c != 0 ? c < 0 : Value::Compare(a, b) < 0;
}

void SortDistinct(std::vector<Value>* values) {
  std::sort(values->begin(), values->end(), Before);
  values->erase(std::unique(values->begin(), values->end()), values->end());
}

// ---- arithmetic ----

enum class Op { kAdd, kSub, kMul, kDiv };

// a op b for numbers: longs stay longs (overflow is an error), a double makes a double;
// a division of longs that is not exact gives a double.
Result<Value> Arith(std::string_view fn, Op op, const Value& a, const Value& b) {
  if (op == Op::kDiv && b.AsDouble() == 0) return Fail(fn, "divide by zero");
  if (a.type() == ValueType::kLong && b.type() == ValueType::kLong) {
    const int64_t x = a.long_value(), y = b.long_value();
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
      case Op::kAdd:
        overflow = __builtin_add_overflow(x, y, &r);
        break;
      case Op::kSub:
        overflow = __builtin_sub_overflow(x, y, &r);
        break;
      case Op::kMul:
        overflow = __builtin_mul_overflow(x, y, &r);
        break;
      case Op::kDiv:
        if (x == kInt64Min && y == -1) {
          overflow = true;
        } else if (x % y != 0) {
          return Value::Double(static_cast<double>(x) / static_cast<double>(y));
        } else {
          r = x / y;
        }
        break;
    }
    if (overflow) {
      return Fail(fn, "integer overflow: " + a.ToString() + " " + "+-*/"[static_cast<int>(op)] +
                          " " + b.ToString());
    }
    return Value::Long(r);
  }
  const double x = a.AsDouble(), y = b.AsDouble();
  switch (op) {
    case Op::kAdd:
      return Value::Double(x + y);
    case Op::kSub:
      return Value::Double(x - y);
    case Op::kMul:
      return Value::Double(x * y);
    case Op::kDiv:
      return Value::Double(x / y);
  }
  return Value::Nil();
}

// (op identity args...) for + and *; (op first rest...) for - and /, where a single
// argument means (op identity x): (- x) negates, (/ x) is 1/x.
template <Op op>
Result<Value> Fold(const Call& c) {
  DL_RETURN_IF_ERROR(c.Numbers());
  const bool has_identity = op == Op::kAdd || op == Op::kMul || c.size() == 1;
  Value acc = has_identity ? Value::Long(op == Op::kAdd || op == Op::kSub ? 0 : 1) : c[0];
  for (size_t i = has_identity ? 0 : 1; i < c.size(); ++i) {
    DL_ASSIGN_OR_RETURN(acc, Arith(c.name(), op, acc, c[i]));
  }
  return acc;
}

template <Op op>
Result<Value> Step(const Call& c) {  // inc, dec
  DL_RETURN_IF_ERROR(c.Number(0));
  return Arith(c.name(), op, c[0], Value::Long(1));
}

enum class DivOp { kQuot, kRem, kMod };

template <DivOp op>
Result<Value> IntegerDivision(const Call& c) {
  DL_RETURN_IF_ERROR(c.Numbers());
  if (c[1].AsDouble() == 0) return c.Fail("divide by zero");
  if (c[0].type() == ValueType::kLong && c[1].type() == ValueType::kLong) {
    const int64_t x = c[0].long_value(), y = c[1].long_value();
    if (op == DivOp::kQuot) {
      if (x == kInt64Min && y == -1)
        return c.Fail("integer overflow: " + std::to_string(x) + " / -1");
      return Value::Long(x / y);
    }
    int64_t r = y == -1 ? 0 : x % y;
    if (op == DivOp::kMod && r != 0 && (r < 0) != (y < 0)) r += y;
    return Value::Long(r);
  }
  const double x = c[0].AsDouble(), y = c[1].AsDouble();
  if (op == DivOp::kQuot) return Value::Double(std::trunc(x / y));
  double r = std::fmod(x, y);
  if (op == DivOp::kMod && r != 0 && (r < 0) != (y < 0)) r += y;
  return Value::Double(r);
}

Result<Value> Abs(const Call& c) {
  DL_RETURN_IF_ERROR(c.Number(0));
  if (c[0].type() == ValueType::kDouble) return Value::Double(std::fabs(c[0].double_value()));
  if (c[0].long_value() == kInt64Min)
    return c.Fail("integer overflow: (abs " + c[0].ToString() + ")");
  return Value::Long(std::abs(c[0].long_value()));
}

template <int sign>
Result<Value> Extreme(const Call& c) {  // max (+1), min (-1)
  DL_RETURN_IF_ERROR(c.Numbers());
  size_t best = 0;
  for (size_t i = 1; i < c.size(); ++i) {
    if (Cmp(c[i], c[best]) * sign > 0) best = i;
  }
  return c[best];
}

// ---- comparisons and predicates ----

enum class Rel { kEq, kNumEq, kLt, kGt, kLe, kGe };

template <Rel rel>
Result<Value> Chain(const Call& c) {  // variadic: every adjacent pair satisfies rel
  if (rel == Rel::kNumEq) DL_RETURN_IF_ERROR(c.Numbers());
  for (size_t i = 1; i < c.size(); ++i) {
    const int d = rel == Rel::kEq ? Value::Compare(c[i - 1], c[i]) : Cmp(c[i - 1], c[i]);
    const bool holds = rel == Rel::kEq || rel == Rel::kNumEq ? d == 0
                       : rel == Rel::kLt                     ? d < 0
                       : rel == Rel::kGt                     ? d > 0
                       : rel == Rel::kLe                     ? d <= 0
                                                             : d >= 0;
    if (!holds) return Value::Boolean(false);
  }
  return Value::Boolean(true);
}

Result<Value> NotEqual(const Call& c) { return Value::Boolean(!Chain<Rel::kEq>(c)->boolean()); }

Result<Value> Compare(const Call& c) {
  const int d = Cmp(c[0], c[1]);
  return Value::Long((d > 0) - (d < 0));
}

template <int sign>
Result<Value> SignIs(const Call& c) {  // zero? (0), pos? (+1), neg? (-1)
  DL_RETURN_IF_ERROR(c.Number(0));
  const double d = c[0].AsDouble();
  return Value::Boolean(sign == 0 ? d == 0 : (sign > 0 ? d > 0 : d < 0));
}

template <int parity>
Result<Value> ParityIs(const Call& c) {  // even? (0), odd? (1)
  DL_ASSIGN_OR_RETURN(int64_t i, c.Long(0));
  return Value::Boolean((i % 2 != 0) == (parity == 1));
}

Result<Value> Rand(const Call& c) {
  double scale = 1;
  if (c.size() == 1) {
    DL_RETURN_IF_ERROR(c.Number(0));
    scale = c[0].AsDouble();
  }
  return Value::Double(std::uniform_real_distribution<double>(0, 1)(Rng()) * scale);
}

Result<Value> RandInt(const Call& c) {  // [0, n) or (n, 0]
  DL_ASSIGN_OR_RETURN(int64_t n, c.Long(0));
  if (n == 0) return Value::Long(0);
  return Value::Long(n > 0 ? std::uniform_int_distribution<int64_t>(0, n - 1)(Rng())
                           : std::uniform_int_distribution<int64_t>(n + 1, 0)(Rng()));
}

template <int which>
Result<Value> Is(const Call& c) {  // true? false? nil? some? not
  const Value& v = c[0];
  const bool is_bool = v.type() == ValueType::kBoolean;
  switch (which) {
    case 0:
      return Value::Boolean(is_bool && v.boolean());
    case 1:
      return Value::Boolean(is_bool && !v.boolean());
    case 2:
      return Value::Boolean(v.is_nil());
    case 3:
      return Value::Boolean(!v.is_nil());
    default:
      return Value::Boolean(!Truthy(v));
  }
}

Result<Value> Identical(const Call& c) { return Value::Boolean(c[0] == c[1]); }

template <bool is_and>
Result<Value> AndOr(const Call& c) {  // the first falsy (and) / truthy (or) value, or the last
  for (size_t i = 0; i + 1 < c.size(); ++i) {
    if (Truthy(c[i]) != is_and) return c[i];
  }
  if (c.size() > 0) return c[c.size() - 1];
  return is_and ? Value::Boolean(true) : Value::Nil();
}

Result<Value> Differ(const Call& c) {  // (-differ? a b x y): [a b] != [x y]
  if (c.size() % 2 != 0)
    return c.Fail("needs an even number of arguments, got " + std::to_string(c.size()));
  const size_t half = c.size() / 2;
  return Value::Boolean(
      !std::equal(c.args().begin(), c.args().begin() + half, c.args().begin() + half));
}

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
// Native builds use std::regex (ECMAScript syntax). The WASM build hands the same four
// operations to the JS engine's RegExp (the same syntax, without libc++'s regex, which
// would cost ~50 KB of the package's size budget): see JsRegex below.

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

#ifdef __EMSCRIPTEN__

enum class ReOp { kFind = 0, kMatches = 1, kSeq = 2, kSplit = 3, kCheck = 4 };

// Runs one operation with a JS RegExp and answers EDN text: a match as a string (or
// [match g1 ...] with groups, nil for a group that did not take part), nil for no
// match, a vector of those for re-seq and split, or {:error "..."}.
EM_JS(char*, datalith_js_regex, (int op, const char* pattern_c, const char* subject_c, double limit), {
  const out = (text) => {
    const n = lengthBytesUTF8(text) + 1;
    const p = _malloc(n);
    stringToUTF8(text, p, n);
    return p;
  };
  const edn = (v) => (v === undefined || v === null ? 'nil' : JSON.stringify(v));
  const groups = (m) => (m.length === 1 ? edn(m[0]) : '[' + Array.from(m, edn).join(' ') + ']');
  const pattern = UTF8ToString(pattern_c);
  const s = UTF8ToString(subject_c);
  let re;
  try {
    re = new RegExp(op === 1 ? '^(?:' + pattern + ')$' : pattern, op === 2 || op === 3 ? "g" : "");
  } catch (e) {
    return out('{:error ' + JSON.stringify(String(e && e.message)) + '}');
  }
  if (op === 4) return out('true');
  if (op === 0 || op === 1) {
    const m = re.exec(s);
    return out(m ? groups(m) : 'nil');
  }
  if (op === 2) {
    const all = Array.from(s.matchAll(re), groups);
    return out(all.length ? '[' + all.join(' ') + ']' : 'nil');
  }
  const parts = [];  // split, with Java's rules for the limit (as the native code)
  let start = 0;
  for (const m of s.matchAll(re)) {
    if (limit > 0 && parts.length + 1 >= limit) break;
    if (m[0].length === 0 && m.index === 0) continue;
    parts.push(s.slice(start, m.index));
    start = m.index + m[0].length;
  }
  const split = parts.length > 0;
  parts.push(s.slice(start));
  if (split && limit === 0) while (parts.length && parts[parts.length - 1] === "") parts.pop();
  return out('[' + parts.map(edn).join(' ') + ']');
});

Result<Value> JsRegex(const Call& c, ReOp op, size_t pattern, std::string_view subject,
                      int64_t limit = 0) {
  if (c[pattern].type() != ValueType::kString) {
    return c.Expected(pattern, "a string (a regular expression)");
  }
  DL_RETURN_IF_ERROR(CheckRegexSizes(c, c[pattern].str(), subject));
  std::string subject_z(subject);
  char* text = datalith_js_regex(static_cast<int>(op), c[pattern].str().c_str(), subject_z.c_str(),
                                 static_cast<double>(limit));
  auto node = edn::ReadOne(text);
  free(text);
  if (!node.ok()) return c.Fail("regular expression result: " + node.status().message());
  if (const edn::Node* err = node->GetKeyword("error")) {
    return c.Fail("invalid regular expression " + c[pattern].ToString() + ": " + err->text);
  }
  return edn::ToValue(*node);
}

template <bool whole>
Result<Value> ReMatch(const Call& c) {  // re-find (whole = false), re-matches (whole = true)
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(1));
  return JsRegex(c, whole ? ReOp::kMatches : ReOp::kFind, 0, s);
}

Result<Value> ReSeq(const Call& c) {
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(1));
  return JsRegex(c, ReOp::kSeq, 0, s);
}

Result<Value> RePattern(const Call& c) {
  DL_RETURN_IF_ERROR(JsRegex(c, ReOp::kCheck, 0, "").status());
  return c[0];
}

Result<Value> Split(const Call& c) {
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(0));
  int64_t limit = 0;
  if (c.size() == 3) {
    DL_ASSIGN_OR_RETURN(limit, c.Long(2));
  }
  return JsRegex(c, ReOp::kSplit, 1, s, limit);
}

#else  // native: std::regex


using Regex = std::shared_ptr<const std::regex>;
using Iter = std::string_view::const_iterator;
using Match = std::match_results<Iter>;

// Argument i compiled as an ECMAScript regular expression (cached per thread).
Result<Regex> Pattern(const Call& c, size_t i) {
  if (c[i].type() != ValueType::kString) return c.Expected(i, "a string (a regular expression)");
  const std::string& text = c[i].str();
  DL_RETURN_IF_ERROR(CheckRegexSizes(c, text, ""));
  constexpr size_t kRegexCacheSize = 256;
  thread_local std::unordered_map<std::string, Regex> cache;
  if (auto it = cache.find(text); it != cache.end()) return it->second;
  try {
    auto re = std::make_shared<const std::regex>(text, std::regex::ECMAScript);
    if (cache.size() >= kRegexCacheSize) cache.clear();
    cache.emplace(text, re);
    return Regex(re);
  } catch (const std::regex_error& e) {
    return c.Fail("invalid regular expression " + c[i].ToString() + ": " + e.what());
  }
}

// Runs a match on `subject`, turning the errors std::regex throws into a Status.
template <class F>
Result<Value> Matching(const Call& c, std::string_view subject, F match) {
  DL_RETURN_IF_ERROR(CheckRegexSizes(c, "", subject));
  try {
    return match();
  } catch (const std::regex_error& e) {
    return c.Fail(std::string("regular expression failed: ") + e.what());
  }
}

// The whole match as a string, or with groups [match group1 ...] (nil for a group that
// did not take part), as in Clojure.
Value MatchValue(const Match& m) {
  if (m.size() == 1) return Value::String(m.str(0));
  Args items;
  for (size_t g = 0; g < m.size(); ++g) {
    items.push_back(m[g].matched ? Value::String(m.str(g)) : Value::Nil());
  }
  return Value::Tuple(std::move(items));
}

template <bool whole>
Result<Value> ReMatch(const Call& c) {  // re-find (whole = false), re-matches (whole = true)
  DL_ASSIGN_OR_RETURN(Regex re, Pattern(c, 0));
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(1));
  return Matching(c, s, [&]() -> Result<Value> {
    Match m;
    const bool found = whole ? std::regex_match(s.begin(), s.end(), m, *re)
                             : std::regex_search(s.begin(), s.end(), m, *re);
    return found ? MatchValue(m) : Value::Nil();
  });
}

Result<Value> ReSeq(const Call& c) {
  DL_ASSIGN_OR_RETURN(Regex re, Pattern(c, 0));
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(1));
  return Matching(c, s, [&]() -> Result<Value> {
    Args out;
    for (std::regex_iterator<Iter> it(s.begin(), s.end(), *re), end; it != end; ++it) {
      out.push_back(MatchValue(*it));
    }
    return out.empty() ? Value::Nil() : Value::Tuple(std::move(out));
  });
}

Result<Value> RePattern(const Call& c) {
  DL_RETURN_IF_ERROR(Pattern(c, 0).status());
  return c[0];
}

// (split s re limit?) with Java's rules: a positive limit caps the number of parts, no
// limit (or 0) drops trailing empty parts, a negative limit keeps them; a zero-width
// match at the start makes no leading empty part.
Result<Value> Split(const Call& c) {
  DL_ASSIGN_OR_RETURN(std::string_view s, c.String(0));
  DL_ASSIGN_OR_RETURN(Regex re, Pattern(c, 1));
  int64_t limit = 0;
  if (c.size() == 3) {
    DL_ASSIGN_OR_RETURN(limit, c.Long(2));
  }
  return Matching(c, s, [&]() -> Result<Value> {
    Args parts;
    size_t start = 0;
    for (std::regex_iterator<Iter> it(s.begin(), s.end(), *re), end; it != end; ++it) {
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
  });
}

#endif  // __EMSCRIPTEN__

#ifdef __EMSCRIPTEN__
#pragma clang attribute pop
#endif

// ---- the table ----

constexpr int kVariadic = -1;

const Builtin kBuiltins[] = {
    DL_BUILTIN("=", 1, kVariadic, Chain<Rel::kEq>),
    DL_BUILTIN("==", 1, kVariadic, Chain<Rel::kNumEq>),
    DL_BUILTIN("not=", 1, kVariadic, NotEqual),
    DL_BUILTIN("!=", 1, kVariadic, NotEqual),
    DL_BUILTIN("<", 1, kVariadic, Chain<Rel::kLt>),
    DL_BUILTIN(">", 1, kVariadic, Chain<Rel::kGt>),
    DL_BUILTIN("<=", 1, kVariadic, Chain<Rel::kLe>),
    DL_BUILTIN(">=", 1, kVariadic, Chain<Rel::kGe>),
    DL_BUILTIN("+", 0, kVariadic, Fold<Op::kAdd>),
    DL_BUILTIN("-", 1, kVariadic, Fold<Op::kSub>),
    DL_BUILTIN("*", 0, kVariadic, Fold<Op::kMul>),
    DL_BUILTIN("/", 1, kVariadic, Fold<Op::kDiv>),
    DL_BUILTIN("quot", 2, 2, IntegerDivision<DivOp::kQuot>),
    DL_BUILTIN("rem", 2, 2, IntegerDivision<DivOp::kRem>),
    DL_BUILTIN("mod", 2, 2, IntegerDivision<DivOp::kMod>),
    DL_BUILTIN("inc", 1, 1, Step<Op::kAdd>),
    DL_BUILTIN("dec", 1, 1, Step<Op::kSub>),
    DL_BUILTIN("max", 1, kVariadic, Extreme<1>),
    DL_BUILTIN("min", 1, kVariadic, Extreme<-1>),
    DL_BUILTIN("abs", 1, 1, Abs),
    DL_BUILTIN("zero?", 1, 1, SignIs<0>),
    DL_BUILTIN("pos?", 1, 1, SignIs<1>),
    DL_BUILTIN("neg?", 1, 1, SignIs<-1>),
    DL_BUILTIN("even?", 1, 1, ParityIs<0>),
    DL_BUILTIN("odd?", 1, 1, ParityIs<1>),
    DL_BUILTIN("compare", 2, 2, Compare),
    DL_BUILTIN("rand", 0, 1, Rand),
    DL_BUILTIN("rand-int", 1, 1, RandInt),
    DL_BUILTIN("true?", 1, 1, Is<0>),
    DL_BUILTIN("false?", 1, 1, Is<1>),
    DL_BUILTIN("nil?", 1, 1, Is<2>),
    DL_BUILTIN("some?", 1, 1, Is<3>),
    DL_BUILTIN("not", 1, 1, Is<4>),
    DL_BUILTIN("identical?", 2, 2, Identical),
    DL_BUILTIN("and", 0, kVariadic, AndOr<true>),
    DL_BUILTIN("or", 0, kVariadic, AndOr<false>),
    DL_BUILTIN("-differ?", 0, kVariadic, Differ),
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

// ---- aggregates ----

// Whether an aggregate takes the count parameter n: (min n ?x), (sample n ?x).
enum class Param { kNone, kOptional, kRequired };
using AggregateFn = Result<edn::Node> (*)(const char* name, std::optional<int64_t> n,
                                          std::vector<Value> values);
struct Aggregate {
  const char* name;
  Param param;
  AggregateFn fn;
};

edn::Node Coll(edn::Kind kind, const std::vector<Value>& values) {
  std::vector<edn::Node> items;
  items.reserve(values.size());
  for (const Value& v : values) items.push_back(edn::FromValue(v));
  return edn::Node::Coll(kind, std::move(items));
}

Result<std::vector<double>> Numbers(const char* name, const std::vector<Value>& values) {
  std::vector<double> out;
  out.reserve(values.size());
  for (const Value& v : values) {
    if (!v.is_number())
      return Fail(name, "got " + Describe(v) + " (" + v.ToString() + "), expected a number");
    out.push_back(v.AsDouble());
  }
  return out;
}

double Mean(const std::vector<double>& xs) {
  double sum = 0;
  for (double x : xs) sum += x;
  return sum / static_cast<double>(xs.size());
}

Result<edn::Node> AggCount(const char*, std::optional<int64_t>, std::vector<Value> values) {
  return edn::Node::Long(static_cast<int64_t>(values.size()));
}

Result<edn::Node> AggCountDistinct(const char*, std::optional<int64_t>, std::vector<Value> values) {
  SortDistinct(&values);
  return edn::Node::Long(static_cast<int64_t>(values.size()));
}

Result<edn::Node> AggSum(const char* name, std::optional<int64_t>, std::vector<Value> values) {
  DL_RETURN_IF_ERROR(Numbers(name, values).status());
  Value sum = Value::Long(0);
  for (const Value& v : values) {
    DL_ASSIGN_OR_RETURN(sum, Arith(name, Op::kAdd, sum, v));
  }
  return edn::FromValue(sum);
}

enum class Stat { kAvg, kMedian, kVariance, kStddev };

template <Stat stat>
Result<edn::Node> AggStat(const char* name, std::optional<int64_t>, std::vector<Value> values) {
  DL_ASSIGN_OR_RETURN(std::vector<double> xs, Numbers(name, values));
  if (xs.empty()) return edn::Node::Nil();
  if (stat == Stat::kAvg) return edn::Node::Double(Mean(xs));
  if (stat == Stat::kMedian) {
    // The middle value itself (a long stays a long); the mean of the two middle ones
    // for an even count, as DataScript does.
    std::sort(values.begin(), values.end(), Before);
    const size_t mid = values.size() / 2;
    if (values.size() % 2 == 1) return edn::FromValue(values[mid]);
    return edn::Node::Double((values[mid - 1].AsDouble() + values[mid].AsDouble()) / 2);
  }
  const double mean = Mean(xs);
  double sum = 0;
  for (double x : xs) sum += (x - mean) * (x - mean);
  const double variance = sum / static_cast<double>(xs.size());  // population variance
  return edn::Node::Double(stat == Stat::kVariance ? variance : std::sqrt(variance));
}

template <bool smallest>
Result<edn::Node> AggExtreme(const char*, std::optional<int64_t> n, std::vector<Value> values) {
  if (!n) {
    if (values.empty()) return edn::Node::Nil();
    return edn::FromValue(smallest ? *std::min_element(values.begin(), values.end(), Before)
                                   : *std::max_element(values.begin(), values.end(), Before));
  }
  // The n smallest (largest) values, duplicates kept (DataScript), in ascending order.
  std::sort(values.begin(), values.end(), Before);
  const size_t keep = std::min(values.size(), static_cast<size_t>(*n));
  std::vector<Value> out(smallest ? values.begin() : values.end() - keep,
                         smallest ? values.begin() + keep : values.end());
  return Coll(edn::Kind::kVector, out);
}

Result<edn::Node> AggDistinct(const char*, std::optional<int64_t>, std::vector<Value> values) {
  SortDistinct(&values);
  return Coll(edn::Kind::kSet, values);
}

Result<edn::Node> AggSample(const char*, std::optional<int64_t> n, std::vector<Value> values) {
  SortDistinct(&values);
  std::shuffle(values.begin(), values.end(), Rng());
  values.resize(std::min(values.size(), static_cast<size_t>(*n)));
  return Coll(edn::Kind::kVector, values);
}

Result<edn::Node> AggRand(const char* name, std::optional<int64_t> n, std::vector<Value> values) {
  if (n && *n > kMaxElements) {
    return Fail(name, "count " + std::to_string(*n) + " is more than the limit of " +
                          std::to_string(kMaxElements));
  }
  if (values.empty()) return n ? edn::Node::Coll(edn::Kind::kVector, {}) : edn::Node::Nil();
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  if (!n) return edn::FromValue(values[pick(Rng())]);
  std::vector<Value> out;
  for (int64_t i = 0; i < *n; ++i) out.push_back(values[pick(Rng())]);
  return Coll(edn::Kind::kVector, out);
}

const Aggregate kAggregates[] = {
    {"count", Param::kNone, AggCount},
    {"count-distinct", Param::kNone, AggCountDistinct},
    {"sum", Param::kNone, AggSum},
    {"avg", Param::kNone, AggStat<Stat::kAvg>},
    {"median", Param::kNone, AggStat<Stat::kMedian>},
    {"variance", Param::kNone, AggStat<Stat::kVariance>},
    {"stddev", Param::kNone, AggStat<Stat::kStddev>},
    {"min", Param::kOptional, AggExtreme<true>},
    {"max", Param::kOptional, AggExtreme<false>},
    {"distinct", Param::kNone, AggDistinct},
    {"sample", Param::kRequired, AggSample},
    {"rand", Param::kOptional, AggRand},
};

const Aggregate* FindAggregate(std::string_view name) {
  for (const Aggregate& a : kAggregates) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

}  // namespace

const Builtin* FindBuiltin(std::string_view name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, const Builtin*>();
    for (const Builtin& b : kBuiltins) m->emplace(b.name, &b);
    return m;
  }();
  auto it = index->find(name);
  return it == index->end() ? nullptr : it->second;
}

bool IsAggregate(std::string_view name) { return FindAggregate(name) != nullptr; }

Result<edn::Node> RunAggregate(std::string_view name, const std::vector<Value>& params,
                               std::vector<Value> values) {
  const Aggregate* agg = FindAggregate(name);
  if (agg == nullptr) return Status::Invalid("unknown aggregate `" + std::string(name) + "`");
  if (agg->param == Param::kNone && !params.empty()) {
    return Fail(name, "takes no parameters, got " + std::to_string(params.size()));
  }
  if (params.size() > 1) {
    return Fail(name,
                "takes at most one parameter (a count), got " + std::to_string(params.size()));
  }
  if (params.empty() && agg->param == Param::kRequired) {
    return Fail(name, "needs a count parameter, as in (" + std::string(name) + " 3 ?x)");
  }
  std::optional<int64_t> n;
  if (!params.empty()) {
    const Value& p = params[0];
    if (p.type() != ValueType::kLong || p.long_value() < 0) {
      return Fail(name, "the count parameter must be a non-negative long, got " + Describe(p) +
                            (p.is_nil() ? "" : " (" + p.ToString() + ")"));
    }
    n = p.long_value();
  }
  return agg->fn(agg->name, n, std::move(values));
}

}  // namespace datalith::query
