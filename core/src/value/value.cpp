#include "datalith/value.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "util/hash.h"
#include "util/hex.h"
#include "value/canonical.h"
#include "value/text.h"

namespace datalith {
namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;
constexpr int64_t kMillisPerDay = 86400000;
// Tuples nest; bytes from storage can claim any depth, so decoding stops here rather
// than recursing until the stack runs out. The EDN reader nests no deeper either.
constexpr int kMaxDecodeDepth = 512;

using internal::CanonicalDouble;

// The order-preserving 8-byte image of a double (see docs/format.md §1). Comparing
// these as unsigned integers is exactly the memcmp order of the encoding.
uint64_t DoubleKey(double d) {
  uint64_t bits = std::bit_cast<uint64_t>(CanonicalDouble(d));
  return (bits & kSignBit) ? ~bits : bits ^ kSignBit;
}

double DoubleFromKey(uint64_t key) {
  uint64_t bits = (key & kSignBit) ? key ^ kSignBit : ~key;
  return std::bit_cast<double>(bits);
}

template <class T>
int ThreeWay(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

void PutU64(uint64_t v, std::string* out) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t GetU64(std::string_view b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

// Where the text whose bytes start at `at` ends (its 00 01 terminator) when it holds no
// escaped zero byte, the common case; npos otherwise (escapes, or malformed bytes: the
// full reading in DecodeAt says which).
size_t PlainTextEnd(std::string_view b, size_t at) {
  const size_t zero = b.find('\0', at);
  if (zero == std::string_view::npos || zero + 1 >= b.size() || b[zero + 1] != 0x01) return std::string_view::npos;
  return zero;
}

void EncodeText(std::string_view s, std::string* out) {
  // 0x00 is escaped as 0x00 0xFF so the 0x00 0x01 terminator sorts below any
  // continuation: a string sorts before every longer string it prefixes.
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\0') {
      out->append(s.data() + start, i - start);
      out->push_back('\0');
      out->push_back('\xff');
      start = i + 1;
    }
  }
  out->append(s.data() + start, s.size() - start);
  out->push_back('\0');
  out->push_back('\x01');
}

Status DecodeError(size_t at, const std::string& what) {
  return Status::Corruption("bad value encoding at byte " + std::to_string(at) + ": " + what);
}

Result<Value> DecodeAt(std::string_view b, size_t* pos, int depth) {
  size_t p = *pos;
  if (p >= b.size()) return DecodeError(p, "expected a type tag, found end of input");
  const size_t tag_at = p;
  const uint8_t tag = static_cast<uint8_t>(b[p++]);
  auto need = [&](size_t n, const char* what) -> Status {
    if (b.size() - p < n) {
      return DecodeError(p, std::string("truncated ") + what + " payload: need " +
                                std::to_string(n) + " bytes, have " + std::to_string(b.size() - p));
    }
    return Status::Ok();
  };
  auto text = [&](const char* what) -> Result<std::string> {
    if (const size_t end = PlainTextEnd(b, p); end != std::string_view::npos) {  // one copy
      std::string whole(b.data() + p, end - p);
      p = end + 2;
      return whole;
    }
    std::string s;
    while (true) {
      size_t zero = b.find('\0', p);
      if (zero == std::string_view::npos || zero + 1 >= b.size()) {
        return DecodeError(b.size(), std::string("unterminated ") + what);
      }
      uint8_t next = static_cast<uint8_t>(b[zero + 1]);
      s.append(b.data() + p, zero - p);
      p = zero + 2;
      if (next == 0x01) return s;
      if (next != 0xff) {
        return DecodeError(zero + 1, std::string("invalid escape byte in ") + what);
      }
      s.push_back('\0');
    }
  };

  Value v;
  switch (static_cast<ValueType>(tag)) {
    case ValueType::kNil: break;
    case ValueType::kBoolean: {
      DL_RETURN_IF_ERROR(need(1, "boolean"));
      uint8_t byte = static_cast<uint8_t>(b[p]);
      if (byte > 1) return DecodeError(p, "boolean byte must be 0 or 1");
      v = Value::Boolean(byte == 1);
      p += 1;
      break;
    }
    case ValueType::kLong:
    case ValueType::kInstant: {
      const bool is_long = tag == static_cast<uint8_t>(ValueType::kLong);
      DL_RETURN_IF_ERROR(need(8, is_long ? "long" : "instant"));
      int64_t i = static_cast<int64_t>(GetU64(b, p) ^ kSignBit);
      v = is_long ? Value::Long(i) : Value::Instant(i);
      p += 8;
      break;
    }
    case ValueType::kDouble: {
      DL_RETURN_IF_ERROR(need(8, "double"));
      uint64_t key = GetU64(b, p);
      double d = DoubleFromKey(key);
      // Only canonical doubles are ever written; anything else would not re-encode
      // to the same bytes and so could never be found again by key.
      if (DoubleKey(d) != key) return DecodeError(p, "non-canonical double (-0.0 or NaN payload)");
      v = Value::Double(d);
      p += 8;
      break;
    }
    case ValueType::kString: {
      DL_ASSIGN_OR_RETURN(std::string s, text("string"));
      v = Value::String(std::move(s));
      break;
    }
    case ValueType::kKeyword: {
      DL_ASSIGN_OR_RETURN(std::string s, text("keyword"));
      v = Value::Keyword(std::move(s));
      break;
    }
    case ValueType::kSymbol: {
      DL_ASSIGN_OR_RETURN(std::string s, text("symbol"));
      v = Value::Symbol(std::move(s));
      break;
    }
    case ValueType::kRef:
      DL_RETURN_IF_ERROR(need(8, "ref"));
      v = Value::Ref(GetU64(b, p));
      p += 8;
      break;
    case ValueType::kUuid:
      DL_RETURN_IF_ERROR(need(16, "uuid"));
      v = Value::MakeUuid(Uuid{GetU64(b, p), GetU64(b, p + 8)});
      p += 16;
      break;
    case ValueType::kTuple: {
      if (depth >= kMaxDecodeDepth) {
        return DecodeError(
            tag_at, "tuples nested deeper than " + std::to_string(kMaxDecodeDepth) + " levels");
      }
      std::vector<Value> items;
      while (true) {
        if (p >= b.size()) return DecodeError(p, "unterminated tuple");
        uint8_t marker = static_cast<uint8_t>(b[p]);
        if (marker == 0x00) {
          ++p;
          break;
        }
        if (marker != 0x01) return DecodeError(p, "invalid tuple element marker");
        ++p;
        DL_ASSIGN_OR_RETURN(Value item, DecodeAt(b, &p, depth + 1));
        items.push_back(std::move(item));
      }
      v = Value::Tuple(std::move(items));
      break;
    }
    default: return DecodeError(tag_at, "unknown type tag " + std::to_string(tag));
  }
  *pos = p;
  return v;
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, any year).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

void AppendPadded(int64_t v, int width, std::string* out) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  if (v < 0) out->push_back('-');
  if (static_cast<int>(digits.size()) < width) out->append(width - digits.size(), '0');
  out->append(digits);
}

}  // namespace

// ---- internal text helpers ----

namespace internal {

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

void AppendEdnString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      case '\r': out->append("\\r"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default: {
        auto u = static_cast<uint8_t>(c);
        if (u < 0x20 || u == 0x7f) {
          out->append("\\u00");
          out->push_back(kHexDigits[u >> 4]);
          out->push_back(kHexDigits[u & 0xf]);
        } else {
          out->push_back(c);
        }
      }
    }
  }
  out->push_back('"');
}

void AppendEdnDouble(double d, std::string* out) {
  if (std::isnan(d)) {
    out->append("##NaN");
    return;
  }
  if (std::isinf(d)) {
    out->append(d > 0 ? "##Inf" : "##-Inf");
    return;
  }
  char buf[64];
  // to_chars without a format gives the shortest round-tripping text, independent
  // of the locale.
  auto res = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view s(buf, static_cast<size_t>(res.ptr - buf));
  out->append(s);
  if (s.find_first_of(".e") == std::string_view::npos) out->append(".0");
}

}  // namespace internal

// ---- ValueType, Uuid ----

const char* ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNil: return "nil";
    case ValueType::kBoolean: return "boolean";
    case ValueType::kLong: return "long";
    case ValueType::kDouble: return "double";
    case ValueType::kString: return "string";
    case ValueType::kKeyword: return "keyword";
    case ValueType::kSymbol: return "symbol";
    case ValueType::kRef: return "ref";
    case ValueType::kInstant: return "instant";
    case ValueType::kUuid: return "uuid";
    case ValueType::kTuple: return "tuple";
  }
  return "unknown";
}

std::string Uuid::ToString() const {
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    uint64_t word = i < 16 ? hi : lo;
    int shift = 60 - 4 * (i % 16);
    out.push_back(kHexDigits[(word >> shift) & 0xf]);
  }
  return out;
}

Result<Uuid> Uuid::Parse(std::string_view text) {
  auto fail = [&] {
    return Status::Invalid("invalid uuid \"" + std::string(text) +
                           "\": expected 8-4-4-4-12 hex digits");
  };
  if (text.size() != 36) return fail();
  Uuid u;
  int nibbles = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return fail();
      continue;
    }
    int h = HexValue(text[i]);
    if (h < 0) return fail();
    uint64_t& word = nibbles < 16 ? u.hi : u.lo;
    word = (word << 4) | static_cast<uint64_t>(h);
    ++nibbles;
  }
  return u;
}

// ---- Value ----

Value Value::Boolean(bool b) {
  Value v;
  v.type_ = ValueType::kBoolean;
  v.u_.b = b;
  return v;
}

Value Value::Long(int64_t i) {
  Value v;
  v.type_ = ValueType::kLong;
  v.u_.i = i;
  return v;
}

Value Value::Double(double d) {
  Value v;
  v.type_ = ValueType::kDouble;
  v.u_.d = CanonicalDouble(d);
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.type_ = ValueType::kString;
  v.s_ = std::move(s);
  return v;
}

Value Value::Keyword(std::string name) {
  Value v;
  v.type_ = ValueType::kKeyword;
  v.s_ = std::move(name);
  return v;
}

Value Value::Symbol(std::string name) {
  Value v;
  v.type_ = ValueType::kSymbol;
  v.s_ = std::move(name);
  return v;
}

Value Value::Ref(uint64_t eid) {
  Value v;
  v.type_ = ValueType::kRef;
  v.u_.u = eid;
  return v;
}

Value Value::Instant(int64_t millis) {
  Value v;
  v.type_ = ValueType::kInstant;
  v.u_.i = millis;
  return v;
}

Value Value::MakeUuid(Uuid u) {
  Value v;
  v.type_ = ValueType::kUuid;
  v.u_.uuid = u;
  return v;
}

Value Value::Tuple(std::vector<Value> items) {
  Value v;
  v.type_ = ValueType::kTuple;
  v.tuple_ = std::make_shared<const std::vector<Value>>(std::move(items));
  return v;
}

const std::vector<Value>& Value::tuple() const {
  static const std::vector<Value> kEmpty;
  return tuple_ ? *tuple_ : kEmpty;
}

double Value::AsDouble() const {
  if (type_ == ValueType::kLong) return static_cast<double>(u_.i);
  if (type_ == ValueType::kDouble) return u_.d;
  return 0;
}

int Value::Compare(const Value& a, const Value& b) {
  if (a.type_ != b.type_) {
    return ThreeWay(static_cast<uint8_t>(a.type_), static_cast<uint8_t>(b.type_));
  }
  switch (a.type_) {
    case ValueType::kNil: return 0;
    case ValueType::kBoolean: return ThreeWay(a.u_.b, b.u_.b);
    case ValueType::kLong:
    case ValueType::kInstant: return ThreeWay(a.u_.i, b.u_.i);
    case ValueType::kDouble:
      // Via the key image, so NaN sorts after +inf and equals itself, as encoded.
      return ThreeWay(DoubleKey(a.u_.d), DoubleKey(b.u_.d));
    case ValueType::kString:
    case ValueType::kKeyword:
    case ValueType::kSymbol: {
      // char_traits<char>::compare orders bytes as unsigned char, like memcmp.
      int c = a.s_.compare(b.s_);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case ValueType::kRef: return ThreeWay(a.u_.u, b.u_.u);
    case ValueType::kUuid:
      if (a.u_.uuid.hi != b.u_.uuid.hi) return ThreeWay(a.u_.uuid.hi, b.u_.uuid.hi);
      return ThreeWay(a.u_.uuid.lo, b.u_.uuid.lo);
    case ValueType::kTuple: {
      const auto& x = a.tuple();
      const auto& y = b.tuple();
      size_t n = std::min(x.size(), y.size());
      for (size_t i = 0; i < n; ++i) {
        int c = Compare(x[i], y[i]);
        if (c != 0) return c;
      }
      return ThreeWay(x.size(), y.size());
    }
  }
  return 0;
}

size_t Value::Hash() const {
  uint64_t h = SplitMix64(static_cast<uint64_t>(type_));
  switch (type_) {
    case ValueType::kNil: break;
    case ValueType::kBoolean: h ^= SplitMix64(u_.b ? 1 : 0); break;
    case ValueType::kLong:
    case ValueType::kInstant:
    case ValueType::kRef: h ^= SplitMix64(u_.u); break;
    case ValueType::kDouble: h ^= SplitMix64(DoubleKey(u_.d)); break;
    case ValueType::kString:
    case ValueType::kKeyword:
    case ValueType::kSymbol: h ^= HashBytes(s_); break;
    case ValueType::kUuid: h ^= SplitMix64(u_.uuid.hi ^ SplitMix64(u_.uuid.lo)); break;
    case ValueType::kTuple:
      for (const Value& item : tuple()) h = SplitMix64(h ^ item.Hash());
      break;
  }
  return static_cast<size_t>(h);
}

std::string Value::ToString() const {
  std::string out;
  switch (type_) {
    case ValueType::kNil: return "nil";
    case ValueType::kBoolean: return u_.b ? "true" : "false";
    case ValueType::kLong: return std::to_string(u_.i);
    case ValueType::kRef: return std::to_string(u_.u);
    case ValueType::kDouble: internal::AppendEdnDouble(u_.d, &out); return out;
    case ValueType::kString: internal::AppendEdnString(s_, &out); return out;
    case ValueType::kKeyword: return ":" + s_;
    case ValueType::kSymbol: return s_;
    case ValueType::kInstant: return "#inst \"" + FormatInstant(u_.i) + "\"";
    case ValueType::kUuid: return "#uuid \"" + u_.uuid.ToString() + "\"";
    case ValueType::kTuple: {
      out.push_back('[');
      bool first = true;
      for (const Value& item : tuple()) {
        if (!first) out.push_back(' ');
        first = false;
        out.append(item.ToString());
      }
      out.push_back(']');
      return out;
    }
  }
  return out;
}

// ---- key encoding ----

void EncodeValue(const Value& v, std::string* out) {
  out->push_back(static_cast<char>(v.type()));
  switch (v.type()) {
    case ValueType::kNil: break;
    case ValueType::kBoolean: out->push_back(v.boolean() ? '\x01' : '\x00'); break;
    case ValueType::kLong:
    case ValueType::kInstant: PutU64(static_cast<uint64_t>(v.long_value()) ^ kSignBit, out); break;
    case ValueType::kDouble: PutU64(DoubleKey(v.double_value()), out); break;
    case ValueType::kString:
    case ValueType::kKeyword:
    case ValueType::kSymbol: EncodeText(v.str(), out); break;
    case ValueType::kRef: PutU64(v.ref(), out); break;
    case ValueType::kUuid:
      PutU64(v.uuid().hi, out);
      PutU64(v.uuid().lo, out);
      break;
    case ValueType::kTuple:
      for (const Value& item : v.tuple()) {
        out->push_back('\x01');
        EncodeValue(item, out);
      }
      out->push_back('\x00');
      break;
  }
}

Result<Value> DecodeValue(std::string_view bytes, size_t* pos) { return DecodeAt(bytes, pos, 0); }

Status DecodeValueInto(std::string_view b, size_t* pos, Value* out) {
  const size_t p = *pos;
  const auto type = p < b.size() ? static_cast<ValueType>(b[p]) : ValueType::kNil;
  if (type == ValueType::kString || type == ValueType::kKeyword) {
    if (const size_t end = PlainTextEnd(b, p + 1); end != std::string_view::npos) {
      out->type_ = type;
      out->u_.uuid = Uuid{};  // as a fresh value has it
      out->s_.assign(b.data() + p + 1, end - p - 1);
      out->tuple_.reset();
      *pos = end + 2;
      return Status::Ok();
    }
  } else if ((type == ValueType::kLong || type == ValueType::kRef) && b.size() - p > 8) {
    const uint64_t bits = GetU64(b, p + 1);
    out->type_ = type;
    out->u_.uuid = Uuid{};
    if (type == ValueType::kLong) {
      out->u_.i = static_cast<int64_t>(bits ^ kSignBit);
    } else {
      out->u_.u = bits;
    }
    out->s_.clear();
    out->tuple_.reset();
    *pos = p + 9;
    return Status::Ok();
  }
  DL_ASSIGN_OR_RETURN(*out, DecodeAt(b, pos, 0));
  return Status::Ok();
}

// ---- instants ----

std::string FormatInstant(int64_t millis) {
  // Floor division so instants before the epoch land on the previous day.
  int64_t days = millis / kMillisPerDay;
  int64_t rem = millis % kMillisPerDay;
  if (rem < 0) {
    rem += kMillisPerDay;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  std::string out;
  out.reserve(27);
  // Years 0000-9999 as RFC 3339 has them; any other in ISO 8601's expanded form, a sign
  // and at least six digits, as JavaScript's Date.toISOString writes it. So every
  // instant a database can hold (any int64 of milliseconds) writes as text that
  // ParseInstant reads back.
  if (y >= 0 && y <= 9999) {
    AppendPadded(y, 4, &out);
  } else {
    out.push_back(y < 0 ? '-' : '+');
    AppendPadded(y < 0 ? -y : y, 6, &out);
  }
  out.push_back('-');
  AppendPadded(m, 2, &out);
  out.push_back('-');
  AppendPadded(d, 2, &out);
  out.push_back('T');
  AppendPadded(rem / 3600000, 2, &out);
  out.push_back(':');
  AppendPadded(rem / 60000 % 60, 2, &out);
  out.push_back(':');
  AppendPadded(rem / 1000 % 60, 2, &out);
  out.push_back('.');
  AppendPadded(rem % 1000, 3, &out);
  out.push_back('Z');
  return out;
}

// Accepts the RFC 3339 subset EDN's #inst allows: the date and time fields may be
// cut off from the right (yyyy, yyyy-mm, yyyy-mm-dd, ...Thh, ...Thh:mm, ...Thh:mm:ss,
// ...ss.fraction), followed by an optional Z or +hh:mm / -hh:mm offset (default UTC).
// The year may also be ISO 8601's expanded form that FormatInstant and JavaScript
// write for years outside 0000-9999: a sign and 6 to 9 digits (±yyyyyy).
Result<int64_t> ParseInstant(std::string_view text) {
  size_t p = 0;
  auto fail = [&](const std::string& why) {
    return Status::Invalid("invalid instant \"" + std::string(text) + "\": " + why);
  };
  auto at = [&](char c) { return p < text.size() && text[p] == c; };
  auto digits = [&](size_t n, int* out) {
    if (text.size() - p < n) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      char c = text[p + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    p += n;
    return true;
  };

  int64_t year = 0;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0, millis = 0;
  if (at('+') || at('-')) {
    const bool negative = text[p] == '-';
    const size_t start = ++p;
    for (; p < text.size() && p - start < 9 && text[p] >= '0' && text[p] <= '9'; ++p) {
      year = year * 10 + (text[p] - '0');
    }
    if (p - start < 6) return fail("expected a 4-digit year, or a sign and 6 to 9 digits");
    if (negative) year = -year;
  } else {
    int four = 0;
    if (!digits(4, &four)) return fail("expected a 4-digit year, or a sign and 6 to 9 digits");
    year = four;
  }
  // "2020-05:00" is a year with an offset, not a month: look past the two digits.
  if (at('-') && !(p + 3 < text.size() && text[p + 3] == ':')) {
    ++p;
    if (!digits(2, &month)) return fail("expected a 2-digit month");
    if (at('-')) {
      ++p;
      if (!digits(2, &day)) return fail("expected a 2-digit day");
      if (at('T') || at('t')) {
        ++p;
        if (!digits(2, &hour)) return fail("expected a 2-digit hour");
        if (at(':')) {
          ++p;
          if (!digits(2, &minute)) return fail("expected 2-digit minutes");
          if (at(':')) {
            ++p;
            if (!digits(2, &second)) return fail("expected 2-digit seconds");
            if (at('.')) {
              ++p;
              size_t start = p;
              while (p < text.size() && text[p] >= '0' && text[p] <= '9') ++p;
              if (p == start) return fail("expected digits after '.'");
              // Truncate (not round) to milliseconds: rounding could carry into
              // the seconds and beyond.
              for (size_t i = 0; i < 3; ++i) {
                millis = millis * 10 + (start + i < p ? text[start + i] - '0' : 0);
              }
            }
          }
        }
      }
    }
  }
  int offset_minutes = 0;
  if (at('Z') || at('z')) {
    ++p;
  } else if (at('+') || at('-')) {
    int sign = text[p] == '-' ? -1 : 1;
    ++p;
    int oh = 0, om = 0;
    if (!digits(2, &oh) || !at(':')) return fail("expected an offset +hh:mm or -hh:mm");
    ++p;
    if (!digits(2, &om)) return fail("expected an offset +hh:mm or -hh:mm");
    if (oh > 23 || om > 59) return fail("offset out of range");
    offset_minutes = sign * (oh * 60 + om);
  }
  if (p != text.size()) {
    return fail("unexpected '" + std::string(1, text[p]) + "' at offset " + std::to_string(p));
  }
  if (month < 1 || month > 12) return fail("month out of range");
  if (day < 1 || day > DaysInMonth(year, month)) return fail("day out of range");
  if (hour > 23) return fail("hour out of range");
  if (minute > 59) return fail("minutes out of range");
  // RFC 3339 allows a leap second (":60") only at the end of a minute; it is folded
  // into the next minute since epoch milliseconds cannot represent it.
  if (second > 60 || (second == 60 && minute != 59)) return fail("seconds out of range");

  // Nine-digit years reach past what int64 milliseconds hold: compute wider, then check.
  const __int128 days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const __int128 ms = days * kMillisPerDay + int64_t{hour} * 3600000 + int64_t{minute} * 60000 +
                      int64_t{second} * 1000 + millis - int64_t{offset_minutes} * 60000;
  if (ms < std::numeric_limits<int64_t>::min() || ms > std::numeric_limits<int64_t>::max()) {
    return fail("out of range (about 292 million years around 1970)");
  }
  return static_cast<int64_t>(ms);
}

}  // namespace datalith
