// ReadJsonTx (edn/json_tx.h): a JSON reader that makes the EDN forms directly.
#include "edn/json_tx.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "edn/edn_internal.h"
#include "value/text.h"

namespace datalith::edn {
namespace {

using detail::kMaxDepth;  // objects and arrays nest by recursion

class JsonTxReader {
 public:
  explicit JsonTxReader(std::string_view text) : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  Status Top(Node* out) {
    Ws();
    if (!Take('[')) return Fail("a JSON array of transaction forms");
    out->kind = Kind::kVector;
    Ws();
    if (Take(']')) return End();
    for (;;) {
      Ws();
      if (p_ >= end_ || *p_ != '{') return Fail("an object (an entity map)");
      Node form;
      DL_RETURN_IF_ERROR(Object(&form, /*form=*/true, 1));
      stack_.push_back(std::move(form));
      Ws();
      if (Take(',')) continue;
      if (Take(']')) {
        Collect(0, out);
        return End();
      }
      return Fail("',' or ']'");
    }
  }

 private:
  // A container's items are read onto one stack shared by every level, then moved into
  // it sized exactly: no vector grows item by item (and reallocates) per map. A node
  // being read stays a local of its reader until it is complete, as the stack may move
  // while the node's own items are read.
  void Collect(size_t mark, Node* out) {
    out->items.reserve(stack_.size() - mark);
    for (size_t i = mark; i < stack_.size(); ++i) out->items.push_back(std::move(stack_[i]));
    stack_.erase(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
  }

  Status End() {
    Ws();
    return p_ == end_ ? Status::Ok() : Fail("the end of the text");
  }
  Status Fail(const char* expected) const {
    return Status::Invalid("JSON transaction data, byte " + std::to_string(p_ - begin_) + ": expected " + expected);
  }
  void Ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\t' || *p_ == '\r')) ++p_;
  }
  bool Take(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool Hex4(char32_t* out) {
    if (end_ - p_ < 4) return false;
    unsigned v = 0;
    auto r = std::from_chars(p_, p_ + 4, v, 16);
    if (r.ptr != p_ + 4) return false;
    p_ += 4;
    *out = v;
    return true;
  }
  // A JSON string (at its opening quote) into `out`, unescaped.
  Status String(std::string* out) {
    ++p_;
    const char* start = p_;
    while (p_ < end_ && *p_ != '"' && *p_ != '\\') ++p_;
    out->assign(start, p_);
    while (p_ < end_ && *p_ != '"') {
      if (*p_ != '\\') {
        out->push_back(*p_++);
        continue;
      }
      if (++p_ >= end_) break;
      switch (char c = *p_++) {
        case 'n': out->push_back('\n'); break;
        case 't': out->push_back('\t'); break;
        case 'r': out->push_back('\r'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case '"': case '\\': case '/': out->push_back(c); break;
        case 'u': {
          char32_t cp;
          if (!Hex4(&cp)) return Fail("four hex digits after \\u");
          if (cp >= 0xD800 && cp < 0xDC00 && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
            const char* at = p_;
            p_ += 2;
            char32_t lo;
            if (Hex4(&lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              p_ = at;
            }
          }
          // A lone surrogate is an error in EDN text: the EDN text goes, with its error.
          if (detail::IsSurrogate(cp)) return Fail("a paired surrogate");
          internal::AppendUtf8(cp, out);
          break;
        }
        default: return Fail("a JSON escape");
      }
    }
    if (!Take('"')) return Fail("the end of a string");
    return Status::Ok();
  }
  Status Keyword(std::string_view name, Node* out) {
    if (!name.empty() && name[0] == ':') name.remove_prefix(1);
    if (detail::InvalidNameReason(name, /*keyword=*/true)) return Fail("a valid keyword");
    out->kind = Kind::kKeyword;
    out->text.assign(name);
    return Status::Ok();
  }
  Status Object(Node* out, bool form, int depth) {
    ++p_;
    out->kind = Kind::kMap;
    Ws();
    if (Take('}')) return Status::Ok();
    const size_t mark = stack_.size();
    for (;;) {
      Ws();
      if (p_ >= end_ || *p_ != '"') return Fail("a key");
      std::string name;
      DL_RETURN_IF_ERROR(String(&name));
      Node key;
      DL_RETURN_IF_ERROR(Keyword(name, &key));
      Ws();
      if (!Take(':')) return Fail("':'");
      Node v;
      DL_RETURN_IF_ERROR(Value(&v, depth));
      // A transaction map's :db/id [attr v] is a lookup ref (wasm/js/edn.js entityToEdn).
      if (form && key.text == "db/id" && v.is(Kind::kVector) && v.items.size() == 2 &&
          v.items[0].is(Kind::kString)) {
        std::string attr = std::move(v.items[0].text);
        DL_RETURN_IF_ERROR(Keyword(attr, &v.items[0]));
      }
      stack_.push_back(std::move(key));
      stack_.push_back(std::move(v));
      Ws();
      if (Take(',')) continue;
      if (Take('}')) {
        Collect(mark, out);
        return Unique(*out);
      }
      return Fail("',' or '}'");
    }
  }
  // Two keys naming one keyword ("a" and ":a") are a duplicate key in EDN text.
  Status Unique(const Node& map) const {
    std::vector<std::string_view> keys;
    keys.reserve(map.items.size() / 2);
    for (size_t i = 0; i < map.items.size(); i += 2) keys.push_back(map.items[i].text);
    std::sort(keys.begin(), keys.end());
    if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return Fail("no duplicate key in an object");
    return Status::Ok();
  }
  Status Value(Node* out, int depth) {
    Ws();
    if (p_ >= end_) return Fail("a value");
    switch (*p_) {
      case '"': {
        std::string s;
        DL_RETURN_IF_ERROR(String(&s));
        if (!s.empty() && s[0] == ':') return Keyword(s, out);
        out->kind = Kind::kString;
        if (!s.empty() && s[0] == '\\') s.erase(0, 1);
        out->text = std::move(s);
        return Status::Ok();
      }
      case '{':
      case '[':
        if (depth + 1 > kMaxDepth) return Fail("nesting within 512 levels");
        return *p_ == '{' ? Object(out, /*form=*/false, depth + 1) : Array(out, depth + 1);
      case 't': return Word("true", Kind::kBool, true, out);
      case 'f': return Word("false", Kind::kBool, false, out);
      case 'n': return Word("null", Kind::kNil, false, out);
      default: return Number(out);
    }
  }
  Status Array(Node* out, int depth) {
    ++p_;
    out->kind = Kind::kVector;
    Ws();
    if (Take(']')) return Status::Ok();
    const size_t mark = stack_.size();
    for (;;) {
      Node v;
      DL_RETURN_IF_ERROR(Value(&v, depth));
      stack_.push_back(std::move(v));
      Ws();
      if (Take(',')) continue;
      if (Take(']')) {
        Collect(mark, out);
        return Status::Ok();
      }
      return Fail("',' or ']'");
    }
  }
  Status Word(std::string_view word, Kind kind, bool b, Node* out) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return Fail("a value");
    p_ += word.size();
    out->kind = kind;
    out->b = b;
    return Status::Ok();
  }
  // As the EDN reader reads numbers (from_chars; a double out of range fails here, and
  // the EDN text, which saturates it, goes instead).
  Status Number(Node* out) {
    const char* start = p_;
    bool integral = true;
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E' || *p_ == '+' || *p_ == '-')) {
      if (*p_ == '.' || *p_ == 'e' || *p_ == 'E') integral = false;
      ++p_;
    }
    if (p_ == start) return Fail("a value");
    std::from_chars_result r;
    if (integral) {
      out->kind = Kind::kLong;
      r = std::from_chars(start, p_, out->i);
      if (r.ec != std::errc() || r.ptr != p_) return Fail("an integer within 64 bits");
    } else {
      out->kind = Kind::kDouble;
      r = std::from_chars(start, p_, out->d);
      if (r.ec != std::errc() || r.ptr != p_) return Fail("a number");
    }
    return Status::Ok();
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::vector<Node> stack_;
};

}  // namespace

Result<Node> ReadJsonTx(std::string_view json) {
  Node out;
  DL_RETURN_IF_ERROR(JsonTxReader(json).Top(&out));
  return out;
}

}  // namespace datalith::edn
