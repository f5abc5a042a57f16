// The JSON value encoding of docs/wasm.md, written as text straight from core values,
// EDN nodes and query tables (no intermediate JSON objects: query and pull results and
// transaction reports can hold hundreds of thousands of values).
#include "json_writer.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "value/text.h"

namespace datalith::wasm {

// `s` as a JSON string; `prefix`: JSON text put before it inside the quotes.
void AppendString(std::string_view s, JsonOut* out, std::string_view prefix) {
  out->put('"');
  out->put(prefix);
  size_t plain = 0;  // start of the run of bytes that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->put(s.substr(plain, i - plain));
    plain = i + 1;
    switch (c) {
      case '"': out->put("\\\""); break;
      case '\\': out->put("\\\\"); break;
      case '\n': out->put("\\n"); break;
      case '\r': out->put("\\r"); break;
      case '\t': out->put("\\t"); break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out->put(buf);
      }
    }
  }
  out->put(s.substr(plain));
  out->put('"');
}

namespace {

constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

// Text that starts with `:` or `\\` gets a `\\` so it cannot pass for a keyword.
void AppendText(std::string_view s, JsonOut* out) {
  const bool escape = !s.empty() && (s[0] == ':' || s[0] == '\\');
  AppendString(s, out, escape ? "\\\\" : "");  // JSON for one backslash
}

void AppendTagged(const char* tag, std::string_view text, JsonOut* out) {
  out->put("{\"");
  out->put(tag);
  out->put("\":");
  AppendString(text, out);
  out->put('}');
}

// {"#inst": ms}.
void AppendInstant(int64_t millis, JsonOut* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, millis);
  out->put("{\"#inst\":");
  out->put(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
  out->put('}');
}

void AppendDouble(double d, JsonOut* out) {
  if (std::isnan(d)) return AppendTagged("#double", "NaN", out);
  if (std::isinf(d)) return AppendTagged("#double", d > 0 ? "Inf" : "-Inf", out);
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest round trip
  out->put(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

void AppendValue(const Value& v, JsonOut* out);

// A map key as a JSON object's key: keywords by name, strings as they are, others as EDN text.
void AppendMapKey(const edn::Node& k, JsonOut* out) {
  using edn::Kind;
  AppendString(k.is(Kind::kKeyword) || k.is(Kind::kString) ? k.text : edn::Write(k), out);
}

}  // namespace

void AppendLong(int64_t v, JsonOut* out) {
  if (v > kMaxSafeInteger || v < -kMaxSafeInteger) return AppendTagged("#long", std::to_string(v), out);
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->put(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

void AppendJson(const edn::Node& n, JsonOut* out) {
  using edn::Kind;
  switch (n.kind) {
    case Kind::kNil: out->put("null"); return;
    case Kind::kBool: out->put(n.b ? "true" : "false"); return;
    case Kind::kLong: return AppendLong(n.i, out);
    case Kind::kBigInt: return AppendTagged("#long", n.text, out);
    case Kind::kDouble: return AppendDouble(n.d, out);
    case Kind::kBigDec: return AppendDouble(std::strtod(n.text.c_str(), nullptr), out);
    case Kind::kString: return AppendText(n.text, out);
    case Kind::kChar: {
      std::string s;
      internal::AppendUtf8(n.ch, &s);
      return AppendText(s, out);
    }
    case Kind::kKeyword: return AppendString(n.text, out, ":");
    case Kind::kSymbol: return AppendText(n.text, out);
    case Kind::kList:
    case Kind::kVector:
    case Kind::kSet:
      out->put('[');
      for (size_t i = 0; i < n.items.size(); ++i) {
        if (i) out->put(',');
        AppendJson(n.items[i], out);
      }
      out->put(']');
      return;
    case Kind::kMap:
      out->put('{');
      for (size_t i = 0; i + 1 < n.items.size(); i += 2) {
        if (i) out->put(',');
        AppendMapKey(n.items[i], out);
        out->put(':');
        AppendJson(n.items[i + 1], out);
      }
      out->put('}');
      return;
    case Kind::kTagged: return AppendText(edn::Write(n), out);  // unknown tags: their EDN text
    case Kind::kInst: return AppendInstant(n.i, out);
    case Kind::kUuid: return AppendTagged("#uuid", n.uuid.ToString(), out);
  }
  out->put("null");
}

namespace {

// A datom value, as AppendJson(edn::FromValue(v)) writes it, without the EDN node.
void AppendValue(const Value& v, JsonOut* out) {
  switch (v.type()) {
    case ValueType::kBoolean: out->put(v.boolean() ? "true" : "false"); return;
    case ValueType::kLong: return AppendLong(v.long_value(), out);
    case ValueType::kDouble: return AppendDouble(v.double_value(), out);
    case ValueType::kString: return AppendText(v.str(), out);
    case ValueType::kRef:
      if (v.ref() <= static_cast<uint64_t>(kMaxSafeInteger)) return AppendLong(static_cast<int64_t>(v.ref()), out);
      break;
    case ValueType::kInstant: return AppendInstant(v.instant(), out);
    default: break;
  }
  AppendJson(edn::FromValue(v), out);
}

}  // namespace

uint32_t JsonPullWriter::KeyId(const edn::Node& key) {
  Cached& cached = cached_[(reinterpret_cast<uintptr_t>(&key) >> 3) % kCached];
  if (cached.node == &key) return cached.id;
  text_.Truncate(0);
  AppendMapKey(key, &text_);
  std::string text(text_.Since(0));
  EntityId& slot = key_ids_[text];  // the id + 1, 0 for a new key
  if (slot == 0) {
    keys_.push_back(std::move(text));
    slot = keys_.size();
  }
  cached = {&key, static_cast<uint32_t>(slot - 1)};
  return cached.id;
}

void JsonPullWriter::BeginMap(size_t) {
  if (depth_ == 0) {
    row_keys_.clear();
    row_at_.clear();
  }
  Open(depth_ == 0 ? '[' : '{');
}

void JsonPullWriter::EndMap() {
  if (depth_ > 1) return Close('}');
  Separate();
  AppendLong(ShapeId(), &out_);
  Close(']');
}

void JsonPullWriter::Key(const edn::Node& key) {
  const uint32_t id = KeyId(key);
  if (depth_ == 1) {  // a row's key goes to its shape; the value follows
    row_keys_.push_back(id);
    row_at_.push_back(out_.size());
    return;
  }
  Separate();
  out_.put(keys_[id]);
  out_.put(':');
}

uint32_t JsonPullWriter::ShapeId() {
  if (!shapes_.empty() && shapes_[last_shape_] == row_keys_) return last_shape_;
  EntityId& slot = shape_ids_[std::string(reinterpret_cast<const char*>(row_keys_.data()),
                                          row_keys_.size() * sizeof(uint32_t))];  // id + 1
  if (slot == 0) {
    shapes_.push_back(row_keys_);
    slot = shapes_.size();
  }
  return last_shape_ = static_cast<uint32_t>(slot - 1);
}

void JsonPullWriter::Rollback(uint64_t mark) {
  const size_t size = static_cast<size_t>(mark & 0xffffffffu);
  depth_ = static_cast<uint32_t>(mark >> 32);
  out_.Truncate(size);
  while (!row_at_.empty() && row_at_.back() >= size) {
    row_at_.pop_back();
    row_keys_.pop_back();
  }
}

void JsonPullWriter::Finish() {
  out_.put("],\"k\":[");
  for (size_t s = 0; s < shapes_.size(); ++s) {
    out_.put(s ? ",[" : "[");
    for (size_t i = 0; i < shapes_[s].size(); ++i) {
      if (i) out_.put(',');
      out_.put(keys_[shapes_[s][i]]);
    }
    out_.put(']');
  }
  out_.put("]}");
}

void JsonPullWriter::Scalar(const Value& value) {
  Separate();
  AppendValue(value, &out_);
}

void JsonPullWriter::Data(const edn::Node& node) {
  Separate();
  AppendJson(node, &out_);
}

void JsonPullWriter::Nil() {
  Separate();
  out_.put("null");
}

void AppendDatoms(const Db& db, const std::vector<Datom>& datoms, JsonOut* out) {
  out->put('[');
  EntityId last_id = 0;
  const Attribute* attr = nullptr;  // last_id's (null: not in the schema)
  for (size_t i = 0; i < datoms.size(); ++i) {
    const Datom& d = datoms[i];
    if (i) out->put(',');
    out->put('[');
    AppendLong(static_cast<int64_t>(d.e), out);
    out->put(',');
    if (i == 0 || d.a != last_id) {
      last_id = d.a;
      attr = db.schema().Attr(d.a);
    }
    if (attr) {
      AppendString(attr->ident, out, ":");
    } else {
      AppendLong(static_cast<int64_t>(d.a), out);
    }
    out->put(',');
    AppendValue(d.v, out);
    out->put(',');
    AppendLong(static_cast<int64_t>(d.tx), out);
    out->put(d.added ? ",true]" : ",false]");
  }
  out->put(']');
}

void AppendTable(const QueryTable& t, JsonOut* out) {
  const size_t rows = t.rows();
  auto cell = [&](size_t row, size_t c) {
    if (t.is_node(c)) return AppendJson(t.node(row, c), out);
    AppendValue(t.value(row, c), out);
  };
  auto row_json = [&](size_t row) {
    const bool object = t.keys != QueryTable::Keys::kNone;
    out->put(object ? '{' : '[');
    for (size_t c = 0; c < t.width(); ++c) {
      if (c) out->put(',');
      if (object) {
        AppendString(t.key_names[c], out);
        out->put(':');
      }
      cell(row, c);
    }
    out->put(object ? '}' : ']');
  };
  switch (t.shape) {
    case QueryTable::Shape::kRelation:
    case QueryTable::Shape::kCollection:
      out->put('[');
      for (size_t r = 0; r < rows; ++r) {
        if (r) out->put(',');
        if (t.shape == QueryTable::Shape::kRelation) {
          row_json(r);
        } else {
          cell(r, 0);
        }
      }
      out->put(']');
      return;
    case QueryTable::Shape::kTuple:
      if (rows == 0) break;
      return row_json(0);
    case QueryTable::Shape::kScalar:
      if (rows == 0) break;
      return cell(0, 0);
  }
  out->put("null");
}

bool TableNumbers(const QueryTable& t, std::vector<double>* numbers) {
  if (t.keys != QueryTable::Keys::kNone) return false;
  if (t.shape != QueryTable::Shape::kRelation && t.shape != QueryTable::Shape::kCollection) return false;
  for (size_t c = 0; c < t.width(); ++c)
    if (t.is_node(c)) return false;
  numbers->clear();
  numbers->reserve(t.rows() * t.width());
  for (size_t r = 0; r < t.rows(); ++r) {
    for (size_t c = 0; c < t.width(); ++c) {
      const Value& v = t.value(r, c);
      if (v.type() == ValueType::kLong && v.long_value() <= kMaxSafeInteger && v.long_value() >= -kMaxSafeInteger) {
        numbers->push_back(static_cast<double>(v.long_value()));
      } else if (v.type() == ValueType::kRef && v.ref() <= static_cast<uint64_t>(kMaxSafeInteger)) {
        numbers->push_back(static_cast<double>(v.ref()));
      } else if (v.type() == ValueType::kDouble && std::isfinite(v.double_value())) {
        numbers->push_back(v.double_value());
      } else {
        return false;
      }
    }
  }
  return true;
}

}  // namespace datalith::wasm
