#include "query/builtins.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <set>
#include <string>

namespace datalith::query {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// EDN text as a Value ("[1 \"a\"]" → a tuple).
Value V(std::string_view text) {
  Result<edn::Node> node = edn::ReadOne(text);
  REQUIRE(node.ok());
  Result<Value> v = edn::ToValue(*node);
  REQUIRE(v.ok());
  return *v;
}

// Calls a built-in with explicit arguments, checking the arity as the executor does.
Result<Value> Call(std::string_view name, const std::vector<Value>& args) {
  const Builtin* b = FindBuiltin(name);
  REQUIRE(b != nullptr);
  REQUIRE(static_cast<int>(args.size()) >= b->min_args);
  REQUIRE((b->max_args == -1 || static_cast<int>(args.size()) <= b->max_args));
  return b->fn(args);
}

// Evaluates a call written as EDN: "(+ 1 2)".
Result<Value> Eval(std::string_view form) {
  Result<edn::Node> node = edn::ReadOne(form);
  REQUIRE(node.ok());
  REQUIRE(node->is(edn::Kind::kList));
  REQUIRE(node->items.at(0).is(edn::Kind::kSymbol));
  std::vector<Value> args;
  for (size_t i = 1; i < node->items.size(); ++i) {
    Result<Value> v = edn::ToValue(node->items[i]);
    REQUIRE(v.ok());
    args.push_back(*v);
  }
  return Call(node->items[0].text, args);
}

// The value of a call that must succeed, as EDN text (so 1 and 1.0 differ).
std::string Ok(std::string_view form) {
  Result<Value> r = Eval(form);
  INFO(form << " → " << r.status().ToString());
  REQUIRE(r.ok());
  return r->ToString();
}

// The message of a call that must fail with InvalidArgument.
std::string Err(std::string_view form) {
  Result<Value> r = Eval(form);
  INFO(form);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

std::vector<Value> Vals(std::string_view vector_text) { return V(vector_text).tuple(); }

Result<edn::Node> Agg(std::string_view name, std::string_view params, std::string_view values) {
  return RunAggregate(name, Vals(params), Vals(values));
}

std::string AggOk(std::string_view name, std::string_view params, std::string_view values) {
  Result<edn::Node> r = Agg(name, params, values);
  INFO(name << " " << params << " " << values << " → " << r.status().ToString());
  REQUIRE(r.ok());
  return edn::Write(*r);
}

std::string AggErr(std::string_view name, std::string_view params, std::string_view values) {
  Result<edn::Node> r = Agg(name, params, values);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

TEST_CASE("builtins: the table is consistent", "[builtins]") {
  for (const char* name : {"=",
                           "==",
                           "not=",
                           "!=",
                           "<",
                           ">",
                           "<=",
                           ">=",
                           "+",
                           "-",
                           "*",
                           "/",
                           "quot",
                           "rem",
                           "mod",
                           "inc",
                           "dec",
                           "max",
                           "min",
                           "abs",
                           "zero?",
                           "pos?",
                           "neg?",
                           "even?",
                           "odd?",
                           "compare",
                           "rand",
                           "rand-int",
                           "true?",
                           "false?",
                           "nil?",
                           "some?",
                           "not",
                           "identical?",
                           "and",
                           "or",
                           "-differ?",
                           "keyword",
                           "name",
                           "namespace",
                           "type",
                           "vector",
                           "list",
                           "set",
                           "count",
                           "range",
                           "empty?",
                           "not-empty",
                           "contains?",
                           "get",
                           "str",
                           "pr-str",
                           "subs",
                           "re-find",
                           "re-matches",
                           "re-seq",
                           "re-pattern",
                           "clojure.string/blank?",
                           "clojure.string/includes?",
                           "clojure.string/starts-with?",
                           "clojure.string/ends-with?",
                           "clojure.string/upper-case",
                           "clojure.string/lower-case",
                           "clojure.string/trim",
                           "clojure.string/join",
                           "clojure.string/split",
                           "blank?",
                           "includes?",
                           "starts-with?",
                           "ends-with?",
                           "upper-case",
                           "lower-case"}) {
    const Builtin* b = FindBuiltin(name);
    INFO(name);
    REQUIRE(b != nullptr);
    CHECK(std::string(b->name) == name);
    CHECK(b->min_args >= 0);
    CHECK((b->max_args == -1 || b->max_args >= b->min_args));
    CHECK(b->fn != nullptr);
  }
  CHECK(FindBuiltin("subs")->min_args == 2);
  CHECK(FindBuiltin("subs")->max_args == 3);
  CHECK(FindBuiltin("+")->max_args == -1);
  CHECK(FindBuiltin("no-such-fn") == nullptr);
  CHECK(FindBuiltin("trim") == nullptr);      // only under clojure.string/
  CHECK(FindBuiltin("get-else") == nullptr);  // the executor's
}

TEST_CASE("builtins: comparisons", "[builtins]") {
  CHECK(Ok("(= 1 1 1)") == "true");
  CHECK(Ok("(= 1 1 2)") == "false");
  CHECK(Ok("(= 1 1.0)") == "false");  // = is value equality, as in Clojure
  CHECK(Ok("(= \"a\")") == "true");
  CHECK(Ok("(= [1 \"a\"] [1 \"a\"])") == "true");
  CHECK(Ok("(== 1 1.0 1)") == "true");
  CHECK(Ok("(== 1 2)") == "false");
  CHECK(Err("(== 1 \"1\")") == "`==`: argument 2 is a string, expected a number");
  CHECK(Ok("(not= 1 2)") == "true");
  CHECK(Ok("(!= 1 1)") == "false");
  CHECK(Ok("(not= 1 2 1)") == "true");
  CHECK(Ok("(< 1 2 3)") == "true");
  CHECK(Ok("(< 1 3 2)") == "false");
  CHECK(Ok("(< 1 1)") == "false");
  CHECK(Ok("(<= 1 1 2)") == "true");
  CHECK(Ok("(> 3 2 1)") == "true");
  CHECK(Ok("(>= 3 3 4)") == "false");
  // Numbers compare by value across long and double, exactly.
  CHECK(Ok("(< 1 1.5 2)") == "true");
  CHECK(Ok("(< 2 1.5)") == "false");
  CHECK(Ok("(<= 1 1.0)") == "true");
  CHECK(Ok("(< 9007199254740993 9007199254740992.0)") == "false");
  CHECK(Ok("(> 9007199254740993 9007199254740992.0)") == "true");
  CHECK(Ok("(< 9223372036854775807 9223372036854775808.0)") == "true");
  // Other values within their own type: strings, keywords, instants, tuples.
  CHECK(Ok("(< \"a\" \"b\")") == "true");
  CHECK(Ok("(> :b :a)") == "true");
  CHECK(Ok("(< false true)") == "true");
  CHECK(Ok("(< #inst \"2024-01-01\" #inst \"2024-06-01\")") == "true");
  CHECK(Ok("(< [1 \"a\"] [1 \"b\"])") == "true");
  // Across types (and with nil) ordering is an error, as in Datomic; `=` is just false.
  const std::string rule =
      ": ordering compares numbers with numbers and other values with their own type";
  CHECK(Err("(< 100 \"a\")") == "`<`: cannot compare a long (100) with a string (\"a\")" + rule);
  CHECK(Err("(>= nil 0)") == "`>=`: cannot compare nil with a long (0)" + rule);
  CHECK(Err("(> 3 2 :x)") == "`>`: cannot compare a long (2) with a keyword (:x)" + rule);
  CHECK(Err("(< \"ééééééééééééééééééééééééééééééé\" 1)") ==
        "`<`: cannot compare a string (\"éééééééééééééééééé...) with a long (1)" + rule);
  CHECK(Ok("(> 1 2 :x)") == "false");  // stops at the first pair that fails, as Clojure does
  CHECK(Ok("(= 1 \"1\")") == "false");
  CHECK(Ok("(compare 100 \"a\")") == "-1");  // compare keeps the total order
  CHECK(Ok("(compare 1 2)") == "-1");
  CHECK(Ok("(compare \"b\" \"a\")") == "1");
  CHECK(Ok("(compare 1 1.0)") == "0");
  CHECK(Ok("(compare [1 2] [1 2])") == "0");
}

TEST_CASE("builtins: arithmetic", "[builtins]") {
  CHECK(Ok("(+)") == "0");
  CHECK(Ok("(+ 1 2 3)") == "6");
  CHECK(Ok("(+ 1 2.5)") == "3.5");
  CHECK(Ok("(+ 1.0 2)") == "3.0");
  CHECK(Ok("(- 5)") == "-5");
  CHECK(Ok("(- 10 1 2)") == "7");
  CHECK(Ok("(- 1.5 1)") == "0.5");
  CHECK(Ok("(*)") == "1");
  CHECK(Ok("(* 2 3 4)") == "24");
  CHECK(Ok("(* 2 0.5)") == "1.0");
  CHECK(Ok("(/ 6 3)") == "2");
  CHECK(Ok("(/ 7 2)") == "3.5");
  CHECK(Ok("(/ 2)") == "0.5");
  CHECK(Ok("(/ 1)") == "1");
  CHECK(Ok("(/ 12 2 3)") == "2");
  CHECK(Ok("(/ 3.0 2)") == "1.5");
  CHECK(Ok("(/ -9223372036854775808 2)") == "-4611686018427387904");

  CHECK(Err("(+ 1 \"a\")") == "`+`: argument 2 is a string, expected a number");
  CHECK(Err("(- nil)") == "`-`: argument 1 is nil, expected a number");
  CHECK(Err("(* 1 2 :k)") == "`*`: argument 3 is a keyword, expected a number");
  CHECK(Err("(/ 1 0)") == "`/`: divide by zero");
  CHECK(Err("(/ 1.5 0.0)") == "`/`: divide by zero");
  CHECK(Err("(/ 0)") == "`/`: divide by zero");
  CHECK(Err("(+ 9223372036854775807 1)") == "`+`: integer overflow: 9223372036854775807 + 1");
  CHECK(Err("(- -9223372036854775808 1)") == "`-`: integer overflow: -9223372036854775808 - 1");
  CHECK(Err("(- -9223372036854775808)") == "`-`: integer overflow: 0 - -9223372036854775808");
  CHECK(Err("(* 4611686018427387904 2)") == "`*`: integer overflow: 4611686018427387904 * 2");
  CHECK(Err("(/ -9223372036854775808 -1)") == "`/`: integer overflow: -9223372036854775808 / -1");
  CHECK(Ok("(+ 9223372036854775807 1.0)") == "9223372036854775808.0");  // doubles do not overflow
  CHECK(Ok("(- 9223372036854775807 1)") == std::to_string(kMax - 1));
  CHECK(Ok("(+ -9223372036854775807 -1)") == std::to_string(kMin));
}

TEST_CASE("builtins: quot, rem, mod, inc, dec, abs, max, min", "[builtins]") {
  CHECK(Ok("(quot 7 2)") == "3");
  CHECK(Ok("(quot -7 2)") == "-3");
  CHECK(Ok("(rem 7 2)") == "1");
  CHECK(Ok("(rem -7 2)") == "-1");
  CHECK(Ok("(mod -7 2)") == "1");
  CHECK(Ok("(mod 7 -2)") == "-1");
  CHECK(Ok("(mod 6 -2)") == "0");
  CHECK(Ok("(mod -9223372036854775808 -1)") == "0");
  CHECK(Ok("(quot 7.5 2)") == "3.0");
  CHECK(Ok("(rem 7.5 2)") == "1.5");
  CHECK(Ok("(mod -7.5 2)") == "0.5");
  CHECK(Err("(quot 1 0)") == "`quot`: divide by zero");
  CHECK(Err("(mod 1 0.0)") == "`mod`: divide by zero");
  CHECK(Err("(rem \"7\" 2)") == "`rem`: argument 1 is a string, expected a number");
  CHECK(Err("(quot -9223372036854775808 -1)") ==
        "`quot`: integer overflow: -9223372036854775808 / -1");

  CHECK(Ok("(inc 1)") == "2");
  CHECK(Ok("(inc 1.5)") == "2.5");
  CHECK(Ok("(dec 0)") == "-1");
  CHECK(Err("(inc 9223372036854775807)") == "`inc`: integer overflow: 9223372036854775807 + 1");
  CHECK(Err("(dec -9223372036854775808)") == "`dec`: integer overflow: -9223372036854775808 - 1");
  CHECK(Err("(inc \"1\")") == "`inc`: argument 1 is a string, expected a number");

  CHECK(Ok("(abs -3)") == "3");
  CHECK(Ok("(abs -2.5)") == "2.5");
  CHECK(Err("(abs -9223372036854775808)") == "`abs`: integer overflow: (abs -9223372036854775808)");

  CHECK(Ok("(max 1 3 2)") == "3");
  CHECK(Ok("(max 1 2.5 2)") == "2.5");
  CHECK(Ok("(min 3 1.5 2)") == "1.5");
  CHECK(Ok("(min 7)") == "7");
  CHECK(Err("(max 1 \"a\")") == "`max`: argument 2 is a string, expected a number");
}

TEST_CASE("builtins: numeric predicates and random numbers", "[builtins]") {
  CHECK(Ok("(zero? 0)") == "true");
  CHECK(Ok("(zero? 0.0)") == "true");
  CHECK(Ok("(zero? 1)") == "false");
  CHECK(Ok("(pos? 2)") == "true");
  CHECK(Ok("(pos? -0.5)") == "false");
  CHECK(Ok("(neg? -0.5)") == "true");
  CHECK(Ok("(neg? 0)") == "false");
  CHECK(Ok("(even? 4)") == "true");
  CHECK(Ok("(even? -3)") == "false");
  CHECK(Ok("(odd? -3)") == "true");
  CHECK(Ok("(odd? 0)") == "false");
  CHECK(Err("(zero? nil)") == "`zero?`: argument 1 is nil, expected a number");
  CHECK(Err("(even? 2.0)") == "`even?`: argument 1 is a double, expected a long");

  for (int i = 0; i < 200; ++i) {
    Value r = *Eval("(rand)");
    REQUIRE(r.type() == ValueType::kDouble);
    CHECK(r.double_value() >= 0);
    CHECK(r.double_value() < 1);
    Value r10 = *Eval("(rand 10)");
    CHECK(r10.double_value() >= 0);
    CHECK(r10.double_value() < 10);
    Value ri = *Eval("(rand-int 5)");
    REQUIRE(ri.type() == ValueType::kLong);
    CHECK(ri.long_value() >= 0);
    CHECK(ri.long_value() < 5);
    Value neg = *Eval("(rand-int -3)");
    CHECK(neg.long_value() <= 0);
    CHECK(neg.long_value() > -3);
  }
  CHECK(Ok("(rand-int 0)") == "0");
  CHECK(Ok("(rand-int 1)") == "0");
  CHECK(Err("(rand-int 2.5)") == "`rand-int`: argument 1 is a double, expected a long");
  CHECK(Err("(rand \"x\")") == "`rand`: argument 1 is a string, expected a number");
}

TEST_CASE("builtins: truthiness and logic", "[builtins]") {
  CHECK(Truthy(V("0")));
  CHECK(Truthy(V("\"\"")));
  CHECK_FALSE(Truthy(V("nil")));
  CHECK_FALSE(Truthy(V("false")));
  CHECK(Ok("(true? true)") == "true");
  CHECK(Ok("(true? 1)") == "false");
  CHECK(Ok("(false? false)") == "true");
  CHECK(Ok("(false? nil)") == "false");
  CHECK(Ok("(nil? nil)") == "true");
  CHECK(Ok("(nil? false)") == "false");
  CHECK(Ok("(some? false)") == "true");
  CHECK(Ok("(some? nil)") == "false");
  CHECK(Ok("(not nil)") == "true");
  CHECK(Ok("(not 0)") == "false");
  CHECK(Ok("(identical? :a :a)") == "true");
  CHECK(Ok("(identical? 1 1.0)") == "false");

  CHECK(Ok("(and)") == "true");
  CHECK(Ok("(and 1 2 3)") == "3");
  CHECK(Ok("(and 1 nil 3)") == "nil");
  CHECK(Ok("(and 1 false 3)") == "false");
  CHECK(Ok("(or)") == "nil");
  CHECK(Ok("(or nil 2 3)") == "2");
  CHECK(Ok("(or nil false)") == "false");
  CHECK(Ok("(or false nil)") == "nil");

  CHECK(Ok("(-differ? 1 2 1 2)") == "false");
  CHECK(Ok("(-differ? 1 2 1 3)") == "true");
  CHECK(Ok("(-differ?)") == "false");
  CHECK(Err("(-differ? 1 2 3)") == "`-differ?`: needs an even number of arguments, got 3");
}

TEST_CASE("builtins: keywords, names and types", "[builtins]") {
  CHECK(Ok("(keyword \"a\")") == ":a");
  CHECK(Ok("(keyword \"person/name\")") == ":person/name");
  CHECK(Ok("(keyword :a/b)") == ":a/b");
  CHECK(Ok("(keyword foo)") == ":foo");
  CHECK(Ok("(keyword nil)") == "nil");
  CHECK(Ok("(keyword \"person\" \"name\")") == ":person/name");
  CHECK(Ok("(keyword nil \"name\")") == ":name");
  CHECK(Err("(keyword 1)") ==
        "`keyword`: argument 1 is a long, expected a string, keyword or symbol");
  CHECK(Err("(keyword :a \"b\")") ==
        "`keyword`: argument 1 is a keyword, expected a string or nil");
  CHECK(Err("(keyword \"a\" 2)") == "`keyword`: argument 2 is a long, expected a string");

  CHECK(Ok("(name :person/name)") == "\"name\"");
  CHECK(Ok("(name :name)") == "\"name\"");
  CHECK(Call("name", {Value::Symbol("a/b/c")})->ToString() == "\"b/c\"");
  CHECK(Ok("(name \"text\")") == "\"text\"");
  CHECK(Ok("(name /)") == "\"/\"");
  CHECK(Err("(name 1)") == "`name`: argument 1 is a long, expected a string, keyword or symbol");
  CHECK(Ok("(namespace :person/name)") == "\"person\"");
  CHECK(Ok("(namespace :name)") == "nil");
  CHECK(Err("(namespace \"a/b\")") ==
        "`namespace`: argument 1 is a string, expected a keyword or symbol");

  CHECK(Ok("(type 1)") == ":long");
  CHECK(Ok("(type 1.5)") == ":double");
  CHECK(Ok("(type \"s\")") == ":string");
  CHECK(Ok("(type :k)") == ":keyword");
  CHECK(Ok("(type sym)") == ":symbol");
  CHECK(Ok("(type nil)") == ":nil");
  CHECK(Ok("(type true)") == ":boolean");
  CHECK(Ok("(type [1])") == ":tuple");
  CHECK(Ok("(type #inst \"2020-01-01T00:00:00Z\")") == ":instant");
  CHECK(Ok("(type #uuid \"00000000-0000-0000-0000-000000000001\")") == ":uuid");
  CHECK(Call("type", {Value::Ref(5)})->ToString() == ":ref");
}

TEST_CASE("builtins: collections", "[builtins]") {
  CHECK(Ok("(vector)") == "[]");
  CHECK(Ok("(vector 1 \"a\" nil)") == "[1 \"a\" nil]");
  CHECK(Ok("(list 3 2 1)") == "[3 2 1]");
  CHECK(Ok("(set [3 1 2 1 3])") == "[1 2 3]");
  CHECK(Ok("(set [\"b\" 2 1.5 2])") == "[1.5 2 \"b\"]");
  CHECK(Ok("(set [1 1.0])") == "[1 1.0]");  // distinct values
  CHECK(Ok("(set nil)") == "[]");
  CHECK(Err("(set 1)") == "`set`: argument 1 is a long, expected a tuple");

  CHECK(Ok("(count [1 2 3])") == "3");
  CHECK(Ok("(count \"héllo\")") == "5");  // code points
  CHECK(Ok("(count nil)") == "0");
  CHECK(Err("(count 5)") == "`count`: argument 1 is a long, expected a string or tuple");

  CHECK(Ok("(empty? [])") == "true");
  CHECK(Ok("(empty? \"\")") == "true");
  CHECK(Ok("(empty? nil)") == "true");
  CHECK(Ok("(empty? [nil])") == "false");
  CHECK(Err("(empty? :k)") == "`empty?`: argument 1 is a keyword, expected a string or tuple");
  CHECK(Ok("(not-empty [])") == "nil");
  CHECK(Ok("(not-empty \"\")") == "nil");
  CHECK(Ok("(not-empty [1])") == "[1]");
  CHECK(Ok("(not-empty \"x\")") == "\"x\"");

  CHECK(Ok("(contains? [1 2 3] 2)") == "true");
  CHECK(Ok("(contains? [1 2 3] 2.0)") == "false");
  CHECK(Ok("(contains? [\"a\" \"b\"] \"b\")") == "true");
  CHECK(Ok("(contains? nil 1)") == "false");
  CHECK(Err("(contains? \"abc\" \"a\")") ==
        "`contains?`: argument 1 is a string, expected a tuple");

  CHECK(Ok("(get [10 20 30] 1)") == "20");
  CHECK(Ok("(get [10 20 30] 3)") == "nil");
  CHECK(Ok("(get [10 20 30] -1)") == "nil");
  CHECK(Ok("(get [10 20 30] 5 :none)") == ":none");
  CHECK(Ok("(get nil 0 :none)") == ":none");
  CHECK(Ok("(get [10] \"0\")") == "nil");
}

TEST_CASE("builtins: range", "[builtins]") {
  CHECK(Ok("(range 5)") == "[0 1 2 3 4]");
  CHECK(Ok("(range 0)") == "[]");
  CHECK(Ok("(range -3)") == "[]");
  CHECK(Ok("(range 2 5)") == "[2 3 4]");
  CHECK(Ok("(range 0 10 3)") == "[0 3 6 9]");
  CHECK(Ok("(range 5 0 -2)") == "[5 3 1]");
  CHECK(Ok("(range 0 5 -1)") == "[]");
  CHECK(Ok("(range 3 3 0)") == "[]");
  CHECK(Ok("(range 0 1 0.25)") == "[0.0 0.25 0.5 0.75]");
  CHECK(Ok("(range 9223372036854775805 9223372036854775807)") ==
        "[9223372036854775805 9223372036854775806]");
  CHECK(Err("(range 10000001)") ==
        "`range`: would produce 10000001 elements, more than the limit of 10000000");
  CHECK(Err("(range -9223372036854775808 9223372036854775807)") ==
        "`range`: would produce 18446744073709551615 elements, more than the limit of 10000000");
  CHECK(Err("(range 0 1 0)") == "`range`: step 0 would make an infinite range");
  CHECK(Err("(range 0 \"5\")") == "`range`: argument 2 is a string, expected a number");
  CHECK(Err("(range 0 1e20 1.0)") ==
        "`range`: would produce 100000000000000000000 elements, more than the limit of 10000000");
  CHECK(Err("(range 0 1e300 1e-300)") ==
        "`range`: would produce inf elements, more than the limit of 10000000");
  CHECK(Err("(range 0 ##Inf)") == "`range`: start, end and step must be finite");
}

TEST_CASE("builtins: str, pr-str, subs", "[builtins]") {
  CHECK(Ok("(str)") == "\"\"");
  CHECK(Ok("(str \"a\" 1 nil :k/w 2.5 true)") == "\"a1:k/w2.5true\"");
  CHECK(Ok("(str [1 \"b\"])") == "\"[1 \\\"b\\\"]\"");
  CHECK(Ok("(str #uuid \"00000000-0000-0000-0000-000000000001\")") ==
        "\"00000000-0000-0000-0000-000000000001\"");
  CHECK(Ok("(str #inst \"2020-01-02T03:04:05.006Z\")") == "\"2020-01-02T03:04:05.006Z\"");
  CHECK(Ok("(str sym)") == "\"sym\"");
  CHECK(Ok("(pr-str \"a\" 1 nil :k)") == "\"\\\"a\\\" 1 nil :k\"");
  CHECK(Ok("(pr-str)") == "\"\"");

  CHECK(Ok("(subs \"hello\" 1)") == "\"ello\"");
  CHECK(Ok("(subs \"hello\" 1 3)") == "\"el\"");
  CHECK(Ok("(subs \"hello\" 5)") == "\"\"");
  CHECK(Ok("(subs \"héllo wörld\" 1 4)") == "\"éll\"");  // code points, not bytes
  CHECK(Ok("(subs \"a😀b\" 1 2)") == "\"😀\"");
  CHECK(Err("(subs \"hello\" 6)") == "`subs`: index out of range: start 6, end 5, length 5");
  CHECK(Err("(subs \"hello\" 3 2)") == "`subs`: index out of range: start 3, end 2, length 5");
  CHECK(Err("(subs \"hello\" -1)") == "`subs`: index out of range: start -1, end 5, length 5");
  CHECK(Err("(subs \"hello\" 1 9)") == "`subs`: index out of range: start 1, end 9, length 5");
  CHECK(Err("(subs :hello 1)") == "`subs`: argument 1 is a keyword, expected a string");
  CHECK(Err("(subs \"hello\" 1.0)") == "`subs`: argument 2 is a double, expected a long");
}

TEST_CASE("builtins: regular expressions", "[builtins]") {
  CHECK(Ok("(re-find \"\\\\d+\" \"ab123cd45\")") == "\"123\"");
  CHECK(Ok("(re-find \"x\" \"abc\")") == "nil");
  CHECK(Ok("(re-find \"(\\\\w+)@(\\\\w+)\" \"mail ann@example now\")") ==
        "[\"ann@example\" \"ann\" \"example\"]");
  CHECK(Ok("(re-find \"a(x)?b\" \"ab\")") == "[\"ab\" nil]");
  CHECK(Ok("(re-matches \"\\\\d+\" \"123\")") == "\"123\"");
  CHECK(Ok("(re-matches \"\\\\d+\" \"123a\")") == "nil");
  CHECK(Ok("(re-matches \"(\\\\d)(\\\\d)\" \"12\")") == "[\"12\" \"1\" \"2\"]");
  CHECK(Ok("(re-seq \"\\\\d\" \"a1b2c3\")") == "[\"1\" \"2\" \"3\"]");
  CHECK(Ok("(re-seq \"(\\\\w)=(\\\\d)\" \"a=1 b=2\")") ==
        "[[\"a=1\" \"a\" \"1\"] [\"b=2\" \"b\" \"2\"]]");
  CHECK(Ok("(re-seq \"\\\\d\" \"abc\")") == "nil");
  CHECK(Ok("(re-pattern \"a+\")") == "\"a+\"");
  // The same pattern again comes from the cache.
  CHECK(Ok("(re-find \"\\\\d+\" \"x9\")") == "\"9\"");

  const std::string bad = Err("(re-find \"(ab\" \"ab\")");
  CHECK_THAT(bad, Catch::StartsWith("`re-find`: invalid regular expression \"(ab\": "));
  CHECK_THAT(Err("(re-pattern \"[a\")"),
             Catch::StartsWith("`re-pattern`: invalid regular expression \"[a\": "));
  CHECK_THAT(Err("(clojure.string/split \"a\" \"*\")"),
             Catch::StartsWith("`clojure.string/split`: invalid regular expression \"*\": "));
  CHECK(Err("(re-find 1 \"a\")") ==
        "`re-find`: argument 1 is a long, expected a string (a regular expression)");
  CHECK(Err("(re-seq \"a\" nil)") == "`re-seq`: argument 2 is nil, expected a string");

  // std::regex recurses per matched character: long strings and patterns are refused
  // rather than overflowing the stack.
  const Value long_a = Value::String(std::string(8192, 'a'));
  Result<Value> at_limit = Call("re-matches", {Value::String("((a|b)(a|b))*"), long_a});
  REQUIRE(at_limit.ok());
  CHECK(at_limit->tuple().at(0) == long_a);
  const Value too_long = Value::String(std::string(8193, 'a'));
  for (const char* fn : {"re-find", "re-matches", "re-seq"}) {
    CHECK(Call(fn, {Value::String("a"), too_long}).status().message() ==
          std::string("`") + fn +
              "`: the string is 8193 bytes long, more than the limit of 8192 for regular "
              "expressions");
  }
  CHECK(Call("clojure.string/split", {too_long, Value::String(",")}).status().message() ==
        "`clojure.string/split`: the string is 8193 bytes long, more than the limit of 8192 for "
        "regular expressions");
  CHECK(Call("re-pattern", {Value::String(std::string(4097, 'a'))}).status().message() ==
        "`re-pattern`: the regular expression is 4097 bytes long, more than the limit of 4096");
}

TEST_CASE("builtins: clojure.string functions", "[builtins]") {
  CHECK(Ok("(clojure.string/blank? \"  \\t\\n\")") == "true");
  CHECK(Ok("(clojure.string/blank? nil)") == "true");
  CHECK(Ok("(clojure.string/blank? \"\")") == "true");
  CHECK(Ok("(blank? \" a \")") == "false");
  CHECK(Err("(blank? 1)") == "`blank?`: argument 1 is a long, expected a string");

  CHECK(Ok("(clojure.string/includes? \"hello\" \"ell\")") == "true");
  CHECK(Ok("(includes? \"hello\" \"xyz\")") == "false");
  CHECK(Ok("(clojure.string/starts-with? \"hello\" \"he\")") == "true");
  CHECK(Ok("(starts-with? \"hello\" \"lo\")") == "false");
  CHECK(Ok("(clojure.string/ends-with? \"hello\" \"lo\")") == "true");
  CHECK(Ok("(ends-with? \"hello\" \"\")") == "true");
  CHECK(Err("(starts-with? \"hello\" :h)") ==
        "`starts-with?`: argument 2 is a keyword, expected a string");
  CHECK(Err("(clojure.string/starts-with? 1 \"h\")") ==
        "`clojure.string/starts-with?`: argument 1 is a long, expected a string");

  CHECK(Ok("(clojure.string/upper-case \"Héllo w1\")") == "\"HéLLO W1\"");
  CHECK(Ok("(lower-case \"HeLLo\")") == "\"hello\"");
  CHECK(Ok("(upper-case \"\")") == "\"\"");
  CHECK(Ok("(clojure.string/trim \"  a b \\n\")") == "\"a b\"");
  CHECK(Ok("(clojure.string/trim \" \\t \")") == "\"\"");

  CHECK(Ok("(clojure.string/join [1 \"a\" nil :k])") == "\"1a:k\"");
  CHECK(Ok("(clojure.string/join \", \" [\"a\" \"b\" \"c\"])") == "\"a, b, c\"");
  CHECK(Ok("(clojure.string/join \"-\" [])") == "\"\"");
  CHECK(Ok("(clojure.string/join \"-\" nil)") == "\"\"");
  CHECK(Err("(clojure.string/join \"-\" \"abc\")") ==
        "`clojure.string/join`: argument 2 is a string, expected a tuple");

  CHECK(Ok("(clojure.string/split \"a,b,,c,,\" \",\")") == "[\"a\" \"b\" \"\" \"c\"]");
  CHECK(Ok("(clojure.string/split \"a,b,,c,,\" \",\" -1)") == "[\"a\" \"b\" \"\" \"c\" \"\" \"\"]");
  CHECK(Ok("(clojure.string/split \"a,b,c\" \",\" 2)") == "[\"a\" \"b,c\"]");
  CHECK(Ok("(clojure.string/split \"a b  c\" \"\\\\s+\")") == "[\"a\" \"b\" \"c\"]");
  CHECK(Ok("(clojure.string/split \",a\" \",\")") == "[\"\" \"a\"]");
  CHECK(Ok("(clojure.string/split \"abc\" \"\")") == "[\"a\" \"b\" \"c\"]");
  CHECK(Ok("(clojure.string/split \"\" \",\")") == "[\"\"]");
  CHECK(Ok("(clojure.string/split \"abc\" \"x\")") == "[\"abc\"]");
  CHECK(Ok("(clojure.string/split \",,\" \",\")") == "[]");
  CHECK(FindBuiltin("split") == nullptr);
  CHECK(FindBuiltin("join") == nullptr);
}

TEST_CASE("builtins: aggregate names and parameters", "[builtins]") {
  for (const char* name : {"count", "count-distinct", "sum", "avg", "min", "max", "median",
                           "variance", "stddev", "distinct", "sample", "rand"}) {
    CHECK(IsAggregate(name));
  }
  CHECK_FALSE(IsAggregate("str"));
  CHECK_FALSE(IsAggregate("mean"));
  CHECK(AggErr("mean", "[]", "[1]") == "unknown aggregate `mean`");
  CHECK(AggErr("sum", "[2]", "[1]") == "`sum`: takes no parameters, got 1");
  CHECK(AggErr("count", "[1 2]", "[1]") == "`count`: takes no parameters, got 2");
  CHECK(AggErr("min", "[1 2]", "[1]") == "`min`: takes at most one parameter (a count), got 2");
  CHECK(AggErr("min", "[\"a\"]", "[1]") ==
        "`min`: the count parameter must be a non-negative long, got a string (\"a\")");
  CHECK(AggErr("max", "[-1]", "[1]") ==
        "`max`: the count parameter must be a non-negative long, got a long (-1)");
  CHECK(AggErr("sample", "[nil]", "[1]") ==
        "`sample`: the count parameter must be a non-negative long, got nil");
  CHECK(AggErr("sample", "[]", "[1]") == "`sample`: needs a count parameter, as in (sample 3 ?x)");
  CHECK(AggErr("rand", "[10000001]", "[1]") ==
        "`rand`: count 10000001 is more than the limit of 10000000");
}

TEST_CASE("builtins: counting, sum and statistics", "[builtins]") {
  CHECK(AggOk("count", "[]", "[1 1 2 \"a\"]") == "4");
  CHECK(AggOk("count", "[]", "[]") == "0");
  CHECK(AggOk("count-distinct", "[]", "[1 1 2 \"a\" 1.0]") == "4");
  CHECK(AggOk("count-distinct", "[]", "[]") == "0");

  CHECK(AggOk("sum", "[]", "[1 2 3 2]") == "8");
  CHECK(AggOk("sum", "[]", "[1 2.5]") == "3.5");
  CHECK(AggOk("sum", "[]", "[]") == "0");
  CHECK(AggErr("sum", "[]", "[1 \"a\"]") == "`sum`: got a string (\"a\"), expected a number");
  CHECK(AggErr("sum", "[]", "[9223372036854775807 1]") ==
        "`sum`: integer overflow: 9223372036854775807 + 1");

  CHECK(AggOk("avg", "[]", "[1 2 3 4]") == "2.5");
  CHECK(AggOk("avg", "[]", "[2 2]") == "2.0");
  CHECK(AggOk("avg", "[]", "[]") == "nil");
  CHECK(AggErr("avg", "[]", "[:a]") == "`avg`: got a keyword (:a), expected a number");

  CHECK(AggOk("median", "[]", "[3 1 2]") == "2");  // the middle value, a long stays a long
  CHECK(AggOk("median", "[]", "[4 1 3 2]") == "2.5");  // mean of the middle two
  CHECK(AggOk("median", "[]", "[5]") == "5");
  CHECK(AggOk("median", "[]", "[]") == "nil");
  CHECK(AggErr("median", "[]", "[1 nil]") == "`median`: got nil (nil), expected a number");

  // Population variance, as DataScript: mean 5, squared deviations sum to 32, over 8.
  CHECK(AggOk("variance", "[]", "[2 4 4 4 5 5 7 9]") == "4.0");
  CHECK(AggOk("stddev", "[]", "[2 4 4 4 5 5 7 9]") == "2.0");
  CHECK(AggOk("variance", "[]", "[1]") == "0.0");
  CHECK(AggOk("stddev", "[]", "[]") == "nil");
  CHECK(AggErr("stddev", "[]", "[\"x\"]") == "`stddev`: got a string (\"x\"), expected a number");
}

TEST_CASE("builtins: min, max, distinct", "[builtins]") {
  CHECK(AggOk("min", "[]", "[3 1 2]") == "1");
  CHECK(AggOk("max", "[]", "[3 1 2]") == "3");
  CHECK(AggOk("max", "[]", "[3 2.5 1]") == "3");
  CHECK(AggOk("min", "[]", "[3 2.5 4]") == "2.5");  // numbers by value, not by type
  CHECK(AggOk("min", "[]", "[\"b\" \"a\" \"c\"]") == "\"a\"");
  CHECK(AggOk("max", "[]", "[:a :c :b]") == ":c");
  CHECK(AggOk("max", "[]", "[1 \"a\" :k]") == ":k");  // total order across types
  CHECK(AggOk("min", "[]", "[]") == "nil");
  CHECK(AggOk("max", "[]", "[]") == "nil");

  CHECK(AggOk("min", "[2]", "[5 1 3 1 4]") == "[1 1]");  // duplicates kept, as DataScript
  CHECK(AggOk("max", "[2]", "[5 1 3 5 4]") == "[5 5]");
  CHECK(AggOk("max", "[3]", "[1.5 2 1]") == "[1 1.5 2]");
  CHECK(AggOk("min", "[10]", "[2 1 2]") == "[1 2 2]");
  CHECK(AggOk("min", "[0]", "[2 1]") == "[]");
  CHECK(AggOk("max", "[3]", "[]") == "[]");

  CHECK(AggOk("distinct", "[]", "[3 1 3 2 1]") == "#{1 2 3}");
  CHECK(AggOk("distinct", "[]", "[]") == "#{}");
  Result<edn::Node> d = Agg("distinct", "[]", "[\"a\" [1 2] \"a\"]");
  REQUIRE(d.ok());
  CHECK(d->kind == edn::Kind::kSet);
  CHECK(d->items.size() == 2);
}

TEST_CASE("builtins: sample and rand", "[builtins]") {
  for (int i = 0; i < 50; ++i) {
    Result<edn::Node> s = Agg("sample", "[2]", "[1 2 3 1 2 3]");
    REQUIRE(s.ok());
    REQUIRE(s->kind == edn::Kind::kVector);
    REQUIRE(s->items.size() == 2);
    CHECK(s->items[0].i != s->items[1].i);  // distinct values
    for (const edn::Node& n : s->items) {
      CHECK(n.i >= 1);
      CHECK(n.i <= 3);
    }
  }
  CHECK(edn::Write(*Agg("sample", "[5]", "[7 7 7]")) == "[7]");
  CHECK(AggOk("sample", "[0]", "[1 2]") == "[]");
  CHECK(AggOk("sample", "[3]", "[]") == "[]");

  std::set<int64_t> seen;
  for (int i = 0; i < 20; ++i) {
    Result<edn::Node> r = Agg("rand", "[5]", "[1 2]");
    REQUIRE(r.ok());
    REQUIRE(r->items.size() == 5);  // with repetition
    for (const edn::Node& n : r->items) seen.insert(n.i);
  }
  CHECK(seen == std::set<int64_t>{1, 2});
  CHECK(AggOk("rand", "[3]", "[9]") == "[9 9 9]");
  CHECK(AggOk("rand", "[3]", "[]") == "[]");
  CHECK(AggOk("rand", "[]", "[4]") == "4");  // one value without a count
  CHECK(AggOk("rand", "[]", "[]") == "nil");
}

}  // namespace
}  // namespace datalith::query
