// Helpers shared by the commands: errors, EDN/JSON output, input files, opening
// databases and time views.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli.h"

namespace datalith::cli {

using edn::Kind;
using edn::Node;
using Json = nlohmann::ordered_json;

bool Args::Has(const std::string& name) const { return Get(name).has_value(); }

std::optional<std::string> Args::Get(const std::string& name) const {
  std::optional<std::string> v;
  for (const auto& [k, val] : opts)
    if (k == name) v = val;
  return v;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "datalith: %s\n", s.message().c_str());
  return kFailed;
}

int Usage(const Args& a, const std::string& message) {
  std::fprintf(stderr, "datalith: %s\nusage: %s\nrun 'datalith %s --help' for details\n",
               message.c_str(), Synopsis(*a.cmd).c_str(), a.cmd->name);
  return kUsage;
}

// --- output ---

namespace {

std::string Utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

Json ToJson(const Node& n) {
  switch (n.kind) {
    case Kind::kNil: return nullptr;
    case Kind::kBool: return n.b;
    case Kind::kLong: return n.i;
    case Kind::kDouble: return std::isfinite(n.d) ? Json(n.d) : Json(edn::Write(n));
    case Kind::kBigInt:
    case Kind::kBigDec: return edn::Write(n);  // "12345678901234567890N", "1.5M"
    case Kind::kString: return n.text;
    case Kind::kChar: return Utf8(n.ch);
    case Kind::kKeyword: return ":" + n.text;
    case Kind::kSymbol: return n.text;
    case Kind::kInst: return FormatInstant(n.i);
    case Kind::kUuid: return n.uuid.ToString();
    case Kind::kList:
    case Kind::kVector:
    case Kind::kSet: {
      Json arr = Json::array();
      for (const Node& x : n.items) arr.push_back(ToJson(x));
      return arr;
    }
    case Kind::kMap: {
      Json obj = Json::object();
      for (size_t i = 0; i + 1 < n.items.size(); i += 2) {
        Json key = ToJson(n.items[i]);
        obj[key.is_string() ? key.get<std::string>() : key.dump()] = ToJson(n.items[i + 1]);
      }
      return obj;
    }
    case Kind::kTagged: {
      Json obj = Json::object();
      obj["#" + n.text] = n.items.empty() ? Json() : ToJson(n.items[0]);
      return obj;
    }
  }
  return nullptr;
}

}  // namespace

void Print(const Args& a, const Node& n) {
  std::string s = a.json ? ToJson(n).dump(-1, ' ', false, Json::error_handler_t::replace) : edn::Write(n);
  s += '\n';
  std::fwrite(s.data(), 1, s.size(), stdout);
}

Node Map(std::vector<std::pair<std::string, Node>> entries) {
  std::vector<Node> items;
  for (auto& [k, v] : entries) {
    items.push_back(Node::Keyword(k));
    items.push_back(std::move(v));
  }
  return Node::Coll(Kind::kMap, std::move(items));
}

Node Vec(std::vector<Node> items) { return Node::Coll(Kind::kVector, std::move(items)); }

// --- input ---

Result<std::string> ReadInput(const std::string& path) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) return Status::IOError("cannot open " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  bool bad = std::ferror(f);
  if (f != stdin) std::fclose(f);
  if (bad) return Status::IOError("cannot read " + InputName(path));
  return text;
}

std::string InputName(const std::string& path) { return path == "-" ? "<stdin>" : path; }

std::optional<uint64_t> ParseCount(const std::string& text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

bool IsCount(const std::string& text) { return ParseCount(text).has_value(); }

// --- databases and views ---

Result<std::shared_ptr<Store>> OpenLocation(const std::string& where, bool create) {
  if (where.rfind("http://", 0) == 0 || where.rfind("https://", 0) == 0) {
    if (create) return Status::Unsupported(where + " is a published database: read-only");
    return OpenHttpStore(where);
  }
  if (where.rfind("postgres://", 0) == 0 || where.rfind("postgresql://", 0) == 0) {
    size_t hash = where.rfind('#');
    if (hash == std::string::npos || hash + 1 == where.size())
      return Status::Invalid(where + ": name the database after '#' (postgres://HOST/PGDB#NAME)");
    return OpenPostgresStore(where.substr(0, hash), where.substr(hash + 1));
  }
  return OpenFileStore(where, create);
}

Result<std::shared_ptr<Connection>> OpenDb(const std::string& dir) {
  auto store = OpenLocation(dir, false);
  if (!store.ok() && store.status().code() != Code::kNotFound) return store.status();
  auto exists = store.ok() ? Connection::Exists(**store) : Result<bool>(false);
  if (!exists.ok()) return exists.status().WithContext(dir);
  if (!*exists) return Status::NotFound("no database at " + dir);
  auto conn = Connection::Open(*store);
  if (!conn.ok()) return conn.status().WithContext(dir);
  return conn;
}

bool IsViewFlag(const std::string& flag) {
  return flag == "as-of" || flag == "since" || flag == "history";
}

bool IsTime(const std::string& text) { return IsCount(text) || ParseInstant(text).ok(); }

Result<Db> ApplyView(const Db& db, const std::string& flag, const std::string& value) {
  if (flag == "history") return db.History();
  if (auto tx = ParseCount(value)) return flag == "as-of" ? db.AsOf(*tx) : db.Since(*tx);
  DL_ASSIGN_OR_RETURN(int64_t millis, ParseInstant(value));
  auto view = flag == "as-of" ? db.AsOfInstant(millis) : db.SinceInstant(millis);
  if (!view.ok()) return view.status().WithContext("--" + flag + " " + value);
  return view;
}

Result<Db> OpenView(const Args& a, const std::string& dir, std::shared_ptr<Connection>* conn) {
  DL_ASSIGN_OR_RETURN(*conn, OpenDb(dir));
  Db db = (*conn)->db();
  for (const auto& [flag, value] : a.opts) {
    if (!IsViewFlag(flag)) continue;
    DL_ASSIGN_OR_RETURN(db, ApplyView(db, flag, value));
  }
  return db;
}

}  // namespace datalith::cli
