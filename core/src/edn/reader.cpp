// The EDN reader: text to Nodes, every node carrying its line and column, every error
// naming them.
#include <algorithm>
#include <charconv>
#include <limits>

#include "edn/edn_internal.h"
#include "value/text.h"

namespace datalith::edn {
namespace {

using detail::ErrorAt;
using detail::Hex4;
using detail::IsSurrogate;
using detail::InvalidNameReason;
using detail::KindName;
using detail::kMaxDepth;
using detail::NodeHash;
using detail::Quote;
using detail::WhereText;

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == ',';
}

// Where a token (symbol, keyword, number, character name) ends.
bool IsDelimiter(char c) {
  switch (c) {
    case '(':
    case ')':
    case '[':
    case ']':
    case '{':
    case '}':
    case '"':
    case ';':
    case '\\': return true;
    default: return IsWhitespace(c);
  }
}

bool IsCloser(char c) { return c == ')' || c == ']' || c == '}'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Symbol constituents per the EDN spec. Non-ASCII code points count as alphanumeric
// so names in other scripts work, as in Clojure.
bool IsSymbolChar(char c) {
  if (IsAlpha(c) || IsDigit(c) || static_cast<uint8_t>(c) >= 0x80) return true;
  switch (c) {
    case '.':
    case '*':
    case '+':
    case '!':
    case '-':
    case '_':
    case '?':
    case '$':
    case '%':
    case '&':
    case '=':
    case '<':
    case '>':
    case '/':
    case ':':
    case '#': return true;
    default: return false;
  }
}

bool IsSymbolStart(char c) { return IsSymbolChar(c) && !IsDigit(c) && c != ':' && c != '#'; }

// Decodes the code point at s[*i] (the text is already validated UTF-8).
char32_t DecodeUtf8(std::string_view s, size_t* i) {
  auto b = static_cast<uint8_t>(s[*i]);
  int len = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
  char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
  for (int k = 1; k < len && *i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<uint8_t>(s[*i + k]) & 0x3f);
  }
  *i += len;
  return cp;
}

// "'x'" for printable ASCII, "U+XXXX" otherwise (control characters, non-ASCII).
std::string DescribeCodePoint(char32_t cp) {
  if (cp > 0x20 && cp < 0x7f) return std::string("'") + static_cast<char>(cp) + "'";
  std::string hex = Hex4(cp);
  if (cp > 0xffff) {
    hex.insert(hex.begin(), kHexDigitsUpper[(cp >> 16) & 0xf]);
    if (cp > 0xfffff) hex.insert(hex.begin(), kHexDigitsUpper[cp >> 20]);
  }
  return "U+" + hex;
}

const char* CloserFor(Kind k) { return k == Kind::kList ? ")" : k == Kind::kVector ? "]" : "}"; }

// The reader's one-line helpers, inlined even where the file is compiled -Os (the WASM
// build): as calls they were a tenth of reading a bulk transaction.
#define DL_INLINE __attribute__((always_inline)) inline

class Reader {
 public:
  explicit Reader(std::string_view text) : at_(text.data()), size_(text.size()) {}

  Status ValidateUtf8();
  // Skips whitespace, commas, comments and `#_`-discarded forms.
  Status SkipIgnorable(int depth);
  // Reads the form at the cursor; the caller has skipped ignorables and checked for
  // end of input and closing delimiters.
  Status ReadForm(int depth, Node* out);

  DL_INLINE bool AtEnd() const { return pos_ >= size_; }
  DL_INLINE char Peek() const { return at_[pos_]; }
  Pos here() const { return here_; }

  // An error for something unexpected at the cursor (which may be end of input).
  Status UnexpectedHere(const std::string& expected) const;

 private:
  DL_INLINE void Advance() {
    char c = at_[pos_++];
    if (c == '\n') {
      ++here_.line;
      here_.col = 1;
    } else if ((static_cast<uint8_t>(c) & 0xc0) != 0x80) {
      // Continuation bytes do not start a code point, so only lead bytes count.
      ++here_.col;
    }
  }
  // Moves to `end`, over bytes that hold no newline.
  DL_INLINE void AdvanceWithinLine(size_t end) {
    for (; pos_ < end; ++pos_) here_.col += (static_cast<uint8_t>(at_[pos_]) & 0xc0) != 0x80;
  }
  void AdvanceCodePoint() {
    do {
      Advance();
    } while (!AtEnd() && (static_cast<uint8_t>(Peek()) & 0xc0) == 0x80);
  }
  std::string_view ReadToken() {
    size_t start = pos_, end = pos_;
    while (end < size_ && !IsDelimiter(at_[end])) ++end;  // newlines delimit
    AdvanceWithinLine(end);
    return Slice(start, end);
  }
  char32_t PeekCodePoint() const {
    size_t i = pos_;
    return DecodeUtf8(Slice(0, size_), &i);
  }

  Status ReadCollection(Kind kind, Pos open, int depth, Node* out);
  Status CheckDuplicates(const Node& coll, size_t stride) const;
  Status ReadString(Node* out);
  Status ReadHex4(Pos escape_at, char32_t* out);
  Status ReadChar(Node* out);
  Status ReadNumber(Node* out);
  Status ReadKeyword(Node* out);
  Status ReadSymbol(Node* out);
  Status ReadDispatch(int depth, Node* out);
  Status ReadFormAfter(const std::string& what, Pos what_at, int depth, Node* out);

  // Bytes [from, to) of the text.
  DL_INLINE std::string_view Slice(size_t from, size_t to) const { return {at_ + from, to - from}; }

  // The text, read through a pointer: the reader is compiled -Os in the WASM
  // build, where string_view's accessors stay calls.
  const char* at_;
  size_t size_;
  size_t pos_ = 0;
  Pos here_;
};

Status DepthError(Pos at) {
  return ErrorAt(at, "forms nested deeper than " + std::to_string(kMaxDepth) + " levels");
}

Status Reader::ValidateUtf8() {
  Reader scan(Slice(0, size_));
  while (!scan.AtEnd()) {
    const size_t i = scan.pos_;
    auto b = static_cast<uint8_t>(at_[i]);
    size_t len = 1;
    char32_t min = 0;
    char32_t cp = b;
    if (b >= 0x80) {
      if (b >= 0xc2 && b <= 0xdf) {
        len = 2, min = 0x80, cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        len = 3, min = 0x800, cp = b & 0x0f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4, min = 0x10000, cp = b & 0x07;
      } else {
        len = 0;
      }
      bool ok = len != 0 && i + len <= size_;
      for (size_t k = 1; ok && k < len; ++k) {
        auto c = static_cast<uint8_t>(at_[i + k]);
        ok = (c & 0xc0) == 0x80;
        cp = (cp << 6) | (c & 0x3f);
      }
      // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid.
      if (!ok || cp < min || IsSurrogate(cp) || cp > 0x10ffff) {
        return ErrorAt(scan.here_, "invalid UTF-8 byte 0x" + Hex4(b).substr(2));
      }
    }
    // Exactly the bytes just checked: skipping every continuation byte that follows
    // (AdvanceCodePoint) would let stray ones after a character through unchecked.
    for (size_t k = 0; k < len; ++k) scan.Advance();
  }
  return Status::Ok();
}

Status Reader::UnexpectedHere(const std::string& expected) const {
  if (AtEnd()) return ErrorAt(here_, "unexpected end of input, " + expected);
  return ErrorAt(here_, "unexpected " + DescribeCodePoint(PeekCodePoint()) + ", " + expected);
}

Status Reader::SkipIgnorable(int depth) {
  while (!AtEnd()) {
    char c = Peek();
    if (IsWhitespace(c)) {
      Advance();
    } else if (c == ';') {
      while (!AtEnd() && Peek() != '\n') Advance();
    } else if (c == '#' && pos_ + 1 < size_ && at_[pos_ + 1] == '_') {
      if (depth >= kMaxDepth) return DepthError(here_);
      Pos at = here_;
      Advance();
      Advance();
      Node discarded;
      DL_RETURN_IF_ERROR(ReadFormAfter("#_", at, depth + 1, &discarded));
    } else {
      break;
    }
  }
  return Status::Ok();
}

// Reads the form that must follow a prefix such as `#_` or a tag.
Status Reader::ReadFormAfter(const std::string& what, Pos what_at, int depth, Node* out) {
  DL_RETURN_IF_ERROR(SkipIgnorable(depth));
  if (AtEnd() || IsCloser(Peek())) {
    return UnexpectedHere("expected a form after " + what + " at " + WhereText(what_at));
  }
  return ReadForm(depth, out);
}

Status Reader::ReadForm(int depth, Node* out) {
  const char c = Peek();
  switch (c) {
    case '(': return ReadCollection(Kind::kList, here_, depth, out);
    case '[': return ReadCollection(Kind::kVector, here_, depth, out);
    case '{': return ReadCollection(Kind::kMap, here_, depth, out);
    case ')':
    case ']':
    case '}': return ErrorAt(here_, std::string("unexpected '") + c + "'");
    case '"': return ReadString(out);
    case '\\': return ReadChar(out);
    case ':': return ReadKeyword(out);
    case '#': return ReadDispatch(depth, out);
    default: break;
  }
  if (IsDigit(c) ||
      ((c == '+' || c == '-') && pos_ + 1 < size_ && IsDigit(at_[pos_ + 1]))) {
    return ReadNumber(out);
  }
  if (IsSymbolStart(c)) return ReadSymbol(out);
  return ErrorAt(here_, "unexpected character " + DescribeCodePoint(PeekCodePoint()));
}

Status Reader::ReadCollection(Kind kind, Pos open, int depth, Node* out) {
  if (depth >= kMaxDepth) return DepthError(open);
  Advance();  // the opening bracket (a set's '#' is consumed by the caller)
  out->kind = kind;
  out->pos = open;
  const char closer = CloserFor(kind)[0];
  while (true) {
    DL_RETURN_IF_ERROR(SkipIgnorable(depth + 1));
    if (AtEnd() || IsCloser(Peek())) {
      if (!AtEnd() && Peek() == closer) {
        Advance();
        break;
      }
      return UnexpectedHere(std::string("expected '") + closer + "' to close the " +
                            KindName(kind) + " opened at " + WhereText(open));
    }
    Node item;
    DL_RETURN_IF_ERROR(ReadForm(depth + 1, &item));
    out->items.push_back(std::move(item));
  }
  if (kind == Kind::kMap) {
    if (out->items.size() % 2 != 0) return ErrorAt(open, "map literal has an odd number of forms");
    return CheckDuplicates(*out, 2);
  }
  if (kind == Kind::kSet) return CheckDuplicates(*out, 1);
  return Status::Ok();
}

// Map keys (stride 2) or set elements (stride 1) must be distinct; reports the later
// of the first duplicate pair in reading order.
Status Reader::CheckDuplicates(const Node& coll, size_t stride) const {
  const size_t n = coll.items.size() / stride;
  if (n < 2) return Status::Ok();
  std::vector<std::pair<uint64_t, size_t>> hashes(n);
  for (size_t i = 0; i < n; ++i) hashes[i] = {NodeHash(coll.items[i * stride]), i};
  std::sort(hashes.begin(), hashes.end());
  size_t dup = n;  // the smallest index that repeats an earlier entry
  for (size_t s = 0; s < n;) {
    size_t e = s + 1;
    while (e < n && hashes[e].first == hashes[s].first) ++e;
    for (size_t a = s; a < e; ++a) {
      for (size_t b = a + 1; b < e; ++b) {
        const Node& x = coll.items[hashes[a].second * stride];
        const Node& y = coll.items[hashes[b].second * stride];
        if (Equal(x, y)) dup = std::min(dup, std::max(hashes[a].second, hashes[b].second));
      }
    }
    s = e;
  }
  if (dup == n) return Status::Ok();
  const Node& key = coll.items[dup * stride];
  const char* what = stride == 2 ? "duplicate key " : "duplicate set element ";
  return ErrorAt(key.pos, what + Quote(key) + " in " + KindName(coll.kind) + " literal opened at " +
                              WhereText(coll.pos));
}

Status Reader::ReadHex4(Pos escape_at, char32_t* out) {
  char32_t cp = 0;
  for (int k = 0; k < 4; ++k) {
    int h = AtEnd() ? -1 : HexValue(Peek());
    if (h < 0) return ErrorAt(escape_at, "invalid \\u escape: expected 4 hex digits");
    cp = (cp << 4) | static_cast<char32_t>(h);
    Advance();
  }
  *out = cp;
  return Status::Ok();
}

Status Reader::ReadString(Node* out) {
  const Pos start = here_;
  Advance();  // opening quote
  std::string s;
  auto unterminated = [&] {
    return ErrorAt(here_, "unterminated string starting at " + WhereText(start));
  };
  while (true) {
    if (AtEnd()) return unterminated();
    const char c = Peek();
    if (c == '"') {
      Advance();
      break;
    }
    if (c != '\\') {
      // A run of plain bytes (no quote, backslash or newline) in one append.
      size_t end = pos_;
      while (end < size_ && at_[end] != '"' && at_[end] != '\\' && at_[end] != '\n') ++end;
      if (end == pos_) {
        s.push_back(c);
        Advance();
      } else {
        s.append(Slice(pos_, end));
        AdvanceWithinLine(end);
      }
      continue;
    }
    const Pos esc = here_;
    Advance();
    if (AtEnd()) return unterminated();
    const char e = Peek();
    char simple = 0;
    switch (e) {
      case 't': simple = '\t'; break;
      case 'r': simple = '\r'; break;
      case 'n': simple = '\n'; break;
      case 'b': simple = '\b'; break;
      case 'f': simple = '\f'; break;
      case '\\': simple = '\\'; break;
      case '"': simple = '"'; break;
      case 'u': break;
      default:
        return ErrorAt(
            esc,
            "unsupported escape " +
                (e > 0x20 && e < 0x7f ? std::string("\\") + e
                                      : "\\ followed by " + DescribeCodePoint(PeekCodePoint())) +
                " in string (expected one of \\t \\r \\n \\b \\f \\\\ \\\" \\uXXXX)");
    }
    Advance();
    if (simple != 0) {
      s.push_back(simple);
      continue;
    }
    char32_t cp = 0;
    DL_RETURN_IF_ERROR(ReadHex4(esc, &cp));
    if (cp >= 0xdc00 && cp <= 0xdfff) {
      return ErrorAt(esc, "unpaired low surrogate \\u" + Hex4(cp) + " in string");
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      // UTF-16 escapes: a high surrogate must be followed by a \u low surrogate.
      const Pos low_at = here_;
      char32_t low = 0;
      if (pos_ + 1 < size_ && Peek() == '\\' && at_[pos_ + 1] == 'u') {
        Advance();
        Advance();
        DL_RETURN_IF_ERROR(ReadHex4(low_at, &low));
      }
      if (low < 0xdc00 || low > 0xdfff) {
        return ErrorAt(esc, "unpaired high surrogate \\u" + Hex4(cp) + " in string");
      }
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    internal::AppendUtf8(cp, &s);
  }
  out->kind = Kind::kString;
  out->pos = start;
  out->text = std::move(s);
  return Status::Ok();
}

Status Reader::ReadChar(Node* out) {
  const Pos start = here_;
  Advance();  // backslash
  if (AtEnd() || (IsWhitespace(Peek()) && Peek() != ',')) {
    return UnexpectedHere("expected a character after '\\'");
  }
  // The first code point always belongs to the literal, even a delimiter: \( \" \;
  const size_t tok_start = pos_;
  AdvanceCodePoint();
  while (!AtEnd() && !IsDelimiter(Peek())) Advance();
  const std::string_view tok = Slice(tok_start, pos_);

  char32_t cp = 0;
  size_t i = 0;
  const char32_t first = DecodeUtf8(tok, &i);
  if (i == tok.size()) {
    cp = first;
  } else if (tok == "newline") {
    cp = '\n';
  } else if (tok == "space") {
    cp = ' ';
  } else if (tok == "tab") {
    cp = '\t';
  } else if (tok == "return") {
    cp = '\r';
  } else if (tok == "backspace") {
    cp = '\b';
  } else if (tok == "formfeed") {
    cp = '\f';
  } else if (tok.size() == 5 && tok[0] == 'u' &&
             std::all_of(tok.begin() + 1, tok.end(), [](char c) { return HexValue(c) >= 0; })) {
    for (size_t k = 1; k < 5; ++k) cp = (cp << 4) | static_cast<char32_t>(HexValue(tok[k]));
    if (IsSurrogate(cp)) {
      return ErrorAt(start, "invalid character \\" + std::string(tok) +
                                ": a UTF-16 surrogate is not a character");
    }
  } else {
    return ErrorAt(start, "unsupported character literal \\" + std::string(tok));
  }
  out->kind = Kind::kChar;
  out->pos = start;
  out->ch = cp;
  return Status::Ok();
}

Status Reader::ReadNumber(Node* out) {
  const Pos start = here_;
  const std::string_view tok = ReadToken();
  auto invalid = [&](const std::string& why) {
    return ErrorAt(start, "invalid number " + std::string(tok) + ": " + why);
  };
  size_t i = 0;
  const bool negative = tok[0] == '-';
  if (tok[0] == '+' || tok[0] == '-') ++i;
  const size_t int_start = i;
  while (i < tok.size() && IsDigit(tok[i])) ++i;
  const size_t int_len = i - int_start;
  if (int_len > 1 && tok[int_start] == '0') return invalid("leading zeros are not allowed");
  bool is_float = false;
  size_t frac_start = i, frac_len = 0;
  if (i < tok.size() && tok[i] == '.') {
    is_float = true;
    frac_start = ++i;
    while (i < tok.size() && IsDigit(tok[i])) ++i;
    frac_len = i - frac_start;
  }
  int64_t exponent = 0;
  if (i < tok.size() && (tok[i] == 'e' || tok[i] == 'E')) {
    is_float = true;
    ++i;
    bool exp_negative = false;
    if (i < tok.size() && (tok[i] == '+' || tok[i] == '-')) exp_negative = tok[i++] == '-';
    const size_t exp_start = i;
    while (i < tok.size() && IsDigit(tok[i])) {
      // Saturate: only the sign and rough size matter once out of double range.
      exponent = std::min<int64_t>(exponent * 10 + (tok[i] - '0'), 1000000000);
      ++i;
    }
    if (i == exp_start) return invalid("expected digits in the exponent");
    if (exp_negative) exponent = -exponent;
  }
  const size_t body_end = i;
  char suffix = 0;
  if (i < tok.size()) {
    suffix = tok[i];
    if (i + 1 != tok.size() || (suffix != 'N' && suffix != 'M') || (suffix == 'N' && is_float)) {
      return invalid("unexpected " + DescribeCodePoint(static_cast<uint8_t>(tok[i])));
    }
  }
  // The number without '+' or suffix; what from_chars and the kBig* `text` expect.
  std::string body = negative ? "-" : "";
  body.append(tok.substr(int_start, body_end - int_start));

  out->pos = start;
  if (suffix == 'M') {
    out->kind = Kind::kBigDec;
    out->text = std::move(body);
    return Status::Ok();
  }
  if (!is_float) {
    int64_t v = 0;
    auto res = std::from_chars(body.data(), body.data() + body.size(), v);
    if (suffix == 'N' || res.ec == std::errc::result_out_of_range) {
      out->kind = Kind::kBigInt;
      out->text = body == "-0" ? "0" : std::move(body);
      return Status::Ok();
    }
    out->kind = Kind::kLong;
    out->i = v;
    return Status::Ok();
  }
  double d = 0;
  auto res = std::from_chars(body.data(), body.data() + body.size(), d);
  if (res.ec == std::errc::result_out_of_range) {
    // Beyond double range: decide overflow vs underflow from the decimal magnitude,
    // 0.ddd x 10^magnitude, then saturate like Clojure (to infinity or zero).
    const std::string digits =
        std::string(tok.substr(int_start, int_len)) + std::string(tok.substr(frac_start, frac_len));
    const size_t lead = digits.find_first_not_of('0');
    const int64_t magnitude = static_cast<int64_t>(int_len) - static_cast<int64_t>(lead) + exponent;
    d = magnitude > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    if (negative) d = -d;
  } else if (res.ec != std::errc() || res.ptr != body.data() + body.size()) {
    return invalid("not a float");
  }
  out->kind = Kind::kDouble;
  out->d = d;
  return Status::Ok();
}

Status Reader::ReadKeyword(Node* out) {
  const Pos start = here_;
  Advance();  // colon
  const std::string_view name = ReadToken();
  if (name.empty()) return ErrorAt(start, "expected a keyword name after ':'");
  if (name[0] == ':') {
    return ErrorAt(start, "invalid keyword :" + std::string(name) +
                              ": auto-resolved keywords ('::') are not EDN");
  }
  if (const char* why = InvalidNameReason(name, /*keyword=*/true)) {
    return ErrorAt(start, "invalid keyword :" + std::string(name) + ": " + why);
  }
  out->kind = Kind::kKeyword;
  out->pos = start;
  out->text = std::string(name);
  return Status::Ok();
}

Status Reader::ReadSymbol(Node* out) {
  const Pos start = here_;
  const std::string_view name = ReadToken();
  out->pos = start;
  if (name == "nil") {
    out->kind = Kind::kNil;
  } else if (name == "true" || name == "false") {
    out->kind = Kind::kBool;
    out->b = name == "true";
  } else {
    if (const char* why = InvalidNameReason(name, /*keyword=*/false)) {
      return ErrorAt(start, "invalid symbol " + std::string(name) + ": " + why);
    }
    out->kind = Kind::kSymbol;
    out->text = std::string(name);
  }
  return Status::Ok();
}

Status Reader::ReadDispatch(int depth, Node* out) {
  const Pos start = here_;
  Advance();  // '#'
  if (AtEnd()) return UnexpectedHere("expected a set, tag or ## value after '#'");
  const char c = Peek();
  if (c == '{') return ReadCollection(Kind::kSet, start, depth, out);
  if (c == '#') {
    Advance();
    const std::string_view name = ReadToken();
    out->pos = start;
    out->kind = Kind::kDouble;
    if (name == "Inf") {
      out->d = std::numeric_limits<double>::infinity();
    } else if (name == "-Inf") {
      out->d = -std::numeric_limits<double>::infinity();
    } else if (name == "NaN") {
      out->d = std::numeric_limits<double>::quiet_NaN();
    } else {
      return ErrorAt(start, "unknown symbolic value ##" + std::string(name) +
                                " (expected ##Inf, ##-Inf or ##NaN)");
    }
    return Status::Ok();
  }
  if (!IsAlpha(c)) {
    return ErrorAt(start, "unsupported dispatch #" + DescribeCodePoint(PeekCodePoint()) +
                              " (expected #{, #_, ## or a tag)");
  }
  const std::string tag(ReadToken());
  if (const char* why = InvalidNameReason(tag, /*keyword=*/false)) {
    return ErrorAt(start, "invalid tag #" + tag + ": " + why);
  }
  if (depth >= kMaxDepth) return DepthError(start);
  Node form;
  DL_RETURN_IF_ERROR(ReadFormAfter("tag #" + tag, start, depth + 1, &form));
  out->pos = start;
  if (tag == "inst" || tag == "uuid") {
    if (form.kind != Kind::kString) {
      return ErrorAt(form.pos, "#" + tag + " expects a string, found " + KindName(form.kind));
    }
    if (tag == "inst") {
      Result<int64_t> millis = ParseInstant(form.text);
      if (!millis.ok()) return ErrorAt(form.pos, millis.status().message());
      out->kind = Kind::kInst;
      out->i = *millis;
    } else {
      Result<Uuid> uuid = Uuid::Parse(form.text);
      if (!uuid.ok()) return ErrorAt(form.pos, uuid.status().message());
      out->kind = Kind::kUuid;
      out->uuid = *uuid;
    }
    return Status::Ok();
  }
  out->kind = Kind::kTagged;
  out->text = tag;
  out->items.push_back(std::move(form));
  return Status::Ok();
}

}  // namespace

namespace detail {
// Returns why `name` is not a valid symbol (or keyword name, without the colon), or
// nullptr. Keyword names may start with a digit, as Clojure and Datomic allow (:1).
const char* InvalidNameReason(std::string_view name, bool keyword) {
  if (name.empty()) return "empty name";
  for (char c : name) {
    if (!IsSymbolChar(c)) return "invalid character";
  }
  if (name == "/") return keyword ? "'/' alone is not a keyword name" : nullptr;
  if (name[0] == ':' || name[0] == '#') return "cannot start with ':' or '#'";
  if (!keyword) {
    if (IsDigit(name[0])) return "cannot start with a digit";
    if ((name[0] == '+' || name[0] == '-' || name[0] == '.') && name.size() > 1 &&
        IsDigit(name[1])) {
      return "a leading '+', '-' or '.' cannot be followed by a digit";
    }
  }
  size_t slash = name.find('/');
  if (slash != std::string_view::npos) {
    if (name.find('/', slash + 1) != std::string_view::npos) return "more than one '/'";
    if (slash == 0 || slash + 1 == name.size()) {
      return "the prefix and the name around '/' must both be non-empty";
    }
  }
  return nullptr;
}

}  // namespace detail

// ---- reading ----

Result<std::vector<Node>> ReadAll(std::string_view text) {
  Reader reader(text);
  DL_RETURN_IF_ERROR(reader.ValidateUtf8());
  std::vector<Node> forms;
  while (true) {
    DL_RETURN_IF_ERROR(reader.SkipIgnorable(0));
    if (reader.AtEnd()) break;
    Node form;
    DL_RETURN_IF_ERROR(reader.ReadForm(0, &form));
    forms.push_back(std::move(form));
  }
  return forms;
}

Result<Node> ReadOne(std::string_view text) {
  Reader reader(text);
  DL_RETURN_IF_ERROR(reader.ValidateUtf8());
  DL_RETURN_IF_ERROR(reader.SkipIgnorable(0));
  if (reader.AtEnd()) return ErrorAt(reader.here(), "expected a form, found end of input");
  Node form;
  DL_RETURN_IF_ERROR(reader.ReadForm(0, &form));
  DL_RETURN_IF_ERROR(reader.SkipIgnorable(0));
  if (!reader.AtEnd()) {
    if (IsCloser(reader.Peek())) {
      return ErrorAt(reader.here(), std::string("unexpected '") + reader.Peek() + "'");
    }
    return ErrorAt(reader.here(), "expected end of input after the form at " + form.Where() +
                                      ", found another form");
  }
  return form;
}

}  // namespace datalith::edn
