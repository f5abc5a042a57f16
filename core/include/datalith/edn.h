// EDN (extensible data notation) reader and writer.
//
// Queries, transactions, pull patterns and CLI input are EDN text. The reader is
// complete for the EDN spec: nil, booleans, integers (with N suffix as big ints),
// floats (with M suffix as big decimals), strings with escapes, characters, keywords,
// symbols, lists, vectors, maps, sets, tagged elements (#inst and #uuid are parsed into
// their values; other tags are kept as kTagged), comments (`;`), discard (`#_`) and
// commas as whitespace. Every error names the line and column ("line 3, col 7: ...").
// Every node remembers where it started, so later layers (query parser, transactor)
// can point at the offending form. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "datalith/status.h"
#include "datalith/value.h"

namespace datalith::edn {

enum class Kind : uint8_t {
  kNil,
  kBool,
  kLong,     // fits int64
  kBigInt,   // digits in `text` (an integer with N suffix or beyond int64)
  kDouble,
  kBigDec,   // digits in `text` (a float with M suffix)
  kString,
  kChar,     // code point in `ch`
  kKeyword,  // `text` without the colon: "db/id", "name"
  kSymbol,   // `text`: "?e", "pull", "..."
  kList,
  kVector,
  kMap,      // `items` alternate key, value
  kSet,
  kTagged,   // `text` is the tag (without #), items[0] the tagged form
  kInst,     // `i` holds milliseconds since the epoch
  kUuid,     // `uuid`
};

struct Pos {
  uint32_t line = 1;  // 1-based
  uint32_t col = 1;   // 1-based, in code points
};

struct Node {
  Kind kind = Kind::kNil;
  Pos pos;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  char32_t ch = 0;
  Uuid uuid;
  std::string text;         // string contents (unescaped), keyword/symbol name, tag
  std::vector<Node> items;  // list, vector, set, map (k0 v0 k1 v1 ...), tagged

  bool is(Kind k) const { return kind == k; }
  bool IsKeyword(std::string_view name) const { return kind == Kind::kKeyword && text == name; }
  bool IsSymbol(std::string_view name) const { return kind == Kind::kSymbol && text == name; }
  bool IsColl() const {
    return kind == Kind::kList || kind == Kind::kVector || kind == Kind::kSet || kind == Kind::kMap;
  }
  // For maps: the value under a key equal to `key` (structural equality), or nullptr.
  const Node* Get(const Node& key) const;
  // For maps: the value under keyword `name` (no colon), or nullptr.
  const Node* GetKeyword(std::string_view name) const;
  // "line 3, col 7"
  std::string Where() const;

  static Node Nil() { return Node(); }
  static Node Bool(bool v);
  static Node Long(int64_t v);
  static Node Double(double v);
  static Node String(std::string v);
  static Node Keyword(std::string name);
  static Node Symbol(std::string name);
  static Node Inst(int64_t millis);
  static Node MakeUuid(Uuid u);
  static Node Coll(Kind kind, std::vector<Node> items);
};

// Structural equality (ignores positions; sets and maps compare as unordered).
bool Equal(const Node& a, const Node& b);

// Reads exactly one form; trailing forms or garbage are an error.
Result<Node> ReadOne(std::string_view text);
// Reads every top-level form.
Result<std::vector<Node>> ReadAll(std::string_view text);

// Writes EDN text that ReadOne reads back to an Equal node. Compact, single line:
// `{:a 1, :b [1 2 3]}`. Strings are escaped; doubles always carry a `.` or exponent
// (1.0, not 1) so they read back as doubles; ##Inf, ##-Inf, ##NaN for non-finite.
std::string Write(const Node& node);

// Conversions between EDN nodes and datom values. Tuples are vectors. Refs convert
// to longs (the caller decides from the schema which longs are refs).
Result<Value> ToValue(const Node& node);
Node FromValue(const Value& v);

}  // namespace datalith::edn
