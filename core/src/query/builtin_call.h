// What the built-in functions and aggregates share: one call's argument checks and
// messages, the order of values, checked arithmetic and the random source. Only
// builtins.cpp, builtins_text.cpp and aggregates.cpp include this.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "query/builtins.h"

namespace datalith::query::builtin {

using Args = std::vector<Value>;

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
// `range` and `(rand n ?x)` refuse to build more elements than this.
constexpr int64_t kMaxElements = 10'000'000;

// ---- messages ----

// "nil", "a string", "an instant", ...
std::string Describe(const Value& v);
// The error of function `fn`: "`fn`: what". (Out of line: error paths stay small.)
Status Fail(std::string_view fn, const std::string& what);

// One call of a built-in: its name (as the query spelled it) and its arguments, with
// the argument checks every function shares.
class Call {
 public:
  Call(const char* name, const Args& args) : name_(name), args_(args) {}

  const char* name() const { return name_; }
  size_t size() const { return args_.size(); }
  const Value& operator[](size_t i) const { return args_[i]; }
  const Args& args() const { return args_; }

  Status Fail(const std::string& what) const { return builtin::Fail(name_, what); }
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

// The random source of rand, rand-int and the sample and rand aggregates, per thread.
std::mt19937_64& Rng();

// ---- order ----

// The order of `compare`, `min`/`max`, the aggregates and (between values they accept,
// see Orderable in builtins.cpp) `< > <= >=`:
// two numbers compare by numeric value (1 < 1.5, 1 and 1.0 tie); everything else by
// the total Value order. Numbers are adjacent in the Value order, so this is still a
// total preorder.
int Cmp(const Value& a, const Value& b);

// A strict total order consistent with Value equality: Cmp, then 1 before 1.0.
bool Before(const Value& a, const Value& b);

void SortDistinct(std::vector<Value>* values);

// ---- arithmetic ----

enum class Op { kAdd, kSub, kMul, kDiv };

// a op b for numbers: longs stay longs (overflow is an error), a double makes a double;
// a division of longs that is not exact gives a double.
Result<Value> Arith(std::string_view fn, Op op, const Value& a, const Value& b);

// The keyword, collection, string and regex functions (builtins_text.cpp).
std::span<const Builtin> TextBuiltins();

}  // namespace datalith::query::builtin
