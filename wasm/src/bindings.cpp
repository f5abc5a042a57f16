// The raw Embind tier (docs/wasm.md, "Raw tier contract").
//
// JS sees functions of strings, numbers and byte arrays; stores, connections and
// snapshots stay here in registries keyed by integer handles. Calls marked *R* in the
// contract return JSON text: {"ok": value}, {"error": message, "code": name} or
// {"missing": true} when a BufferStore lacked a node (the call changed nothing; JS
// fetches storeTakeMissing(), provides the blobs and calls again). No C++ exception
// crosses into JS: R calls turn them into {"error"}, the others into a thrown Error.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include <zstd.h>

#include "buffer_store.h"
#include "datalith/db.h"
#include "datalith/query.h"
#include "index/node.h"
#include "value/text.h"

#ifndef DATALITH_VERSION
#define DATALITH_VERSION "0"
#endif

namespace datalith::wasm {
namespace {

using emscripten::val;
using Json = nlohmann::ordered_json;

// The wasm heap is small next to a server's: a byte-bounded node cache per connection.
constexpr size_t kCacheBytes = size_t{64} << 20;
constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

// ---- handles ----

struct StoreEntry {
  std::shared_ptr<Store> store;
  std::shared_ptr<BufferStore> buffer;  // null for a memory store
};

int next_handle = 1;  // one sequence for every kind, so a handle of the wrong kind fails

template <class T>
class Registry {
 public:
  explicit Registry(const char* kind) : kind_(kind) {}
  int Add(T v) {
    int id = next_handle++;
    items_.emplace(id, std::move(v));
    return id;
  }
  T* Find(int id) {
    auto it = items_.find(id);
    return it == items_.end() ? nullptr : &it->second;
  }
  // For non-R calls: an unknown handle is a programming error of the caller.
  T& Get(int id) {
    if (T* v = Find(id)) return *v;
    throw std::invalid_argument(std::string("unknown ") + kind_ + " handle " + std::to_string(id));
  }
  Result<T*> Lookup(int id) {
    if (T* v = Find(id)) return v;
    return Status::Invalid(std::string("unknown ") + kind_ + " handle " + std::to_string(id));
  }
  void Release(int id) { items_.erase(id); }
  const std::unordered_map<int, T>& items() const { return items_; }

 private:
  const char* kind_;
  std::unordered_map<int, T> items_;
};

Registry<StoreEntry> stores("store");
Registry<std::shared_ptr<Connection>> conns("connection");
Registry<Db> dbs("db");

// Missing-node requests recorded by every buffer store so far. A call that recorded
// new ones and then failed reports {"missing": true} even if a layer above the store
// rewrapped the kMissingNode status.
size_t MissingRecorded() {
  size_t n = 0;
  for (const auto& [_, s] : stores.items()) {
    if (s.buffer) n += s.buffer->missing_recorded();
  }
  return n;
}

// ---- the boundary ----

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Runs an R call whose value is JSON text. One out-of-line copy for every call keeps
// the wasm small.
std::string RespondText(const std::function<Result<std::string>()>& f) {
  size_t missing_before = MissingRecorded();
  Json out;
  try {
    Result<std::string> r = f();
    if (r.ok()) return "{\"ok\":" + std::move(r).value() + "}";
    if (r.status().code() == Code::kMissingNode || MissingRecorded() != missing_before) {
      return "{\"missing\":true}";
    }
    out["error"] = r.status().message();
    out["code"] = CodeName(r.status().code());
  } catch (const std::exception& e) {
    out = Json{{"error", std::string("internal error: ") + e.what()}, {"code", "Internal"}};
  } catch (...) {
    out = Json{{"error", "internal error"}, {"code", "Internal"}};
  }
  return Dump(out);
}

// Runs an R call whose value is a JSON object.
std::string Respond(const std::function<Result<Json>()>& f) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Json j, f());
    return Dump(j);
  });
}

[[noreturn]] void ThrowJs(const std::string& message) {
  val::global("Error").new_(val(message)).throw_();
  __builtin_unreachable();
}

// Runs a non-R call; a C++ exception becomes a JS Error. The message is copied out
// of the handler first so nothing C++ is live when JS unwinds.
template <class F>
auto Guard(F&& f) -> decltype(f()) {
  std::string message;
  try {
    return f();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "internal error";
  }
  ThrowJs(message);
}

template <class T>
T OrThrow(Result<T> r) {
  if (!r.ok()) throw std::runtime_error(r.status().message());
  return std::move(r).value();
}

val Bytes(std::string_view s) {
  // new Uint8Array(view) copies out of the wasm heap.
  return val::global("Uint8Array")
      .new_(val(emscripten::typed_memory_view(s.size(), reinterpret_cast<const uint8_t*>(s.data()))));
}

// ---- JSON value encoding (docs/wasm.md) ----
//
// Results are written as JSON text directly (no intermediate JSON objects): query and
// pull results and transaction reports can hold hundreds of thousands of values.

// The writers' output: an append is a bounds check and a copy into a std::string
// grown by doubling. (With this toolchain's libc++, std::string::append and push_back
// are out-of-line calls into the prebuilt library, each making several more calls:
// docs/wasm.md, "Size and speed".)
class JsonOut {
 public:
  void put(char c) {
    Need(1);
    *end_++ = c;
  }
  void put(std::string_view s) {
    Need(s.size());
    std::memcpy(end_, s.data(), s.size());
    end_ += s.size();
  }
  std::string Take() {
    s_.resize(used());
    end_ = cap_ = nullptr;
    return std::move(s_);
  }

 private:
  size_t used() const { return end_ ? static_cast<size_t>(end_ - s_.data()) : 0; }
  void Need(size_t n) {
    if (static_cast<size_t>(cap_ - end_) >= n) return;
    size_t used = this->used();
    s_.resize(std::max(2 * s_.size(), used + n + 256));
    end_ = s_.data() + used;
    cap_ = s_.data() + s_.size();
  }

  std::string s_;  // [data, end_) written, [end_, cap_) spare
  char* end_ = nullptr;
  char* cap_ = nullptr;
};

// `s` as a JSON string; `prefix`: JSON text put before it inside the quotes.
void AppendString(std::string_view s, JsonOut* out, std::string_view prefix = {}) {
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

void AppendLong(int64_t v, JsonOut* out) {
  if (v > kMaxSafeInteger || v < -kMaxSafeInteger) return AppendTagged("#long", std::to_string(v), out);
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->put(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

void AppendDouble(double d, JsonOut* out) {
  if (std::isnan(d)) return AppendTagged("#double", "NaN", out);
  if (std::isinf(d)) return AppendTagged("#double", d > 0 ? "Inf" : "-Inf", out);
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest round trip
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
        const edn::Node& k = n.items[i];
        AppendString(k.is(Kind::kKeyword) || k.is(Kind::kString) ? k.text : edn::Write(k), out);
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

void AppendDatoms(const Db& db, const std::vector<Datom>& datoms, JsonOut* out) {
  out->put('[');
  EntityId last_attr = 0;
  std::string attr;  // the JSON text of last_attr
  for (size_t i = 0; i < datoms.size(); ++i) {
    const Datom& d = datoms[i];
    if (i) out->put(',');
    out->put('[');
    AppendLong(static_cast<int64_t>(d.e), out);
    out->put(',');
    if (i == 0 || d.a != last_attr) {
      last_attr = d.a;
      JsonOut text;
      const Attribute* a = db.schema().Attr(d.a);
      if (a) {
        AppendString(a->ident, &text, ":");
      } else {
        AppendLong(static_cast<int64_t>(d.a), &text);
      }
      attr = text.Take();
    }
    out->put(attr);
    out->put(',');
    AppendValue(d.v, out);
    out->put(',');
    AppendLong(static_cast<int64_t>(d.tx), out);
    out->put(d.added ? ",true]" : ",false]");
  }
  out->put(']');
}

// A query's answer as AppendJson(ToEdn(table)) writes it, without the EDN nodes of its
// plain values: relations and collections are arrays, :keys rows objects.
void AppendTable(const QueryTable& t, JsonOut* out) {
  const size_t rows = t.rows();
  auto cell = [&](size_t row, size_t c) {
    if (t.is_node(c)) return AppendJson(t.node(row, c), out);
    AppendValue(t.value(row, c), out);
  };
  auto row_json = [&](size_t row) {
    const bool object = t.keys != QueryTable::Keys::kNone;
    out->put(object ? '{' : '[');
    for (size_t c = 0; c < t.width; ++c) {
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

// ---- arguments ----

Result<Json> ParseJson(const std::string& text, const char* what) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Invalid(std::string(what) + ": malformed JSON");
  return j;
}

Result<Value> ValueOfEdn(const std::string& text) {
  DL_ASSIGN_OR_RETURN(edn::Node n, edn::ReadOne(text));
  return edn::ToValue(n);
}

// A vector of plain non-negative integers (what pullMany of entity ids sends), read
// without the EDN reader; nullopt for anything else, which the reader then handles.
std::optional<std::vector<Value>> PlainLongs(std::string_view text) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') return std::nullopt;
  std::vector<Value> out;
  const char* p = text.data() + 1;
  const char* end = text.data() + text.size() - 1;
  while (true) {
    while (p < end && (*p == ' ' || *p == ',')) ++p;
    if (p == end) return out;
    int64_t v = 0;
    auto r = std::from_chars(p, end, v);
    bool leading_zero = *p == '0' && r.ptr - p > 1;
    if (r.ec != std::errc() || (r.ptr < end && *r.ptr != ' ' && *r.ptr != ',') || *p == '-' || leading_zero)
      return std::nullopt;
    out.push_back(Value::Long(v));
    p = r.ptr;
  }
}

Result<std::vector<Value>> ValuesOfEdn(const std::string& text, const char* what) {
  if (auto longs = PlainLongs(text)) return std::move(*longs);
  DL_ASSIGN_OR_RETURN(edn::Node n, edn::ReadOne(text));
  if (!n.is(edn::Kind::kVector) && !n.is(edn::Kind::kList))
    return Status::Invalid(n.Where() + ": " + what + " must be a vector");
  std::vector<Value> out;
  for (const edn::Node& item : n.items) {
    DL_ASSIGN_OR_RETURN(Value v, edn::ToValue(item));
    out.push_back(std::move(v));
  }
  return out;
}

Result<QueryInput> InputOf(const Json& j) {
  if (j.is_object() && j.size() == 1) {
    if (auto it = j.find("db"); it != j.end() && it->is_number_integer()) {
      DL_ASSIGN_OR_RETURN(Db * db, dbs.Lookup(it->get<int>()));
      return QueryInput::Database(*db);
    }
    if (auto it = j.find("edn"); it != j.end() && it->is_string()) {
      return QueryInput::Edn(it->get<std::string>());
    }
    if (auto it = j.find("list"); it != j.end() && it->is_array()) {
      std::vector<QueryInput> items;
      for (const Json& item : *it) {
        DL_ASSIGN_OR_RETURN(QueryInput in, InputOf(item));
        items.push_back(std::move(in));
      }
      return QueryInput::List(std::move(items));
    }
  }
  return Status::Invalid("query input " + Dump(j) +
                         ": expected {\"db\": id}, {\"edn\": text} or {\"list\": [...]}");
}

// ---- the functions ----

std::string Version() { return DATALITH_VERSION " (format 1)"; }

int StoreCreate(std::string kind) {
  return Guard([&] {
    StoreEntry e;
    if (kind == "memory") {
      e.store = MakeMemoryStore();
    } else if (kind == "buffer") {
      e.buffer = std::make_shared<BufferStore>();
      e.store = e.buffer;
    } else {
      throw std::invalid_argument("unknown store kind `" + kind + "` (memory or buffer)");
    }
    return stores.Add(std::move(e));
  });
}

BufferStore& Buffer(int store) {
  StoreEntry& e = stores.Get(store);
  if (!e.buffer) throw std::invalid_argument("store " + std::to_string(store) + " is not a buffer store");
  return *e.buffer;
}

void StoreProvide(int store, std::string addr_hex, std::string bytes) {
  Guard([&] {
    Address addr = OrThrow(Address::FromHex(addr_hex));
    Buffer(store).Provide(addr, std::move(bytes));
  });
}

void StoreProvideHead(int store, std::string name, std::string bytes) {
  Guard([&] {
    Buffer(store).ProvideHead(name, bytes.empty() ? std::nullopt : std::optional(std::move(bytes)));
  });
}

val StoreTakeMissing(int store) {
  return Guard([&] {
    val out = val::array();
    for (const Address& a : Buffer(store).TakeMissing()) out.call<void>("push", val(a.Hex()));
    return out;
  });
}

val StoreTakePending(int store) {
  return Guard([&] {
    BufferStore::Pending p = Buffer(store).TakePending();
    val blobs = val::array();
    for (const auto& [addr, bytes] : p.blobs) {
      val pair = val::array();
      pair.call<void>("push", val(addr.Hex()), Bytes(bytes));
      blobs.call<void>("push", pair);
    }
    val heads = val::array();
    for (const auto& [name, value] : p.heads) {
      val pair = val::array();
      pair.call<void>("push", val(name), Bytes(value));
      heads.call<void>("push", pair);
    }
    val out = val::object();
    out.set("blobs", blobs);
    out.set("heads", heads);
    return out;
  });
}

void StoreRelease(int store) { stores.Release(store); }

// The cache size, and for a memory store (nothing to persist) no flushing by itself;
// shared by CreateOptions and OpenOptions.
template <class Options>
Options ConnectionOptions(const StoreEntry& s) {
  Options o;
  o.cache_bytes = kCacheBytes;
  if (!s.buffer) {
    o.max_pending_tx = SIZE_MAX;
    o.max_pending_bytes = SIZE_MAX;
  }
  return o;
}

std::string ConnCreate(int store, std::string opts_json) {
  return Respond([&]() -> Result<Json> {
    DL_ASSIGN_OR_RETURN(StoreEntry * s, stores.Lookup(store));
    auto o = ConnectionOptions<CreateOptions>(*s);
    if (!opts_json.empty()) {
      DL_ASSIGN_OR_RETURN(Json opts, ParseJson(opts_json, "connection options"));
      if (!opts.is_object()) return Status::Invalid("connection options must be a JSON object");
      Json flex = opts.value("schemaFlexibility", Json("write"));
      if (flex != "read" && flex != "write")
        return Status::Invalid("schemaFlexibility must be \"read\" or \"write\", got " + Dump(flex));
      o.schema_flexibility = flex == "read" ? SchemaFlexibility::kRead : SchemaFlexibility::kWrite;
      Json history = opts.value("keepHistory", Json(true));
      if (!history.is_boolean()) return Status::Invalid("keepHistory must be true or false");
      o.keep_history = history.get<bool>();
    }
    DL_ASSIGN_OR_RETURN(auto conn, Connection::Create(s->store, o));
    return Json(conns.Add(std::move(conn)));
  });
}

std::string ConnOpen(int store) {
  return Respond([&]() -> Result<Json> {
    DL_ASSIGN_OR_RETURN(StoreEntry * s, stores.Lookup(store));
    DL_ASSIGN_OR_RETURN(auto conn, Connection::Open(s->store, ConnectionOptions<OpenOptions>(*s)));
    return Json(conns.Add(std::move(conn)));
  });
}

std::string ConnExists(int store) {
  return Respond([&]() -> Result<Json> {
    DL_ASSIGN_OR_RETURN(StoreEntry * s, stores.Lookup(store));
    DL_ASSIGN_OR_RETURN(bool exists, Connection::Exists(*s->store));
    return Json(exists);
  });
}

// {"txId", "tempids", "txData"}: txData last (the JS tier parses it lazily).
std::string ReportJson(const TxReport& report) {
  JsonOut out;
  out.put("{\"txId\":");
  AppendLong(static_cast<int64_t>(report.tx), &out);
  out.put(",\"tempids\":{");
  bool first = true;
  for (const auto& [name, id] : report.tempids) {
    if (!first) out.put(',');
    first = false;
    AppendString(name, &out);
    out.put(':');
    AppendLong(static_cast<int64_t>(id), &out);
  }
  out.put("},\"txData\":");
  AppendDatoms(report.db_after, report.tx_data, &out);
  out.put('}');
  return out.Take();
}

bool OnBufferStore(const Connection& c) { return dynamic_cast<BufferStore*>(&c.store()) != nullptr; }

// Applies a transaction. On a buffer store it is also flushed, so the commit is in the
// store (pending) when JS sees the report; a memory store is never flushed (its
// connections do not flush by themselves either): nothing would read the commits but
// connLog, and every flushed version's blobs would stay in memory.
std::string ConnTransact(int conn, std::string tx_edn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_ASSIGN_OR_RETURN(TxReport report, (*c)->Transact(tx_edn));
    if (OnBufferStore(**c)) DL_RETURN_IF_ERROR((*c)->Flush());
    return ReportJson(report);
  });
}

// Applies a transaction without flushing (group commit: several connApply, then one
// connFlush).
std::string ConnApply(int conn, std::string tx_edn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_ASSIGN_OR_RETURN(TxReport report, (*c)->Transact(tx_edn));
    return ReportJson(report);
  });
}

// Makes the pending transactions one commit: {"commit": hex, "transactions", "nodes",
// "bytes"} (transactions 0 and the old commit when nothing was pending).
std::string ConnFlush(int conn) {
  return Respond([&]() -> Result<Json> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    if ((*c)->pending_tx() == 0) {
      return Json{{"commit", (*c)->head_commit().Hex()}, {"transactions", 0}, {"nodes", 0}, {"bytes", 0}};
    }
    DL_RETURN_IF_ERROR((*c)->Flush());
    FlushStats f = (*c)->last_flush();
    return Json{{"commit", f.commit.Hex()},
                {"transactions", f.transactions},
                {"nodes", f.nodes_written},
                {"bytes", f.bytes_written}};
  });
}

// Re-reads the head (a replica whose head JS moved): true if the snapshot moved.
std::string ConnRefresh(int conn) {
  return Respond([&]() -> Result<Json> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_ASSIGN_OR_RETURN(bool moved, (*c)->Refresh());
    return Json(moved);
  });
}

// The durable head commit (hex; "" before the first commit).
std::string ConnHead(int conn) {
  return Guard([&] {
    Address a = conns.Get(conn)->head_commit();
    return a.IsZero() ? std::string() : a.Hex();
  });
}

int ConnDb(int conn) { return Guard([&] { return dbs.Add(conns.Get(conn)->db()); }); }

std::string ConnLog(int conn, double limit) {
  return Respond([&]() -> Result<Json> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    size_t n = limit >= 1 ? static_cast<size_t>(limit) : SIZE_MAX;
    DL_ASSIGN_OR_RETURN(std::vector<CommitInfo> log, (*c)->Log(n));
    Json out = Json::array();
    for (const CommitInfo& ci : log) {
      out.push_back(Json{{"address", ci.address.Hex()},
                         {"parent", ci.parent.IsZero() ? Json(nullptr) : Json(ci.parent.Hex())},
                         {"firstTx", ci.first_tx},
                         {"lastTx", ci.last_tx},
                         {"instant", ci.instant},
                         {"datoms", ci.datoms}});
    }
    return out;
  });
}

void ConnRelease(int conn) { conns.Release(conn); }

// t: a tx id, or (below 2^42) a count of transactions, as Db::AsOf takes it.
int DbAsOf(int db, double t) {
  return Guard([&] { return dbs.Add(dbs.Get(db).AsOf(static_cast<EntityId>(t))); });
}
int DbSince(int db, double t) {
  return Guard([&] { return dbs.Add(dbs.Get(db).Since(static_cast<EntityId>(t))); });
}
int DbHistory(int db) { return Guard([&] { return dbs.Add(dbs.Get(db).History()); }); }

// The views at an instant must read the transaction log, so they may miss nodes.
std::string DbAsOfInstant(int db, double millis) {
  return Respond([&]() -> Result<Json> {
    DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
    DL_ASSIGN_OR_RETURN(Db view, d->AsOfInstant(static_cast<int64_t>(millis)));
    return Json(dbs.Add(std::move(view)));
  });
}
std::string DbSinceInstant(int db, double millis) {
  return Respond([&]() -> Result<Json> {
    DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
    DL_ASSIGN_OR_RETURN(Db view, d->SinceInstant(static_cast<int64_t>(millis)));
    return Json(dbs.Add(std::move(view)));
  });
}

double DbBasis(int db) { return Guard([&] { return static_cast<double>(dbs.Get(db).basis_tx()); }); }
void DbRelease(int db) { dbs.Release(db); }

std::string DbDatoms(int db, std::string index_name, std::string components_edn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
    IndexType index;
    if (!ParseIndexName(index_name, &index))
      return Status::Invalid("unknown index `" + index_name + "` (eavt, aevt, avet or vaet)");
    std::vector<Value> comps;
    if (!components_edn.empty()) {
      DL_ASSIGN_OR_RETURN(comps, ValuesOfEdn(components_edn, "datoms components"));
    }
    DL_ASSIGN_OR_RETURN(std::vector<Datom> datoms, d->Datoms(index, comps));
    JsonOut out;
    AppendDatoms(*d, datoms, &out);
    return out.Take();
  });
}

std::string DbPull(int db, std::string pattern_edn, std::string entity_edn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
    DL_ASSIGN_OR_RETURN(Value entity, ValueOfEdn(entity_edn));
    DL_ASSIGN_OR_RETURN(edn::Node node, Pull(*d, pattern_edn, entity));
    JsonOut out;
    AppendJson(node, &out);
    return out.Take();
  });
}

std::string DbPullMany(int db, std::string pattern_edn, std::string entities_edn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(Db * d, dbs.Lookup(db));
    DL_ASSIGN_OR_RETURN(std::vector<Value> entities, ValuesOfEdn(entities_edn, "entities"));
    DL_ASSIGN_OR_RETURN(std::vector<edn::Node> nodes, PullMany(*d, pattern_edn, entities));
    JsonOut out;
    out.put('[');
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (i) out.put(',');
      AppendJson(nodes[i], &out);
    }
    out.put(']');
    return out.Take();
  });
}

std::string Query(std::string query_edn, std::string inputs_json) {
  return RespondText([&]() -> Result<std::string> {
    std::vector<QueryInput> inputs;
    if (!inputs_json.empty()) {
      DL_ASSIGN_OR_RETURN(Json j, ParseJson(inputs_json, "query inputs"));
      if (!j.is_array()) return Status::Invalid("query inputs must be a JSON array");
      for (const Json& item : j) {
        DL_ASSIGN_OR_RETURN(QueryInput in, InputOf(item));
        inputs.push_back(std::move(in));
      }
    }
    DL_ASSIGN_OR_RETURN(QueryTable table, QTable(query_edn, inputs));
    JsonOut out;
    AppendTable(table, &out);
    return out.Take();
  });
}

// Whether a store holds a blob (a buffer store: one JS provided or the core wrote;
// never recorded as missing).
bool StoreHas(int store, std::string addr_hex) {
  return Guard([&] {
    Address addr = OrThrow(Address::FromHex(addr_hex));
    StoreEntry& e = stores.Get(store);
    if (e.buffer) return e.buffer->Has(addr);
    return e.store->Get(addr).ok();
  });
}

// Whether `bytes` is the stored blob of `addr_hex` (docs/format.md §2: codec byte, then
// the canonical bytes or one zstd frame of them; XXH3-128 of the canonical bytes is the
// address). False for a mismatch or a corrupt blob; a malformed address throws.
bool BlobVerify(std::string addr_hex, std::string bytes) {
  return Guard([&] {
    Address addr = OrThrow(Address::FromHex(addr_hex));
    return index::UnwrapBlob(bytes, addr).ok();
  });
}

// One zstd frame that must declare content size `size` and decompress to exactly that
// many bytes, with nothing after the frame (docs/sync-protocol.md §4). Throws otherwise.
val ZstdDecompress(std::string frame, double size) {
  return Guard([&] {
    if (!(size >= 0) || size > double(uint32_t(-1))) throw std::invalid_argument("zstdDecompress: bad size");
    size_t want = static_cast<size_t>(size);
    size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
    if (ZSTD_isError(frame_size)) throw std::invalid_argument("zstd: not a complete zstd frame");
    if (frame_size != frame.size()) throw std::invalid_argument("zstd: trailing bytes after the frame");
    unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN)
      throw std::invalid_argument("zstd: the frame does not declare its content size");
    if (declared != want)
      throw std::invalid_argument("zstd: the frame holds " + std::to_string(declared) + " bytes, expected " +
                                  std::to_string(want));
    std::string out(want, '\0');
    size_t n = ZSTD_decompress(out.data(), want, frame.data(), frame.size());
    if (ZSTD_isError(n) || n != want) throw std::invalid_argument("zstd: corrupt frame");
    return Bytes(out);
  });
}

val CacheStatsOf(int conn) {
  return Guard([&] {
    CacheStats s = conns.Get(conn)->cache_stats();
    val out = val::object();
    out.set("loads", static_cast<double>(s.loads));
    out.set("loadBytes", static_cast<double>(s.load_bytes));
    out.set("hits", static_cast<double>(s.hits));
    return out;
  });
}

}  // namespace
}  // namespace datalith::wasm

EMSCRIPTEN_BINDINGS(datalith) {
  using namespace datalith::wasm;
  using emscripten::function;
  function("version", &Version);
  function("storeCreate", &StoreCreate);
  function("storeProvide", &StoreProvide);
  function("storeProvideHead", &StoreProvideHead);
  function("storeTakeMissing", &StoreTakeMissing);
  function("storeTakePending", &StoreTakePending);
  function("storeRelease", &StoreRelease);
  function("connCreate", &ConnCreate);
  function("connOpen", &ConnOpen);
  function("connExists", &ConnExists);
  function("connTransact", &ConnTransact);
  function("connApply", &ConnApply);
  function("connFlush", &ConnFlush);
  function("connRefresh", &ConnRefresh);
  function("connHead", &ConnHead);
  function("connDb", &ConnDb);
  function("connLog", &ConnLog);
  function("connRelease", &ConnRelease);
  function("dbAsOf", &DbAsOf);
  function("dbSince", &DbSince);
  function("dbAsOfInstant", &DbAsOfInstant);
  function("dbSinceInstant", &DbSinceInstant);
  function("dbHistory", &DbHistory);
  function("dbBasis", &DbBasis);
  function("dbRelease", &DbRelease);
  function("dbDatoms", &DbDatoms);
  function("dbPull", &DbPull);
  function("dbPullMany", &DbPullMany);
  function("q", &Query);
  function("cacheStats", &CacheStatsOf);
  function("storeHas", &StoreHas);
  function("blobVerify", &BlobVerify);
  function("zstdDecompress", &ZstdDecompress);
}
