#include "datalith/value.h"

#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace datalith {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string Enc(const Value& v) {
  std::string out;
  EncodeValue(v, &out);
  return out;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

int Sign(int x) { return (x > 0) - (x < 0); }

int MemcmpSign(const std::string& a, const std::string& b) {
  int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  if (c != 0) return Sign(c);
  return Sign(static_cast<int>(a.size() > b.size()) - static_cast<int>(a.size() < b.size()));
}

Value Decoded(const std::string& bytes) {
  size_t pos = 0;
  Result<Value> r = DecodeValue(bytes, &pos);
  REQUIRE(r.ok());
  REQUIRE(pos == bytes.size());
  return *r;
}

Status DecodeStatus(const std::string& bytes) {
  size_t pos = 0;
  Result<Value> r = DecodeValue(bytes, &pos);
  CHECK(pos == 0);  // not advanced on error
  return r.status();
}

// ---- random values for the property tests ----

class ValueGen {
 public:
  explicit ValueGen(uint64_t seed) : rng_(seed) {}

  Value Any(int depth = 0) {
    switch (Pick(depth < 3 ? 11 : 10)) {
      case 0: return Value::Nil();
      case 1: return Value::Boolean(Pick(2) == 1);
      case 2: return Value::Long(Long());
      case 3: return Value::Double(Double());
      case 4: return Value::String(Text());
      case 5: return Value::Keyword(Text());
      case 6: return Value::Symbol(Text());
      case 7: return Value::Ref(Pick(2) ? static_cast<uint64_t>(Long()) : Pick(5));
      case 8: return Value::Instant(Long());
      case 9: return Value::MakeUuid(Uuid{Pick(2) ? rng_() : Pick(3), Pick(2) ? rng_() : Pick(3)});
      default: {
        std::vector<Value> items(Pick(4));
        for (auto& item : items) item = Any(depth + 1);
        return Value::Tuple(std::move(items));
      }
    }
  }

  int64_t Long() {
    static constexpr int64_t kSpecial[] = {0,   1,    -1,   2,    -2,       255,
                                           256, -256, kMin, kMax, kMin + 1, kMax - 1};
    if (Pick(2)) return kSpecial[Pick(std::size(kSpecial))];
    return static_cast<int64_t>(rng_()) >> Pick(64);
  }

  double Double() {
    static const double kSpecial[] = {0.0,
                                      -0.0,
                                      1.0,
                                      -1.0,
                                      kInf,
                                      -kInf,
                                      std::numeric_limits<double>::quiet_NaN(),
                                      -std::numeric_limits<double>::quiet_NaN(),
                                      std::bit_cast<double>(uint64_t{0x7ff0000000000001}),
                                      std::numeric_limits<double>::denorm_min(),
                                      -std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::lowest(),
                                      0.5,
                                      -0.5,
                                      1e300};
    if (Pick(2)) return kSpecial[Pick(std::size(kSpecial))];
    if (Pick(2)) return std::bit_cast<double>(rng_());
    return (static_cast<double>(Pick(2001)) - 1000.0) / 8;
  }

  // Short strings over a tiny alphabet so prefixes and NULs collide often.
  std::string Text() {
    static constexpr char kAlphabet[] = {'\0', '\x01', 'a', 'b', '\xff', '\xc3'};
    std::string s(Pick(5), ' ');
    for (char& c : s) c = kAlphabet[Pick(std::size(kAlphabet))];
    return s;
  }

  uint64_t Pick(uint64_t n) { return rng_() % n; }

 private:
  std::mt19937_64 rng_;
};

// ---- tests ----

TEST_CASE("Value factories and accessors", "[value]") {
  CHECK(Value().is_nil());
  CHECK(Value::Nil().type() == ValueType::kNil);
  CHECK(Value::Boolean(true).boolean());
  CHECK_FALSE(Value::Boolean(false).boolean());
  CHECK(Value::Long(-7).long_value() == -7);
  CHECK(Value::Long(5).is_number());
  CHECK(Value::Double(2.5).is_number());
  CHECK_FALSE(Value::Ref(5).is_number());
  CHECK(Value::Double(2.5).double_value() == 2.5);
  CHECK(Value::String("x").str() == "x");
  CHECK(Value::Keyword("person/name").type() == ValueType::kKeyword);
  CHECK(Value::Keyword("person/name").str() == "person/name");
  CHECK(Value::Symbol("?e").str() == "?e");
  CHECK(Value::Ref(42).ref() == 42);
  CHECK(Value::Instant(-5).instant() == -5);
  CHECK(Value::MakeUuid(Uuid{1, 2}).uuid() == Uuid{1, 2});
  Value t = Value::Tuple({Value::Long(1), Value::String("a")});
  REQUIRE(t.tuple().size() == 2);
  CHECK(t.tuple()[1].str() == "a");
  CHECK(Value::Long(3).tuple().empty());
  CHECK(Value::Long(3).AsDouble() == 3.0);
  CHECK(Value::Double(-1.5).AsDouble() == -1.5);
  CHECK(Value::String("3").AsDouble() == 0.0);

  Value copy = t;  // tuples share their elements
  CHECK(&copy.tuple() == &t.tuple());
}

TEST_CASE("Value::Double canonicalises -0.0 and NaN", "[value]") {
  CHECK_FALSE(std::signbit(Value::Double(-0.0).double_value()));
  CHECK(std::bit_cast<uint64_t>(Value::Double(-0.0).double_value()) == 0);
  double odd_nan = std::bit_cast<double>(uint64_t{0xfff0000000000123});
  REQUIRE(std::isnan(odd_nan));
  CHECK(std::bit_cast<uint64_t>(Value::Double(odd_nan).double_value()) == 0x7ff8000000000000);
  CHECK(Value::Double(-0.0) == Value::Double(0.0));
  CHECK(Value::Double(NAN) == Value::Double(odd_nan));
  CHECK(Value::Double(NAN).Hash() == Value::Double(odd_nan).Hash());
}

TEST_CASE("ValueTypeName", "[value]") {
  CHECK(std::string(ValueTypeName(ValueType::kNil)) == "nil");
  CHECK(std::string(ValueTypeName(ValueType::kKeyword)) == "keyword");
  CHECK(std::string(ValueTypeName(ValueType::kTuple)) == "tuple");
  CHECK(std::string(ValueTypeName(ValueType::kRef)) == "ref");
}

TEST_CASE("Compare orders by type tag first", "[value]") {
  std::vector<Value> ascending = {
      Value::Nil(),         Value::Boolean(true),    Value::Long(kMin), Value::Double(-kInf),
      Value::String(""),    Value::Keyword(""),      Value::Symbol(""), Value::Ref(0),
      Value::Instant(kMin), Value::MakeUuid(Uuid{}), Value::Tuple({}),
  };
  for (size_t i = 0; i + 1 < ascending.size(); ++i) {
    INFO(i);
    CHECK(Value::Compare(ascending[i], ascending[i + 1]) < 0);
    CHECK(Value::Compare(ascending[i + 1], ascending[i]) > 0);
    CHECK(ascending[i] != ascending[i + 1]);
  }
  CHECK(Value::Long(kMax) < Value::Double(-kInf));
  CHECK(Value::String("zzz") < Value::Keyword("a"));
}

TEST_CASE("Compare within types", "[value]") {
  CHECK(Value::Boolean(false) < Value::Boolean(true));
  CHECK(Value::Long(-1) < Value::Long(0));
  CHECK(Value::Long(kMin) < Value::Long(kMax));
  CHECK(Value::Double(-kInf) < Value::Double(-1e300));
  CHECK(Value::Double(-1.0) < Value::Double(-0.5));
  CHECK(Value::Double(-0.5) < Value::Double(-0.0));
  CHECK(Value::Compare(Value::Double(-0.0), Value::Double(0.0)) == 0);
  CHECK(Value::Double(0.0) < Value::Double(std::numeric_limits<double>::denorm_min()));
  CHECK(Value::Double(1e300) < Value::Double(kInf));
  CHECK(Value::Double(kInf) < Value::Double(NAN));  // NaN sorts after +inf
  CHECK(Value::Compare(Value::Double(NAN), Value::Double(NAN)) == 0);
  CHECK(Value::String("a") < Value::String("ab"));
  CHECK(Value::String("a") < Value::String(std::string("a\0", 2)));
  CHECK(Value::String(std::string("a\0", 2)) < Value::String("a\x01"));
  CHECK(Value::String("z") < Value::String("\xc3\xa9"));  // bytes are unsigned
  CHECK(Value::Ref(1) < Value::Ref(~uint64_t{0}));        // refs are unsigned
  CHECK(Value::Instant(-1) < Value::Instant(0));
  CHECK(Value::MakeUuid(Uuid{0, ~uint64_t{0}}) < Value::MakeUuid(Uuid{1, 0}));
  CHECK(Value::MakeUuid(Uuid{1, 1}) < Value::MakeUuid(Uuid{1, 2}));
  CHECK(Value::Tuple({}) < Value::Tuple({Value::Nil()}));
  CHECK(Value::Tuple({Value::Long(1)}) < Value::Tuple({Value::Long(1), Value::Nil()}));
  CHECK(Value::Tuple({Value::Long(1), Value::Long(9)}) < Value::Tuple({Value::Long(2)}));
  CHECK(Value::Tuple({Value::Long(1), Value::String("a")}) ==
        Value::Tuple({Value::Long(1), Value::String("a")}));
}

TEST_CASE("EncodeValue produces the documented bytes", "[value]") {
  CHECK(Enc(Value::Nil()) == Bytes({0}));
  CHECK(Enc(Value::Boolean(false)) == Bytes({1, 0}));
  CHECK(Enc(Value::Boolean(true)) == Bytes({1, 1}));
  CHECK(Enc(Value::Long(0)) == Bytes({2, 0x80, 0, 0, 0, 0, 0, 0, 0}));
  CHECK(Enc(Value::Long(-1)) == Bytes({2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  CHECK(Enc(Value::Long(0x0102030405060708)) == Bytes({2, 0x81, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(Enc(Value::Double(1.0)) == Bytes({3, 0xbf, 0xf0, 0, 0, 0, 0, 0, 0}));
  CHECK(Enc(Value::Double(-1.0)) == Bytes({3, 0x40, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  CHECK(Enc(Value::Double(-0.0)) == Bytes({3, 0x80, 0, 0, 0, 0, 0, 0, 0}));
  CHECK(Enc(Value::Double(NAN)) == Bytes({3, 0xff, 0xf8, 0, 0, 0, 0, 0, 0}));
  CHECK(Enc(Value::Double(-NAN)) == Bytes({3, 0xff, 0xf8, 0, 0, 0, 0, 0, 0}));
  CHECK(Enc(Value::String(std::string("a\0b", 3))) == Bytes({4, 'a', 0, 0xff, 'b', 0, 1}));
  CHECK(Enc(Value::String("")) == Bytes({4, 0, 1}));
  CHECK(Enc(Value::Keyword("a/b")) == Bytes({5, 'a', '/', 'b', 0, 1}));
  CHECK(Enc(Value::Symbol("?x")) == Bytes({6, '?', 'x', 0, 1}));
  CHECK(Enc(Value::Ref(0x0102)) == Bytes({7, 0, 0, 0, 0, 0, 0, 1, 2}));
  CHECK(Enc(Value::Instant(1)) == Bytes({8, 0x80, 0, 0, 0, 0, 0, 0, 1}));
  Result<Uuid> u = Uuid::Parse("00112233-4455-6677-8899-aabbccddeeff");
  REQUIRE(u.ok());
  CHECK(Enc(Value::MakeUuid(*u)) == Bytes({9, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                           0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}));
  CHECK(Enc(Value::Tuple({})) == Bytes({10, 0}));
  CHECK(Enc(Value::Tuple({Value::Nil(), Value::Boolean(true)})) == Bytes({10, 1, 0, 1, 1, 1, 0}));

  std::string appended = "prefix";
  EncodeValue(Value::Nil(), &appended);
  CHECK(appended == std::string("prefix\0", 7));
}

TEST_CASE("DecodeValue reads consecutive values and advances", "[value]") {
  std::vector<Value> values = {Value::Nil(),
                               Value::Boolean(true),
                               Value::Long(kMin),
                               Value::Long(kMax),
                               Value::Double(-0.5),
                               Value::Double(NAN),
                               Value::String(std::string("\0\0x\0", 4)),
                               Value::Keyword("db/id"),
                               Value::Symbol("..."),
                               Value::Ref(~uint64_t{0}),
                               Value::Instant(-86400000),
                               Value::MakeUuid(Uuid{0xdeadbeef, 42}),
                               Value::Tuple({Value::Tuple({}), Value::String(""), Value::Nil()})};
  std::string bytes;
  for (const Value& v : values) EncodeValue(v, &bytes);
  size_t pos = 0;
  for (const Value& v : values) {
    Result<Value> r = DecodeValue(bytes, &pos);
    REQUIRE(r.ok());
    CHECK(r->type() == v.type());
    CHECK(*r == v);
  }
  CHECK(pos == bytes.size());
  CHECK(std::isnan(Decoded(Enc(Value::Double(NAN))).double_value()));
}

TEST_CASE("DecodeValueInto gives what DecodeValue gives, into one reused value", "[value]") {
  // Texts after numbers after tuples and back: whatever the value held before (a text
  // buffer, a tuple, a number's bits), the decoded one equals and hashes as a fresh one.
  std::vector<Value> values = {Value::String("a text longer than the short-string buffer"),
                               Value::Long(-42),
                               Value::Keyword("db/id"),
                               Value::Tuple({Value::String("in a tuple"), Value::Long(1)}),
                               Value::String(std::string("zero\0byte", 9)),
                               Value::Ref(7),
                               Value::String("x"),
                               Value::MakeUuid(Uuid{1, 2}),
                               Value::Long(kMax),
                               Value::Double(0.25),
                               Value::Keyword("a/keyword-longer-than-the-buffer"),
                               Value::Nil(),
                               Value::String("")};
  std::string bytes;
  for (const Value& v : values) EncodeValue(v, &bytes);
  size_t pos = 0, fresh_pos = 0;
  Value into;
  for (const Value& v : values) {
    REQUIRE(DecodeValueInto(bytes, &pos, &into).ok());
    Result<Value> fresh = DecodeValue(bytes, &fresh_pos);
    REQUIRE(fresh.ok());
    CHECK(pos == fresh_pos);
    CHECK(into.type() == v.type());
    CHECK(into == v);
    CHECK(into.Hash() == v.Hash());
    CHECK(into.str() == fresh->str());
  }
  CHECK(pos == bytes.size());
  // Malformed bytes: the same error as DecodeValue's.
  for (const std::string& bad : {Bytes({2, 0x80, 0}), Bytes({4, 'a', 0}), Bytes({7}), Bytes({11})}) {
    size_t at = 0;
    Status s = DecodeValueInto(bad, &at, &into);
    CHECK(s.code() == Code::kCorruption);
    CHECK(s.message() == DecodeStatus(bad).message());
  }
}

TEST_CASE("DecodeValue reports corruption with the byte offset", "[value]") {
  auto message = [](const std::string& bytes) {
    Status s = DecodeStatus(bytes);
    CHECK(s.code() == Code::kCorruption);
    return s.message();
  };
  CHECK(message("") == "bad value encoding at byte 0: expected a type tag, found end of input");
  CHECK(message(Bytes({11})) == "bad value encoding at byte 0: unknown type tag 11");
  CHECK(message(Bytes({0xff})) == "bad value encoding at byte 0: unknown type tag 255");
  CHECK(message(Bytes({1})) ==
        "bad value encoding at byte 1: truncated boolean payload: need 1 bytes, have 0");
  CHECK(message(Bytes({1, 2})) == "bad value encoding at byte 1: boolean byte must be 0 or 1");
  CHECK(message(Bytes({2, 0x80, 0})) ==
        "bad value encoding at byte 1: truncated long payload: need 8 bytes, have 2");
  CHECK(message(Bytes({8, 0})).find("truncated instant payload") != std::string::npos);
  CHECK(message(Bytes({7})).find("truncated ref payload") != std::string::npos);
  CHECK(message(Bytes({9, 1, 2, 3})) ==
        "bad value encoding at byte 1: truncated uuid payload: need 16 bytes, have 3");
  // -0.0 and a NaN with a payload are never written.
  CHECK(message(Bytes({3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})) ==
        "bad value encoding at byte 1: non-canonical double (-0.0 or NaN payload)");
  CHECK(message(Bytes({3, 0xff, 0xf8, 0, 0, 0, 0, 0, 1})).find("non-canonical double") !=
        std::string::npos);
  CHECK(message(Bytes({4, 'a', 'b'})) == "bad value encoding at byte 3: unterminated string");
  CHECK(message(Bytes({4, 'a', 0})) == "bad value encoding at byte 3: unterminated string");
  CHECK(message(Bytes({5, 'a', 0, 7})) ==
        "bad value encoding at byte 3: invalid escape byte in keyword");
  CHECK(message(Bytes({6, 0, 0xff})) == "bad value encoding at byte 3: unterminated symbol");
  CHECK(message(Bytes({10})) == "bad value encoding at byte 1: unterminated tuple");
  CHECK(message(Bytes({10, 2})) == "bad value encoding at byte 1: invalid tuple element marker");
  CHECK(message(Bytes({10, 1})) ==
        "bad value encoding at byte 2: expected a type tag, found end of input");
  CHECK(message(Bytes({10, 1, 1, 5})) ==
        "bad value encoding at byte 3: boolean byte must be 0 or 1");
  CHECK(message(Bytes({10, 1, 0, 1, 12, 0})) ==
        "bad value encoding at byte 4: unknown type tag 12");
}

TEST_CASE("DecodeValue limits tuple nesting instead of overflowing the stack", "[value]") {
  auto nested = [](int depth) {
    std::string bytes;
    for (int i = 0; i < depth; ++i) bytes += Bytes({10, 1});
    bytes += Bytes({0});
    for (int i = 0; i < depth; ++i) bytes += Bytes({0});
    return bytes;
  };
  Value v = Decoded(nested(512));
  int depth = 0;
  while (v.type() == ValueType::kTuple) {
    v = v.tuple()[0];
    ++depth;
  }
  CHECK(depth == 512);
  Status s = DecodeStatus(nested(513));
  CHECK(s.code() == Code::kCorruption);
  CHECK(s.message() == "bad value encoding at byte 1024: tuples nested deeper than 512 levels");
  // A million opening tuples: must fail cleanly, not crash.
  std::string deep;
  for (int i = 0; i < 1000000; ++i) deep += Bytes({10, 1});
  CHECK(DecodeStatus(deep).code() == Code::kCorruption);
}

TEST_CASE("DecodeValue never crashes on arbitrary bytes", "[value]") {
  std::mt19937_64 rng(7);
  ValueGen gen(8);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 24);
      for (char& c : bytes) c = static_cast<char>(rng() % 13 == 0 ? rng() : rng() % 12);
    } else {
      bytes = Enc(gen.Any());
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits && !bytes.empty(); ++e) {
        size_t at = rng() % bytes.size();
        switch (rng() % 3) {
          case 0: bytes[at] = static_cast<char>(rng()); break;
          case 1: bytes.erase(at, 1); break;
          default: bytes.resize(at); break;
        }
      }
    }
    size_t pos = 0;
    Result<Value> r = DecodeValue(bytes, &pos);
    if (r.ok()) {
      // Whatever decodes must re-encode to exactly the bytes consumed.
      CHECK(Enc(*r) == bytes.substr(0, pos));
    } else {
      CHECK(r.status().code() == Code::kCorruption);
      CHECK(r.status().message().find("at byte ") != std::string::npos);
    }
  }
}

TEST_CASE("Compare agrees with memcmp of EncodeValue (property)", "[value]") {
  ValueGen gen(20240601);
  std::vector<Value> values;
  for (int i = 0; i < 600; ++i) values.push_back(gen.Any());
  std::vector<std::string> encoded;
  for (const Value& v : values) encoded.push_back(Enc(v));
  int equal_pairs = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < values.size(); ++j) {
      int c = Value::Compare(values[i], values[j]);
      int m = MemcmpSign(encoded[i], encoded[j]);
      if (c != m) {
        FAIL_CHECK(values[i].ToString()
                   << " vs " << values[j].ToString() << ": Compare " << c << ", memcmp " << m);
      }
      CHECK(c == -Value::Compare(values[j], values[i]));
      if (c == 0) {
        ++equal_pairs;
        CHECK(values[i].Hash() == values[j].Hash());
        CHECK(encoded[i] == encoded[j]);
      }
    }
  }
  CHECK(equal_pairs > static_cast<int>(values.size()));  // the generator does collide
}

TEST_CASE("EncodeValue/DecodeValue round trip (property)", "[value]") {
  ValueGen gen(99);
  for (int i = 0; i < 3000; ++i) {
    Value v = gen.Any();
    std::string bytes = Enc(v);
    Value back = Decoded(bytes);
    CHECK(back == v);
    CHECK(back.type() == v.type());
    CHECK(Enc(back) == bytes);
    CHECK(back.Hash() == v.Hash());
  }
}

TEST_CASE("Hash differs across types and values", "[value]") {
  CHECK(Value::Long(1).Hash() != Value::Ref(1).Hash());
  CHECK(Value::String("a").Hash() != Value::Keyword("a").Hash());
  CHECK(Value::Long(1).Hash() != Value::Long(2).Hash());
  CHECK(Value::Tuple({Value::Long(1), Value::Long(2)}).Hash() !=
        Value::Tuple({Value::Long(2), Value::Long(1)}).Hash());
  CHECK(Value::Tuple({Value::Long(1)}).Hash() == Value::Tuple({Value::Long(1)}).Hash());
  CHECK(ValueHash()(Value::String("x")) == Value::String("x").Hash());
}

TEST_CASE("Value::ToString prints EDN", "[value]") {
  CHECK(Value::Nil().ToString() == "nil");
  CHECK(Value::Boolean(true).ToString() == "true");
  CHECK(Value::Boolean(false).ToString() == "false");
  CHECK(Value::Long(-42).ToString() == "-42");
  CHECK(Value::Long(kMin).ToString() == "-9223372036854775808");
  CHECK(Value::Double(1.5).ToString() == "1.5");
  CHECK(Value::Double(1.0).ToString() == "1.0");
  CHECK(Value::Double(-0.0).ToString() == "0.0");
  CHECK(Value::Double(1e300).ToString() == "1e+300");
  CHECK(Value::Double(kInf).ToString() == "##Inf");
  CHECK(Value::Double(-kInf).ToString() == "##-Inf");
  CHECK(Value::Double(NAN).ToString() == "##NaN");
  CHECK(Value::String("a\"b\\c\n\t\r\b\f").ToString() == R"("a\"b\\c\n\t\r\b\f")");
  CHECK(Value::String(std::string("\0\x1f\x7f", 3)).ToString() == R"("\u0000\u001f\u007f")");
  CHECK(Value::String("h\xc3\xa9").ToString() == "\"h\xc3\xa9\"");
  CHECK(Value::Keyword("person/name").ToString() == ":person/name");
  CHECK(Value::Symbol("?e").ToString() == "?e");
  CHECK(Value::Ref(17592186045418ULL).ToString() == "17592186045418");
  CHECK(Value::Instant(1577934245006).ToString() == "#inst \"2020-01-02T03:04:05.006Z\"");
  CHECK(Value::MakeUuid(Uuid{0x0011223344556677, 0x8899aabbccddeeff}).ToString() ==
        "#uuid \"00112233-4455-6677-8899-aabbccddeeff\"");
  CHECK(Value::Tuple({Value::Long(1), Value::Tuple({}), Value::Nil(), Value::String("x")})
            .ToString() == "[1 [] nil \"x\"]");
}

TEST_CASE("Uuid text form", "[value]") {
  Uuid u{0x0123456789abcdef, 0xfedcba9876543210};
  CHECK(u.ToString() == "01234567-89ab-cdef-fedc-ba9876543210");
  Result<Uuid> back = Uuid::Parse(u.ToString());
  REQUIRE(back.ok());
  CHECK(*back == u);
  Result<Uuid> upper = Uuid::Parse("01234567-89AB-CDEF-FEDC-BA9876543210");
  REQUIRE(upper.ok());
  CHECK(*upper == u);
  CHECK(Uuid{}.ToString() == "00000000-0000-0000-0000-000000000000");
  for (const char* bad :
       {"", "01234567-89ab-cdef-fedc-ba987654321", "01234567-89ab-cdef-fedc-ba98765432100",
        "0123456789ab-cdef-fedc-ba9876543210--", "01234567_89ab-cdef-fedc-ba9876543210",
        "0123456g-89ab-cdef-fedc-ba9876543210", " 1234567-89ab-cdef-fedc-ba9876543210"}) {
    INFO(bad);
    Result<Uuid> r = Uuid::Parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message() ==
          "invalid uuid \"" + std::string(bad) + "\": expected 8-4-4-4-12 hex digits");
  }
}

TEST_CASE("FormatInstant", "[value]") {
  CHECK(FormatInstant(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatInstant(1577934245006) == "2020-01-02T03:04:05.006Z");
  CHECK(FormatInstant(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(FormatInstant(951782400000) == "2000-02-29T00:00:00.000Z");
  CHECK(FormatInstant(-62167219200000) == "0000-01-01T00:00:00.000Z");
  CHECK(FormatInstant(253402300799999) == "9999-12-31T23:59:59.999Z");
  // Outside RFC 3339's four-digit years: ISO 8601's expanded years, as in JavaScript.
  CHECK(FormatInstant(253402300800000) == "+010000-01-01T00:00:00.000Z");
  CHECK(FormatInstant(-62167219200001) == "-000001-12-31T23:59:59.999Z");
  CHECK_FALSE(FormatInstant(kMin).empty());
  CHECK_FALSE(FormatInstant(kMax).empty());
}

TEST_CASE("ParseInstant accepts RFC 3339 and EDN's shorter forms", "[value]") {
  auto parse = [](const char* text) {
    Result<int64_t> r = ParseInstant(text);
    INFO(text << ": " << r.status().ToString());
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(parse("2020-01-02T03:04:05.006Z") == 1577934245006);
  CHECK(parse("2020-01-02t03:04:05.006z") == 1577934245006);
  CHECK(parse("2020-01-02T03:04:05Z") == 1577934245000);
  CHECK(parse("2020-01-02T03:04:05.0069999Z") == 1577934245006);  // truncated
  CHECK(parse("2020-01-02T03:04:05.1Z") == 1577934245100);
  CHECK(parse("2020-01-02T03:04:05.12Z") == 1577934245120);
  CHECK(parse("2020-01-02T05:04:05.006+02:00") == 1577934245006);
  CHECK(parse("2020-01-01T22:34:05.006-04:30") == 1577934245006);
  CHECK(parse("2020-01-02T03:04:05.006-00:00") == 1577934245006);
  CHECK(parse("2020-01-02T03:04:05.006") == 1577934245006);  // no offset means UTC
  CHECK(parse("2020-01-02") == 1577923200000);
  CHECK(parse("2020-01-02T03") == 1577923200000 + 3 * 3600000);
  CHECK(parse("2020-01-02T03:04") == 1577923200000 + 3 * 3600000 + 4 * 60000);
  CHECK(parse("2020-01") == 1577836800000);
  CHECK(parse("2020") == 1577836800000);
  CHECK(parse("2020-01-02+01:00") == 1577923200000 - 3600000);
  CHECK(parse("1970-01-01T00:00:00Z") == 0);
  CHECK(parse("1969-12-31T23:59:59.999Z") == -1);
  CHECK(parse("0000-01-01T00:00:00Z") == -62167219200000);
  CHECK(parse("9999-12-31T23:59:59.999Z") == 253402300799999);
  CHECK(parse("2000-02-29") == 951782400000);
  CHECK(parse("2016-12-31T23:59:60Z") == parse("2017-01-01T00:00:00Z"));  // leap second
}

TEST_CASE("ParseInstant rejects malformed text", "[value]") {
  auto error = [](const char* text) {
    Result<int64_t> r = ParseInstant(text);
    INFO(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    return r.status().message();
  };
  CHECK(error("") == "invalid instant \"\": expected a 4-digit year, or a sign and 6 to 9 digits");
  CHECK(error("20-01-02") == "invalid instant \"20-01-02\": expected a 4-digit year, or a sign and 6 to 9 digits");
  CHECK(error("2020-1-02") == "invalid instant \"2020-1-02\": expected a 2-digit month");
  CHECK(error("2020-13-01") == "invalid instant \"2020-13-01\": month out of range");
  CHECK(error("2020-00-01") == "invalid instant \"2020-00-01\": month out of range");
  CHECK(error("2019-02-29") == "invalid instant \"2019-02-29\": day out of range");
  CHECK(error("1900-02-29") == "invalid instant \"1900-02-29\": day out of range");
  CHECK(error("2020-04-31") == "invalid instant \"2020-04-31\": day out of range");
  CHECK(error("2020-01-00") == "invalid instant \"2020-01-00\": day out of range");
  CHECK(error("2020-01-02T24:00:00Z") ==
        "invalid instant \"2020-01-02T24:00:00Z\": hour out of range");
  CHECK(error("2020-01-02T23:60:00Z") ==
        "invalid instant \"2020-01-02T23:60:00Z\": minutes out of range");
  CHECK(error("2020-01-02T23:58:60Z") ==
        "invalid instant \"2020-01-02T23:58:60Z\": seconds out of range");
  CHECK(error("2020-01-02T03:04:05.Z") ==
        "invalid instant \"2020-01-02T03:04:05.Z\": expected digits after '.'");
  CHECK(error("2020-01-02T03:04:05+0100") ==
        "invalid instant \"2020-01-02T03:04:05+0100\": expected an offset +hh:mm or -hh:mm");
  CHECK(error("2020-01-02T03:04:05+24:00") ==
        "invalid instant \"2020-01-02T03:04:05+24:00\": offset out of range");
  CHECK(error("2020-01-02T03:04:05Zjunk") ==
        "invalid instant \"2020-01-02T03:04:05Zjunk\": unexpected 'j' at offset 20");
  CHECK(error("2020-01-02 03:04:05Z") ==
        "invalid instant \"2020-01-02 03:04:05Z\": unexpected ' ' at offset 10");
  CHECK(error("2020-01-02T3:04") == "invalid instant \"2020-01-02T3:04\": expected a 2-digit hour");
  CHECK(error("+2020-01-02") ==
        "invalid instant \"+2020-01-02\": expected a 4-digit year, or a sign and 6 to 9 digits");
  CHECK(error("+1000000000-01-01") ==
        "invalid instant \"+1000000000-01-01\": unexpected '0' at offset 10");
  CHECK(error("+292278995-01-01") == "invalid instant \"+292278995-01-01\": out of range "
                                     "(about 292 million years around 1970)");
}

// Found by tests/fuzz/value_fuzzer.cpp (corpus: value/instant-year-minus-2): an instant
// before year 0 or after 9999 wrote as "-0002-..." or "10000-...", which ParseInstant
// (and so #inst in EDN) refused: a database holding one exported EDN it could not
// import, and the npm package's toEdn, which writes Date.toISOString's "+010000-...",
// could not transact one at all.
TEST_CASE("instants outside years 0000-9999 round-trip through text", "[value]") {
  for (int64_t millis : {kMin, kMax, int64_t{-62204316276736}, int64_t{253402300800000},
                         int64_t{-62167219200001}, int64_t{8640000000000000}, int64_t{-8640000000000000}}) {
    const std::string text = FormatInstant(millis);
    Result<int64_t> back = ParseInstant(text);
    INFO(millis << " " << text << ": " << back.status().ToString());
    REQUIRE(back.ok());
    CHECK(*back == millis);
  }
  // What JavaScript writes for its extreme dates.
  CHECK(*ParseInstant("+275760-09-13T00:00:00.000Z") == 8640000000000000);
  CHECK(*ParseInstant("-271821-04-20T00:00:00.000Z") == -8640000000000000);
  CHECK(*ParseInstant("-000001") == -62198755200000);
}

TEST_CASE("FormatInstant/ParseInstant round trip (property)", "[value]") {
  std::mt19937_64 rng(1234);
  const int64_t lo = -62167219200000;  // 0000-01-01
  const int64_t hi = 253402300799999;  // 9999-12-31T23:59:59.999
  for (int i = 0; i < 20000; ++i) {
    int64_t millis = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
    std::string text = FormatInstant(millis);
    Result<int64_t> back = ParseInstant(text);
    REQUIRE(back.ok());
    CHECK(*back == millis);
  }
}

}  // namespace
}  // namespace datalith
