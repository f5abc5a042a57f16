#include "datalith/edn.h"

#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>

namespace datalith::edn {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Node Read(std::string_view text) {
  Result<Node> r = ReadOne(text);
  INFO("reading: " << text << " -> " << r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

// The error message of ReadAll (which sees every form, so errors come from the
// reader itself rather than ReadOne's single-form rule).
std::string ErrorOf(std::string_view text) {
  Result<std::vector<Node>> r = ReadAll(text);
  INFO("reading: " << text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

std::string ReadOneError(std::string_view text) {
  Result<Node> r = ReadOne(text);
  INFO("reading: " << text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

std::string Utf8(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xc0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xe0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    s += static_cast<char>(0xf0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return s;
}

// ---- scalars ----

TEST_CASE("nil and booleans", "[edn]") {
  CHECK(Read("nil").is(Kind::kNil));
  Node t = Read("true");
  CHECK(t.is(Kind::kBool));
  CHECK(t.b);
  Node f = Read("false");
  CHECK(f.is(Kind::kBool));
  CHECK_FALSE(f.b);
  // Only the exact tokens are special.
  CHECK(Read("nil?").IsSymbol("nil?"));
  CHECK(Read("truex").IsSymbol("truex"));
  CHECK(Read("nil/x").IsSymbol("nil/x"));
}

TEST_CASE("integers", "[edn]") {
  CHECK(Read("0").i == 0);
  CHECK(Read("42").is(Kind::kLong));
  CHECK(Read("42").i == 42);
  CHECK(Read("+42").i == 42);
  CHECK(Read("-42").i == -42);
  CHECK(Read("-0").i == 0);
  CHECK(Read("9223372036854775807").i == std::numeric_limits<int64_t>::max());
  Node min = Read("-9223372036854775808");
  CHECK(min.is(Kind::kLong));
  CHECK(min.i == std::numeric_limits<int64_t>::min());

  Node over = Read("9223372036854775808");
  CHECK(over.is(Kind::kBigInt));
  CHECK(over.text == "9223372036854775808");
  Node under = Read("-9223372036854775809");
  CHECK(under.is(Kind::kBigInt));
  CHECK(under.text == "-9223372036854775809");

  Node big = Read("123N");
  CHECK(big.is(Kind::kBigInt));
  CHECK(big.text == "123");
  CHECK(Read("+7N").text == "7");
  CHECK(Read("-7N").text == "-7");
  CHECK(Read("-0N").text == "0");
  CHECK(Read("0N").text == "0");
}

TEST_CASE("floats", "[edn]") {
  auto d = [](std::string_view text) {
    Node n = Read(text);
    INFO(text);
    REQUIRE(n.is(Kind::kDouble));
    return n.d;
  };
  CHECK(d("1.5") == 1.5);
  CHECK(d("-1.5") == -1.5);
  CHECK(d("+1.5") == 1.5);
  CHECK(d("1.") == 1.0);
  CHECK(d("0.25") == 0.25);
  CHECK(d("1e3") == 1000.0);
  CHECK(d("1E3") == 1000.0);
  CHECK(d("1e+3") == 1000.0);
  CHECK(d("1.5e-3") == 0.0015);
  CHECK(d("-2.5E2") == -250.0);
  CHECK(d("5e-324") == std::numeric_limits<double>::denorm_min());
  CHECK(d("1.7976931348623157e308") == std::numeric_limits<double>::max());
  CHECK(std::signbit(d("-0.0")));
  CHECK(d("0.1") == 0.1);
  // Beyond double range saturates, as Clojure does.
  CHECK(d("1e400") == kInf);
  CHECK(d("-1e400") == -kInf);
  CHECK(d("123456789.0e99999999999999999999") == kInf);
  CHECK(d("1e-400") == 0.0);
  CHECK(std::signbit(d("-1e-400")));
  CHECK(d("0.0000000001e-330") == 0.0);

  CHECK(d("##Inf") == kInf);
  CHECK(d("##-Inf") == -kInf);
  CHECK(std::isnan(d("##NaN")));

  Node m = Read("1.50M");
  CHECK(m.is(Kind::kBigDec));
  CHECK(m.text == "1.50");
  CHECK(Read("-3M").text == "-3");
  CHECK(Read("-3M").is(Kind::kBigDec));
  CHECK(Read("+1e5M").text == "1e5");
}

TEST_CASE("number errors", "[edn]") {
  CHECK(ErrorOf("007") == "line 1, col 1: invalid number 007: leading zeros are not allowed");
  CHECK(ErrorOf("-01.5") == "line 1, col 1: invalid number -01.5: leading zeros are not allowed");
  CHECK(ErrorOf("1e") == "line 1, col 1: invalid number 1e: expected digits in the exponent");
  CHECK(ErrorOf("1e+") == "line 1, col 1: invalid number 1e+: expected digits in the exponent");
  CHECK(ErrorOf("  12abc") == "line 1, col 3: invalid number 12abc: unexpected 'a'");
  CHECK(ErrorOf("1.5N") == "line 1, col 1: invalid number 1.5N: unexpected 'N'");
  CHECK(ErrorOf("1NN") == "line 1, col 1: invalid number 1NN: unexpected 'N'");
  CHECK(ErrorOf("1.2.3") == "line 1, col 1: invalid number 1.2.3: unexpected '.'");
  CHECK(ErrorOf("0x10") == "line 1, col 1: invalid number 0x10: unexpected 'x'");
  CHECK(ErrorOf("1/2") == "line 1, col 1: invalid number 1/2: unexpected '/'");
  CHECK(ErrorOf("##Foo") ==
        "line 1, col 1: unknown symbolic value ##Foo (expected ##Inf, ##-Inf or ##NaN)");
  CHECK(ErrorOf("##inf") ==
        "line 1, col 1: unknown symbolic value ##inf (expected ##Inf, ##-Inf or ##NaN)");
}

TEST_CASE("strings and escapes", "[edn]") {
  CHECK(Read(R"("")").text.empty());
  CHECK(Read(R"("hello")").is(Kind::kString));
  CHECK(Read(R"("hello")").text == "hello");
  CHECK(Read(R"("a\tb\rc\nd\\e\"f\bg\fh")").text == "a\tb\rc\nd\\e\"f\bg\fh");
  CHECK(Read(R"("\u0041\u00e9\u20AC")").text == "A\xc3\xa9\xe2\x82\xac");
  CHECK(Read(R"("\u0000")").text == std::string("\0", 1));
  CHECK(Read(R"("\ud83d\ude00")").text == "\xf0\x9f\x98\x80");  // surrogate pair
  CHECK(Read(R"("\uD83D\uDE00x")").text == "\xf0\x9f\x98\x80x");
  CHECK(Read("\"line1\nline2\"").text == "line1\nline2");  // raw newlines are fine
  CHECK(Read("\"h\xc3\xa9 \xf0\x9f\x98\x80\"").text == "h\xc3\xa9 \xf0\x9f\x98\x80");
  CHECK(Read("\"a;b,c#_d\"").text == "a;b,c#_d");
}

TEST_CASE("string errors", "[edn]") {
  CHECK(ErrorOf("a \"x\nabcd") == "line 2, col 5: unterminated string starting at line 1, col 3");
  CHECK(ErrorOf("\"abc\\") == "line 1, col 6: unterminated string starting at line 1, col 1");
  CHECK(ErrorOf(R"("ab\qc")") ==
        "line 1, col 4: unsupported escape \\q in string (expected one of \\t \\r \\n \\b \\f "
        "\\\\ \\\" \\uXXXX)");
  CHECK(ErrorOf("\"\\\xc3\xa9\"").find("line 1, col 2: unsupported escape \\ followed by U+00E9") ==
        0);
  CHECK(ErrorOf(R"(  "\u12")") == "line 1, col 4: invalid \\u escape: expected 4 hex digits");
  CHECK(ErrorOf(R"("\u12g4")") == "line 1, col 2: invalid \\u escape: expected 4 hex digits");
  CHECK(ErrorOf(R"("\ud83d")") == "line 1, col 2: unpaired high surrogate \\uD83D in string");
  CHECK(ErrorOf(R"("\ud83dx")") == "line 1, col 2: unpaired high surrogate \\uD83D in string");
  CHECK(ErrorOf(R"("\ud83d\u0041")") == "line 1, col 2: unpaired high surrogate \\uD83D in string");
  CHECK(ErrorOf(R"("x\ude00")") == "line 1, col 3: unpaired low surrogate \\uDE00 in string");
  CHECK(ErrorOf(R"("\ud83d\u00")") == "line 1, col 8: invalid \\u escape: expected 4 hex digits");
}

TEST_CASE("characters", "[edn]") {
  auto ch = [](std::string_view text) {
    Node n = Read(text);
    INFO(text);
    REQUIRE(n.is(Kind::kChar));
    return n.ch;
  };
  CHECK(ch("\\a") == U'a');
  CHECK(ch("\\Z") == U'Z');
  CHECK(ch("\\1") == U'1');
  CHECK(ch("\\newline") == U'\n');
  CHECK(ch("\\space") == U' ');
  CHECK(ch("\\tab") == U'\t');
  CHECK(ch("\\return") == U'\r');
  CHECK(ch("\\backspace") == U'\b');
  CHECK(ch("\\formfeed") == U'\f');
  CHECK(ch("\\u0041") == U'A');
  CHECK(ch("\\u20ac") == U'\u20ac');
  CHECK(ch("\\u") == U'u');
  CHECK(ch("\\n") == U'n');
  CHECK(ch("\\\xc3\xa9") == U'\u00e9');
  CHECK(ch("\\\xf0\x9f\x98\x80") == U'\U0001F600');
  // Delimiters are characters when they come right after the backslash.
  CHECK(ch("\\(") == U'(');
  CHECK(ch("\\)") == U')');
  CHECK(ch("\\\"") == U'"');
  CHECK(ch("\\\\") == U'\\');
  CHECK(ch("\\;") == U';');
  CHECK(ch("\\,") == U',');
  CHECK(ch("\\#") == U'#');

  Result<std::vector<Node>> forms = ReadAll("[\\a\\b \\c]");
  REQUIRE(forms.ok());
  REQUIRE(forms->at(0).items.size() == 3);
  CHECK(forms->at(0).items[1].ch == U'b');
  CHECK(forms->at(0).items[1].pos.col == 4);
}

TEST_CASE("character errors", "[edn]") {
  CHECK(ErrorOf("\\") == "line 1, col 2: unexpected end of input, expected a character after '\\'");
  CHECK(ErrorOf("[\\ ]") == "line 1, col 3: unexpected U+0020, expected a character after '\\'");
  CHECK(ErrorOf("\\abc") == "line 1, col 1: unsupported character literal \\abc");
  CHECK(ErrorOf("x \\Newline") == "line 1, col 3: unsupported character literal \\Newline");
  CHECK(ErrorOf("\\u12") == "line 1, col 1: unsupported character literal \\u12");
  CHECK(ErrorOf("\\ud800") ==
        "line 1, col 1: invalid character \\ud800: a UTF-16 surrogate is not a character");
}

TEST_CASE("keywords", "[edn]") {
  Node k = Read(":a");
  CHECK(k.is(Kind::kKeyword));
  CHECK(k.text == "a");
  CHECK(k.IsKeyword("a"));
  CHECK_FALSE(k.IsSymbol("a"));
  CHECK(Read(":a/b").text == "a/b");
  CHECK(Read(":db/id").IsKeyword("db/id"));
  CHECK(Read(":a.b/c-d?").text == "a.b/c-d?");
  CHECK(Read(":person/name*!_<>=$%&").text == "person/name*!_<>=$%&");
  CHECK(Read(":a:b#c").text == "a:b#c");
  CHECK(Read(":1").text == "1");
  CHECK(Read(":-").text == "-");
  CHECK(Read(":\xc3\xa9t\xc3\xa9").text == "\xc3\xa9t\xc3\xa9");
}

TEST_CASE("keyword errors", "[edn]") {
  CHECK(ErrorOf(":") == "line 1, col 1: expected a keyword name after ':'");
  CHECK(ErrorOf("[: a]") == "line 1, col 2: expected a keyword name after ':'");
  CHECK(ErrorOf("::a") ==
        "line 1, col 1: invalid keyword ::a: auto-resolved keywords ('::') are not EDN");
  CHECK(ErrorOf(":/") == "line 1, col 1: invalid keyword :/: '/' alone is not a keyword name");
  CHECK(ErrorOf(":/a") ==
        "line 1, col 1: invalid keyword :/a: the prefix and the name around '/' must both be "
        "non-empty");
  CHECK(ErrorOf(":a/") ==
        "line 1, col 1: invalid keyword :a/: the prefix and the name around '/' must both be "
        "non-empty");
  CHECK(ErrorOf(":a/b/c") == "line 1, col 1: invalid keyword :a/b/c: more than one '/'");
  CHECK(ErrorOf(":a@b") == "line 1, col 1: invalid keyword :a@b: invalid character");
  CHECK(ErrorOf(":#a") == "line 1, col 1: invalid keyword :#a: cannot start with ':' or '#'");
}

TEST_CASE("symbols", "[edn]") {
  for (const char* name :
       {"/",  "?x", "...", "+",       "-",           ".",  "a/b", "$db", "%",  "_",  "*",  "!",
        "<=", ">",  "=",   "foo-bar", "foo.bar/baz", "a#", "a:b", "-a",  "+a", ".a", "a1", "x'"}) {
    if (std::string_view(name) == "x'") continue;  // "'" is not an EDN constituent
    INFO(name);
    Node n = Read(name);
    CHECK(n.is(Kind::kSymbol));
    CHECK(n.text == name);
    CHECK(n.IsSymbol(name));
  }
  CHECK(Read("\xce\xbb").IsSymbol("\xce\xbb"));
}

TEST_CASE("symbol errors", "[edn]") {
  CHECK(ErrorOf("a/") ==
        "line 1, col 1: invalid symbol a/: the prefix and the name around '/' must both be "
        "non-empty");
  CHECK(ErrorOf("/a") ==
        "line 1, col 1: invalid symbol /a: the prefix and the name around '/' must both be "
        "non-empty");
  CHECK(ErrorOf("a/b/c") == "line 1, col 1: invalid symbol a/b/c: more than one '/'");
  CHECK(
      ErrorOf(".5") ==
      "line 1, col 1: invalid symbol .5: a leading '+', '-' or '.' cannot be followed by a digit");
  CHECK(ErrorOf("a@b") == "line 1, col 1: invalid symbol a@b: invalid character");
  CHECK(ErrorOf("@a") == "line 1, col 1: unexpected character '@'");
  CHECK(ErrorOf("x ^") == "line 1, col 3: unexpected character '^'");
  CHECK(ErrorOf("`a") == "line 1, col 1: unexpected character '`'");
  CHECK(ErrorOf("'a") == "line 1, col 1: unexpected character '''");
  CHECK(ErrorOf("~a") == "line 1, col 1: unexpected character '~'");
  CHECK(ErrorOf(std::string("\x01", 1)) == "line 1, col 1: unexpected character U+0001");
}

// ---- collections ----

TEST_CASE("collections", "[edn]") {
  Node l = Read("(1 2 3)");
  CHECK(l.is(Kind::kList));
  CHECK(l.IsColl());
  REQUIRE(l.items.size() == 3);
  CHECK(l.items[2].i == 3);

  Node v = Read("[a [b] ()]");
  CHECK(v.is(Kind::kVector));
  REQUIRE(v.items.size() == 3);
  CHECK(v.items[1].is(Kind::kVector));
  CHECK(v.items[2].is(Kind::kList));
  CHECK(v.items[2].items.empty());

  Node m = Read("{:a 1, :b [2 3]}");
  CHECK(m.is(Kind::kMap));
  REQUIRE(m.items.size() == 4);
  CHECK(m.items[0].IsKeyword("a"));
  CHECK(m.items[3].is(Kind::kVector));

  Node s = Read("#{1 \"1\" :1 [1]}");
  CHECK(s.is(Kind::kSet));
  CHECK(s.items.size() == 4);
  CHECK(s.pos.col == 1);

  CHECK(Read("{}").items.empty());
  CHECK(Read("#{}").items.empty());
  CHECK(Read("[]").items.empty());
  CHECK_FALSE(Read("1").IsColl());
  CHECK(Read("#{}").IsColl());
  CHECK(Read("{}").IsColl());

  // Adjacent forms need no whitespace between delimiters.
  Node tight = Read("[1\"a\":b(c)[d]{e f}#{g}\\h]");
  REQUIRE(tight.items.size() == 8);
  CHECK(tight.items[1].text == "a");
  CHECK(tight.items[2].IsKeyword("b"));
  CHECK(tight.items[7].ch == U'h');
}

TEST_CASE("collection errors", "[edn]") {
  CHECK(ErrorOf("(a))") == "line 1, col 4: unexpected ')'");
  CHECK(ErrorOf("]") == "line 1, col 1: unexpected ']'");
  CHECK(ErrorOf("{:a}") == "line 1, col 1: map literal has an odd number of forms");
  CHECK(ErrorOf("[1\n {:a 1 :b}]") == "line 2, col 2: map literal has an odd number of forms");
  CHECK(ErrorOf("[1 2") ==
        "line 1, col 5: unexpected end of input, expected ']' to close the vector opened at "
        "line 1, col 1");
  CHECK(ErrorOf("(a\n  [b\n") ==
        "line 3, col 1: unexpected end of input, expected ']' to close the vector opened at "
        "line 2, col 3");
  CHECK(ErrorOf("{:a") ==
        "line 1, col 4: unexpected end of input, expected '}' to close the map opened at line "
        "1, col 1");
  CHECK(ErrorOf("  #{1") ==
        "line 1, col 6: unexpected end of input, expected '}' to close the set opened at line "
        "1, col 3");
  CHECK(ErrorOf("(1 ; comment") ==
        "line 1, col 13: unexpected end of input, expected ')' to close the list opened at line "
        "1, col 1");
  CHECK(ErrorOf("[1 2)") ==
        "line 1, col 5: unexpected ')', expected ']' to close the vector opened at line 1, col 1");
  CHECK(ErrorOf("(1 2}") ==
        "line 1, col 5: unexpected '}', expected ')' to close the list opened at line 1, col 1");
  CHECK(ErrorOf("{:a 1 :b 2 :a 3}") ==
        "line 1, col 12: duplicate key :a in map literal opened at line 1, col 1");
  CHECK(ErrorOf("{[1 #{2 3}] 1\n [1 #{3 2}] 2}") ==
        "line 2, col 2: duplicate key [1 #{3 2}] in map literal opened at line 1, col 1");
  CHECK(ErrorOf("#{1 2 1}") ==
        "line 1, col 7: duplicate set element 1 in set literal opened at line 1, col 1");
  CHECK(ErrorOf("#{##NaN ##NaN}") ==
        "line 1, col 9: duplicate set element ##NaN in set literal opened at line 1, col 1");
  CHECK(
      ErrorOf("#{{:a 1 :b 2} {:b 2 :a 1}}") ==
      "line 1, col 15: duplicate set element {:b 2, :a 1} in set literal opened at line 1, col 1");
  // Values of different kinds are distinct keys.
  CHECK(Read("{1 a 1.0 b 1N c \"1\" d :1 e \\1 f (1) g [1] h}").items.size() == 16);
  CHECK(Read("#{0.0 1}").items.size() == 2);
}

TEST_CASE("duplicate detection stays fast for large maps and sets", "[edn]") {
  std::string text = "{";
  for (int i = 0; i < 20000; ++i) text += ":k" + std::to_string(i) + " " + std::to_string(i) + " ";
  text += "}";
  CHECK(Read(text).items.size() == 40000);
  std::string dup = "#{";
  for (int i = 0; i < 20000; ++i) dup += std::to_string(i % 19999) + " ";
  dup += "}";
  std::string message = ErrorOf(dup);
  CHECK(message.find("duplicate set element 0 in set literal") != std::string::npos);
}

TEST_CASE("nesting depth is limited", "[edn]") {
  auto nested = [](int depth, const char* open, const char* close) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += open;
    s += "1";
    for (int i = 0; i < depth; ++i) s += close;
    return s;
  };
  Node deep = Read(nested(512, "[", "]"));
  int depth = 0;
  for (const Node* n = &deep; n->is(Kind::kVector); n = &n->items[0]) ++depth;
  CHECK(depth == 512);
  CHECK(ErrorOf(nested(513, "[", "]")) == "line 1, col 513: forms nested deeper than 512 levels");
  CHECK(ErrorOf(nested(100000, "(", ")")) ==
        "line 1, col 513: forms nested deeper than 512 levels");
  CHECK(ErrorOf(nested(100000, "{:a ", "}")).find("forms nested deeper than 512 levels") !=
        std::string::npos);
  CHECK(ErrorOf(nested(100000, "#{", "}")).find("forms nested deeper than 512 levels") !=
        std::string::npos);
  CHECK(ErrorOf(nested(100000, "#t ", "")).find("forms nested deeper than 512 levels") !=
        std::string::npos);
  CHECK(ErrorOf(nested(100000, "#_ ", "") + " 2").find("forms nested deeper than 512 levels") !=
        std::string::npos);
  Node tagged = Read(nested(511, "#t ", ""));
  CHECK(tagged.is(Kind::kTagged));
}

// ---- tags, comments, discard, whitespace ----

TEST_CASE("tagged elements", "[edn]") {
  Node t = Read("#myapp/Person {:first \"Fred\"}");
  CHECK(t.is(Kind::kTagged));
  CHECK(t.text == "myapp/Person");
  REQUIRE(t.items.size() == 1);
  CHECK(t.items[0].is(Kind::kMap));
  CHECK(t.items[0].pos.col == 15);

  Node nested = Read("#a #b 1");
  CHECK(nested.text == "a");
  CHECK(nested.items[0].text == "b");
  CHECK(nested.items[0].items[0].i == 1);
  CHECK(Read("#foo\n;c\n #_ 1 2").items[0].i == 2);

  Node inst = Read("#inst \"2020-01-02T03:04:05.006Z\"");
  CHECK(inst.is(Kind::kInst));
  CHECK(inst.i == 1577934245006);
  CHECK(Read("#inst \"1970-01-01\"").i == 0);
  CHECK(Read("#inst \"1970-01-01T01:00:00+01:00\"").i == 0);

  Node uuid = Read("#uuid \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"");
  CHECK(uuid.is(Kind::kUuid));
  CHECK(uuid.uuid == Uuid{0xf81d4fae7dec11d0, 0xa76500a0c91e6bf6});
}

TEST_CASE("tag and dispatch errors", "[edn]") {
  CHECK(ErrorOf("#inst 5") == "line 1, col 7: #inst expects a string, found integer");
  CHECK(ErrorOf("#uuid :a") == "line 1, col 7: #uuid expects a string, found keyword");
  CHECK(ErrorOf("[#inst \"2020-13-01\"]") ==
        "line 1, col 8: invalid instant \"2020-13-01\": month out of range");
  CHECK(ErrorOf("#uuid \"nope\"") ==
        "line 1, col 7: invalid uuid \"nope\": expected 8-4-4-4-12 hex digits");
  CHECK(ErrorOf("#foo") ==
        "line 1, col 5: unexpected end of input, expected a form after tag #foo at line 1, col 1");
  CHECK(ErrorOf("[#foo]") ==
        "line 1, col 6: unexpected ']', expected a form after tag #foo at line 1, col 2");
  CHECK(ErrorOf("#") ==
        "line 1, col 2: unexpected end of input, expected a set, tag or ## value after '#'");
  CHECK(ErrorOf("#\"re\"") ==
        "line 1, col 1: unsupported dispatch #'\"' (expected #{, #_, ## or a tag)");
  CHECK(ErrorOf("#(inc %)") ==
        "line 1, col 1: unsupported dispatch #'(' (expected #{, #_, ## or a tag)");
  CHECK(ErrorOf("#:a{:b 1}") ==
        "line 1, col 1: unsupported dispatch #':' (expected #{, #_, ## or a tag)");
  CHECK(ErrorOf("# foo") ==
        "line 1, col 1: unsupported dispatch #U+0020 (expected #{, #_, ## or a tag)");
  CHECK(
      ErrorOf("#a/ 1") ==
      "line 1, col 1: invalid tag #a/: the prefix and the name around '/' must both be non-empty");
}

TEST_CASE("comments, commas and discard", "[edn]") {
  Result<std::vector<Node>> forms = ReadAll("; leading\n1 ;; two\n,,2,;x\n#_ 3 4 #_[5 6]");
  REQUIRE(forms.ok());
  REQUIRE(forms->size() == 3);
  CHECK(forms->at(0).i == 1);
  CHECK(forms->at(1).i == 2);
  CHECK(forms->at(2).i == 4);
  CHECK(forms->at(2).Where() == "line 4, col 6");

  CHECK(Read("[1 #_ 2 3]").items.size() == 2);
  CHECK(Read("[1 #_ 2 3]").items[1].i == 3);
  CHECK(Read("[1 #_2]").items.size() == 1);
  CHECK(Read("[#_ #_ a b c]").items.size() == 1);
  CHECK(Read("[#_ #_ a b c]").items[0].IsSymbol("c"));
  CHECK(Read("#_ #_ #_ a b c d").IsSymbol("d"));
  CHECK(Read("{:a #_ :b 1}").items.size() == 2);
  CHECK(Read("#_ {:unbalanced (stuff)} 5").i == 5);
  CHECK(Read("[1,2,,3]").items.size() == 3);
  CHECK(Read("\t\r\n\f\v 7 \n").i == 7);
  CHECK(Read("[a;comment]\n]").items.size() == 1);

  Result<std::vector<Node>> none = ReadAll(" ; only a comment\n #_ x ,, ");
  REQUIRE(none.ok());
  CHECK(none->empty());
  Result<std::vector<Node>> empty = ReadAll("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  CHECK(ErrorOf("#_") ==
        "line 1, col 3: unexpected end of input, expected a form after #_ at line 1, col 1");
  CHECK(ErrorOf("[1 #_]") ==
        "line 1, col 6: unexpected ']', expected a form after #_ at line 1, col 4");
  CHECK(ErrorOf("#_ #_ 1") ==  // the inner #_ consumed the 1
        "line 1, col 8: unexpected end of input, expected a form after #_ at line 1, col 1");
  // A discarded form must still be well-formed.
  CHECK(ErrorOf("#_ {:a} 1") == "line 1, col 4: map literal has an odd number of forms");
}

TEST_CASE("ReadOne requires exactly one form", "[edn]") {
  CHECK(ReadOneError("") == "line 1, col 1: expected a form, found end of input");
  CHECK(ReadOneError("  ; nothing\n  ") == "line 2, col 3: expected a form, found end of input");
  CHECK(ReadOneError("#_ 1") == "line 1, col 5: expected a form, found end of input");
  CHECK(ReadOneError("1 2") ==
        "line 1, col 3: expected end of input after the form at line 1, col 1, found another form");
  CHECK(ReadOneError("[1]\n  :x") ==
        "line 2, col 3: expected end of input after the form at line 1, col 1, found another form");
  CHECK(ReadOneError("[1])") == "line 1, col 4: unexpected ')'");
  CHECK(ReadOneError("1 @") ==
        "line 1, col 3: expected end of input after the form at line 1, col 1, found another form");
  CHECK(Read(" 1 ; trailing comment").i == 1);
  CHECK(Read("1 #_ 2").i == 1);
}

TEST_CASE("positions count lines and code points", "[edn]") {
  Result<std::vector<Node>> forms = ReadAll("a\n  [b\n\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\" c]");
  REQUIRE(forms.ok());
  REQUIRE(forms->size() == 2);
  CHECK(forms->at(0).Where() == "line 1, col 1");
  const Node& v = forms->at(1);
  CHECK(v.Where() == "line 2, col 3");
  CHECK(v.items[0].Where() == "line 2, col 4");
  CHECK(v.items[1].Where() == "line 3, col 1");
  CHECK(v.items[2].Where() == "line 3, col 7");  // three code points, ten bytes
  CHECK(ErrorOf("\"\xe2\x82\xac\" )") == "line 1, col 5: unexpected ')'");
  CHECK(Read("\r\n  x").Where() == "line 2, col 3");
  CHECK(Node().Where() == "line 1, col 1");
}

TEST_CASE("invalid UTF-8 is rejected with its position", "[edn]") {
  CHECK(ErrorOf("[1\n  \"a\xff\"]") == "line 2, col 5: invalid UTF-8 byte 0xFF");
  CHECK(ErrorOf("\xc3") == "line 1, col 1: invalid UTF-8 byte 0xC3");
  CHECK(ErrorOf("ab \xc0\xaf") == "line 1, col 4: invalid UTF-8 byte 0xC0");       // overlong
  CHECK(ErrorOf("\xed\xa0\x80") == "line 1, col 1: invalid UTF-8 byte 0xED");      // surrogate
  CHECK(ErrorOf("\xf4\x90\x80\x80") == "line 1, col 1: invalid UTF-8 byte 0xF4");  // > U+10FFFF
  CHECK(ErrorOf("\xe2\x82") == "line 1, col 1: invalid UTF-8 byte 0xE2");          // truncated
  CHECK(ErrorOf("\x80") == "line 1, col 1: invalid UTF-8 byte 0x80");
}

// Found by tests/fuzz/edn_fuzzer.cpp (corpus: edn/stray-continuation-bytes): the check
// skipped every continuation byte after a character, so "a\x80" read as a string that
// is not UTF-8, and datalith-server aborted writing the tx_ok of such a tempid as JSON.
TEST_CASE("stray UTF-8 continuation bytes after a character are rejected", "[edn]") {
  CHECK(ErrorOf("\"a\x80\"") == "line 1, col 3: invalid UTF-8 byte 0x80");
  CHECK(ErrorOf("[{:db/id \"\xe6\x97\xa5\" :x/y \";\x9f\x98\x80\"}]") ==
        "line 1, col 21: invalid UTF-8 byte 0x9F");
  CHECK(ErrorOf("sym\xbf") == "line 1, col 4: invalid UTF-8 byte 0xBF");
  CHECK(ErrorOf("\"\xc3\xa9\xa9\"") == "line 1, col 3: invalid UTF-8 byte 0xA9");  // é, then one more
  CHECK(Read("\"\xc3\xa9t\xc3\xa9\"").text == "\xc3\xa9t\xc3\xa9");
}

// ---- Node helpers and equality ----

TEST_CASE("Node factories and map lookup", "[edn]") {
  CHECK(Node::Nil().is(Kind::kNil));
  CHECK(Node::Bool(true).b);
  CHECK(Node::Long(-3).i == -3);
  CHECK(Node::Double(0.5).d == 0.5);
  CHECK(Node::String("s").text == "s");
  CHECK(Node::Keyword("k").IsKeyword("k"));
  CHECK(Node::Symbol("s").IsSymbol("s"));
  CHECK(Node::Inst(5).is(Kind::kInst));
  CHECK(Node::Inst(5).i == 5);
  CHECK(Node::MakeUuid(Uuid{1, 2}).uuid == Uuid{1, 2});
  Node v = Node::Coll(Kind::kVector, {Node::Long(1), Node::Long(2)});
  CHECK(v.is(Kind::kVector));
  CHECK(v.items.size() == 2);

  Node m = Read("{:find [?e], \"s\" 2, [1 2] 3, :db/id 4}");
  REQUIRE(m.GetKeyword("find") != nullptr);
  CHECK(m.GetKeyword("find")->is(Kind::kVector));
  CHECK(m.GetKeyword("db/id")->i == 4);
  CHECK(m.GetKeyword("where") == nullptr);
  CHECK(m.GetKeyword("s") == nullptr);  // a string key is not a keyword key
  REQUIRE(m.Get(Node::String("s")) != nullptr);
  CHECK(m.Get(Node::String("s"))->i == 2);
  REQUIRE(m.Get(Read("[1 2]")) != nullptr);
  CHECK(m.Get(Read("[1 2]"))->i == 3);
  CHECK(m.Get(Read("(1 2)")) == nullptr);
  CHECK(v.GetKeyword("find") == nullptr);
  CHECK(v.Get(Node::Long(1)) == nullptr);
}

TEST_CASE("Equal is structural", "[edn]") {
  auto eq = [](std::string_view a, std::string_view b) { return Equal(Read(a), Read(b)); };
  CHECK(eq("[1 2]", "  [1\n2]"));  // positions ignored
  CHECK_FALSE(eq("[1 2]", "[2 1]"));
  CHECK_FALSE(eq("[1 2]", "(1 2)"));
  CHECK_FALSE(eq("[1 2]", "[1 2 3]"));
  CHECK(eq("#{1 2 3}", "#{3 1 2}"));
  CHECK_FALSE(eq("#{1 2 3}", "#{1 2 4}"));
  CHECK_FALSE(eq("#{1 2}", "#{1 2 3}"));
  CHECK(eq("{:a 1 :b 2}", "{:b 2 :a 1}"));
  CHECK_FALSE(eq("{:a 1 :b 2}", "{:a 2 :b 1}"));
  CHECK_FALSE(eq("{:a 1}", "{:b 1}"));
  CHECK(eq("{#{1 2} {:x [1]}}", "{#{2 1} {:x [1]}}"));
  CHECK_FALSE(eq("1", "1.0"));
  CHECK_FALSE(eq("1", "1N"));
  CHECK_FALSE(eq("1.0", "1.0M"));
  CHECK_FALSE(eq("\"a\"", ":a"));
  CHECK_FALSE(eq(":a", "a"));
  CHECK_FALSE(eq("\\a", "\"a\""));
  CHECK(eq("##NaN", "##NaN"));
  CHECK(eq("0.0", "-0.0"));
  CHECK_FALSE(eq("0.0", "5e-324"));
  CHECK(eq("#t [1]", "#t [1]"));
  CHECK_FALSE(eq("#t [1]", "#u [1]"));
  CHECK_FALSE(eq("#t [1]", "#t [2]"));
  CHECK(eq("#inst \"2020-01-01T01:00:00+01:00\"", "#inst \"2020-01-01\""));
  CHECK_FALSE(eq("#uuid \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"",
                 "#uuid \"f81d4fae-7dec-11d0-a765-00a0c91e6bf7\""));
  CHECK(eq("nil", "nil"));
  CHECK_FALSE(eq("nil", "false"));
  CHECK_FALSE(eq("true", "false"));

  // Constructed sets with repeated elements compare as multisets.
  Node a = Node::Coll(Kind::kSet, {Node::Long(1), Node::Long(1), Node::Long(2)});
  Node b = Node::Coll(Kind::kSet, {Node::Long(1), Node::Long(2), Node::Long(2)});
  CHECK_FALSE(Equal(a, b));
  CHECK(Equal(a, Node::Coll(Kind::kSet, {Node::Long(2), Node::Long(1), Node::Long(1)})));
}

// ---- writing ----

TEST_CASE("Write produces compact EDN", "[edn]") {
  auto w = [](std::string_view text) { return Write(Read(text)); };
  CHECK(w("{:a 1 :b [1 2 3]}") == "{:a 1, :b [1 2 3]}");
  CHECK(w("( a  b )") == "(a b)");
  CHECK(w("#{ 1 }") == "#{1}");
  CHECK(w("{}") == "{}");
  CHECK(w("nil") == "nil");
  CHECK(w("true") == "true");
  CHECK(w("-12") == "-12");
  CHECK(w("123456789012345678901234567890") == "123456789012345678901234567890N");
  CHECK(w("+5N") == "5N");
  CHECK(w("1.50M") == "1.50M");
  CHECK(w("1.0") == "1.0");
  CHECK(w("1.") == "1.0");
  CHECK(w("100.0") == "100.0");
  CHECK(w("0.1") == "0.1");
  CHECK(w("-0.0") == "-0.0");
  CHECK(w("1e300") == "1e+300");
  CHECK(w("5e-324") == "5e-324");
  CHECK(w("##Inf") == "##Inf");
  CHECK(w("##-Inf") == "##-Inf");
  CHECK(w("##NaN") == "##NaN");
  CHECK(w(":a/b") == ":a/b");
  CHECK(w("?x") == "?x");
  CHECK(w(R"("a\"b\\c\n\t\r\b\f\u0001\u007f")") == R"("a\"b\\c\n\t\r\b\f\u0001\u007f")");
  CHECK(w("\"\xc3\xa9\"") == "\"\xc3\xa9\"");
  CHECK(w("\\a") == "\\a");
  CHECK(w("\\newline") == "\\newline");
  CHECK(w("\\space") == "\\space");
  CHECK(w("\\tab") == "\\tab");
  CHECK(w("\\return") == "\\return");
  CHECK(w("\\backspace") == "\\backspace");
  CHECK(w("\\formfeed") == "\\formfeed");
  CHECK(w("\\u0000") == "\\u0000");
  CHECK(w("\\u0085") == "\\u0085");
  CHECK(w("\\u00e9") == "\\\xc3\xa9");
  CHECK(w("\\(") == "\\(");
  CHECK(w("#foo/bar [1]") == "#foo/bar [1]");
  CHECK(w("#inst \"2020-01-02T04:04:05.006+01:00\"") == "#inst \"2020-01-02T03:04:05.006Z\"");
  CHECK(w("#uuid \"F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6\"") ==
        "#uuid \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"");
  CHECK(w("[#_ x [] () #{} {}]") == "[[] () #{} {}]");
}

// Random nodes of every kind for the write/read round trip.
class NodeGen {
 public:
  explicit NodeGen(uint64_t seed) : rng_(seed) {}

  Node Any(int depth = 0) {
    switch (Pick(depth < 4 ? 19 : 15)) {
      case 0: return Node::Nil();
      case 1: return Node::Bool(Pick(2) == 1);
      case 2: return Node::Long(static_cast<int64_t>(rng_()) >> Pick(64));
      case 3: {
        Node n;
        n.kind = Kind::kBigInt;
        n.text =
            (Pick(2) ? "-" : "") + std::to_string(1 + Pick(1000000)) + std::string(Pick(30), '7');
        return n;
      }
      case 4: return Node::Double(Double());
      case 5: {
        Node n;
        n.kind = Kind::kBigDec;
        n.text =
            std::to_string(Pick(1000)) + "." + std::to_string(Pick(1000)) + (Pick(2) ? "e-7" : "");
        return n;
      }
      case 6: return Node::String(Text());
      case 7: {
        Node n;
        n.kind = Kind::kChar;
        n.ch = CodePoint();
        return n;
      }
      case 8: return Node::Keyword(Name());
      case 9: return Node::Symbol(Pick(8) == 0 ? "/" : Name());
      case 10:
        return Node::Inst(static_cast<int64_t>(Pick(253402300799999ULL + 62167219200000ULL)) -
                          62167219200000LL);
      case 11: return Node::MakeUuid(Uuid{rng_(), rng_()});
      case 12: {
        Node n;
        n.kind = Kind::kTagged;
        n.text = Pick(2) ? "my/tag" : "t";
        n.items.push_back(Any(depth + 1));
        return n;
      }
      case 13: return Node::Long(Pick(3));  // small ints make collisions in sets/maps likely
      case 14: return Node::Keyword(std::string(1, static_cast<char>('a' + Pick(3))));
      case 15: return Seq(Kind::kList, depth);
      case 16: return Seq(Kind::kVector, depth);
      case 17: return Distinct(Kind::kSet, depth);
      default: return Distinct(Kind::kMap, depth);
    }
  }

 private:
  uint64_t Pick(uint64_t n) { return rng_() % n; }

  double Double() {
    switch (Pick(6)) {
      case 0: return std::bit_cast<double>(rng_());  // includes NaNs and infinities
      case 1: return static_cast<double>(static_cast<int64_t>(Pick(2001)) - 1000);  // 1.0 etc.
      case 2: return 1e300;
      case 3: return 5e-324;
      case 4: return Pick(2) ? kInf : -kInf;
      default: return (static_cast<double>(Pick(100000)) - 50000) / 7;
    }
  }

  char32_t CodePoint() {
    switch (Pick(5)) {
      case 0: return static_cast<char32_t>(Pick(0x80));  // ASCII incl. controls and delimiters
      case 1: return static_cast<char32_t>(0x80 + Pick(0x780));
      case 2: {
        auto cp = static_cast<char32_t>(0x800 + Pick(0xf800));
        return cp >= 0xd800 && cp <= 0xdfff ? U'\uffff' : cp;
      }
      case 3: return static_cast<char32_t>(0x10000 + Pick(0x100000));
      default: return U" \n\t\r\b\f\\\"(),;#"[Pick(14)];
    }
  }

  std::string Text() {
    std::string s;
    size_t n = Pick(8);
    for (size_t i = 0; i < n; ++i) {
      char32_t cp = CodePoint();
      s += Utf8(cp);
    }
    return s;
  }

  std::string Name() {
    static const char* kNames[] = {"a",  "db/id",    "?e", "...", "+",        "-",
                                   ".",  "$db",      "%",  "_",   "a.b/c-d?", "x:y",
                                   "<=", "\xce\xbb", "a#", "n1",  "-x",       "*"};
    return kNames[Pick(std::size(kNames))];
  }

  Node Seq(Kind kind, int depth) {
    std::vector<Node> items(Pick(5));
    for (Node& item : items) item = Any(depth + 1);
    return Node::Coll(kind, std::move(items));
  }

  // Sets and maps must not repeat elements/keys, or the reader rejects them.
  Node Distinct(Kind kind, int depth) {
    const size_t stride = kind == Kind::kMap ? 2 : 1;
    std::vector<Node> items;
    size_t n = Pick(5);
    for (size_t i = 0; i < n; ++i) {
      Node key = Any(depth + 1);
      bool seen = false;
      for (size_t k = 0; k < items.size(); k += stride) seen = seen || Equal(items[k], key);
      if (seen) continue;
      items.push_back(std::move(key));
      if (stride == 2) items.push_back(Any(depth + 1));
    }
    return Node::Coll(kind, std::move(items));
  }

  std::mt19937_64 rng_;
};

TEST_CASE("Write/ReadOne round trip (property)", "[edn]") {
  NodeGen gen(424242);
  for (int i = 0; i < 5000; ++i) {
    Node n = gen.Any();
    std::string text = Write(n);
    Result<Node> back = ReadOne(text);
    if (!back.ok()) {
      FAIL_CHECK(text << " -> " << back.status().ToString());
      continue;
    }
    if (!Equal(n, *back))
      FAIL_CHECK("not equal after round trip: " << text << " vs " << Write(*back));
    CHECK(text.find('\n') == std::string::npos);  // single line
    CHECK(Write(*back) == text);
  }
  // Equal is not vacuous: a changed node is not Equal.
  CHECK_FALSE(Equal(Read("[1 2 3]"), Read("[1 2 4]")));
}

TEST_CASE("the reader never crashes on mangled input (property)", "[edn]") {
  NodeGen gen(77);
  std::mt19937_64 rng(78);
  static const char kBytes[] = "()[]{}#_\\\";:,/ \n\"#{##Nau0aZ9+-.eEMN\xc3\xa9\xff";
  int failures = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string text = Write(gen.Any());
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t at = text.empty() ? 0 : rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0: text.insert(at, 1, kBytes[rng() % (sizeof(kBytes) - 1)]); break;
        case 1:
          if (at < text.size()) text.erase(at, 1);
          break;
        default: text.resize(at); break;
      }
    }
    Result<std::vector<Node>> r = ReadAll(text);
    if (!r.ok()) {
      ++failures;
      const std::string& m = r.status().message();
      CHECK(m.rfind("line ", 0) == 0);
      CHECK(m.find(", col ") != std::string::npos);
    }
  }
  CHECK(failures > 1000);  // the mangling does produce errors
}

// ---- conversions ----

TEST_CASE("ToValue", "[edn]") {
  auto value = [](std::string_view text) {
    Result<Value> r = ToValue(Read(text));
    INFO(text << ": " << r.status().ToString());
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(value("nil").is_nil());
  CHECK(value("true") == Value::Boolean(true));
  CHECK(value("-5") == Value::Long(-5));
  CHECK(value("2.5") == Value::Double(2.5));
  CHECK(value("##NaN") == Value::Double(NAN));
  CHECK(value("\"s\"") == Value::String("s"));
  CHECK(value(":a/b") == Value::Keyword("a/b"));
  CHECK(value("?x") == Value::Symbol("?x"));
  CHECK(value("#inst \"2020-01-02T03:04:05.006Z\"") == Value::Instant(1577934245006));
  CHECK(value("#uuid \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"") ==
        Value::MakeUuid(Uuid{0xf81d4fae7dec11d0, 0xa76500a0c91e6bf6}));
  CHECK(value("5N") == Value::Long(5));
  CHECK(value("-9223372036854775808N") == Value::Long(std::numeric_limits<int64_t>::min()));
  CHECK(value("[1 [\"a\" nil] :k]") ==
        Value::Tuple({Value::Long(1), Value::Tuple({Value::String("a"), Value::Nil()}),
                      Value::Keyword("k")}));

  auto error = [](std::string_view text) {
    Result<Value> r = ToValue(Read(text));
    INFO(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    return r.status().message();
  };
  CHECK(error("9223372036854775808") ==
        "line 1, col 1: integer 9223372036854775808N does not fit in 64 bits");
  CHECK(error("(1 2)") == "line 1, col 1: a list ((1 2)) cannot be used as a value");
  CHECK(error("[1\n {:a 1}]") == "line 2, col 2: a map ({:a 1}) cannot be used as a value");
  CHECK(error("#{1}") == "line 1, col 1: a set (#{1}) cannot be used as a value");
  CHECK(error(" \\c") == "line 1, col 2: a character (\\c) cannot be used as a value");
  CHECK(error("#t 1") == "line 1, col 1: a tagged element (#t 1) cannot be used as a value");
  CHECK(error("1.5M") == "line 1, col 1: a big decimal (1.5M) cannot be used as a value");
  CHECK(error("[1 [2 (3)]]") == "line 1, col 7: a list ((3)) cannot be used as a value");
  std::string long_list = "(" + std::string(200, 'x') + ")";
  CHECK(error(long_list).size() < 150);  // quoted forms are truncated
}

TEST_CASE("FromValue and back", "[edn]") {
  std::vector<Value> values = {Value::Nil(),
                               Value::Boolean(false),
                               Value::Long(-1),
                               Value::Double(1e300),
                               Value::Double(NAN),
                               Value::String("a\n\xc3\xa9"),
                               Value::Keyword("db/ident"),
                               Value::Symbol("..."),
                               Value::Instant(-1),
                               Value::MakeUuid(Uuid{3, 4}),
                               Value::Tuple({Value::Long(1), Value::Tuple({Value::Nil()})})};
  for (const Value& v : values) {
    INFO(v.ToString());
    Node n = FromValue(v);
    CHECK(Write(n) == v.ToString());
    Result<Value> back = ToValue(n);
    REQUIRE(back.ok());
    CHECK(*back == v);
    Result<Node> reread = ReadOne(Write(n));
    REQUIRE(reread.ok());
    CHECK(Equal(*reread, n));
  }
  Node ref = FromValue(Value::Ref(17592186045418ULL));
  CHECK(ref.is(Kind::kLong));
  CHECK(ref.i == 17592186045418LL);
  Node huge = FromValue(Value::Ref(~uint64_t{0}));
  CHECK(huge.is(Kind::kBigInt));
  CHECK(huge.text == "18446744073709551615");
  Node tuple = FromValue(Value::Tuple({Value::Long(1)}));
  CHECK(tuple.is(Kind::kVector));
}

}  // namespace
}  // namespace datalith::edn
