// The built-in functions on numbers, comparisons and predicates, and the lookup of every
// built-in by name (the keyword, collection, string and regex ones: builtins_text.cpp).
#include "query/builtins.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <unordered_map>

#include "query/builtin_call.h"

namespace datalith::query {

namespace builtin {  // what builtin_call.h declares

std::string Describe(const Value& v) {
  if (v.is_nil()) return "nil";
  if (v.type() == ValueType::kInstant) return "an instant";
  return std::string("a ") + ValueTypeName(v.type());
}

Status Fail(std::string_view fn, const std::string& what) {
  // Appended rather than `"`" + std::string(fn) + ...`, on which GCC 12 warns
  // (a false -Wrestrict) once this is a function of its own.
  std::string message = "`";
  message.append(fn).append("`: ").append(what);
  return Status::Invalid(std::move(message));
}

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

namespace {

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

}  // namespace

int Cmp(const Value& a, const Value& b) {
  if (a.type() != b.type() && a.is_number() && b.is_number()) {
    return a.type() == ValueType::kLong ? CompareLongDouble(a.long_value(), b.double_value())
                                        : -CompareLongDouble(b.long_value(), a.double_value());
  }
  return Value::Compare(a, b);
}

bool Before(const Value& a, const Value& b) {
  const int c = Cmp(a, b);
  return c != 0 ? c < 0 : Value::Compare(a, b) < 0;
}

void SortDistinct(std::vector<Value>* values) {
  std::sort(values->begin(), values->end(), Before);
  values->erase(std::unique(values->begin(), values->end()), values->end());
}

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

}  // namespace builtin

using namespace builtin;

namespace {

// ---- arithmetic ----

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

// Ordering compares numbers with numbers and otherwise values of one type, as Datomic
// does: `(< "b" 5)` is an error, not an answer from the total Value order (docs/query.md).
Status Orderable(const Call& c, size_t i) {
  const Value& a = c[i - 1];
  const Value& b = c[i];
  if (a.type() == b.type() ? !a.is_nil() : a.is_number() && b.is_number()) return Status::Ok();
  auto shown = [](const Value& v) {
    if (v.is_nil()) return std::string("nil");
    std::string text = v.ToString();
    if (text.size() > 40) {
      size_t cut = 37;  // on a code point boundary
      while (cut > 0 && (static_cast<uint8_t>(text[cut]) & 0xc0) == 0x80) --cut;
      text = text.substr(0, cut) + "...";
    }
    return Describe(v) + " (" + text + ")";
  };
  return c.Fail("cannot compare " + shown(a) + " with " + shown(b) +
                ": ordering compares numbers with numbers and other values with their own type");
}

template <Rel rel>
Result<Value> Chain(const Call& c) {  // variadic: every adjacent pair satisfies rel
  if (rel == Rel::kNumEq) DL_RETURN_IF_ERROR(c.Numbers());
  for (size_t i = 1; i < c.size(); ++i) {
    if (rel != Rel::kEq && rel != Rel::kNumEq) DL_RETURN_IF_ERROR(Orderable(c, i));
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
};

#undef DL_BUILTIN

}  // namespace

const Builtin* FindBuiltin(std::string_view name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, const Builtin*>();
    for (const Builtin& b : kBuiltins) m->emplace(b.name, &b);
    for (const Builtin& b : TextBuiltins()) m->emplace(b.name, &b);
    return m;
  }();
  auto it = index->find(name);
  return it == index->end() ? nullptr : it->second;
}

}  // namespace datalith::query
