// Golden tests of the transactor and the time views: runs every tests/golden/tx/*.test.
//
// The file format is golden_file.h's. Commands:
//   create [{:schema-flexibility :read, :keep-history false}]   fresh memory store
//   transact <EDN tx data>          expected: `ok` (the default) or `error <substring>`
//                                   (a substring of Status::ToString(), e.g. "Conflict:")
//   tx-data | tempids | basis       of the last successful transaction / current db
//   [asof N] [since N] [history] datoms <index> [components...]
//   entid <ref>                     Db::Entid: an id or `error <substring>`
//   attr :ns/name                   the attribute's non-default schema properties
//   flush | reopen                  Connection::Flush / Flush + Connection::Open
// Datoms print as [e :attr v tx added]. Transaction ids print as symbols tN (t1 is the
// first transaction, t0 the bootstrap one). In expected output `?name` binds to the
// actual value on first use and must match it afterwards (file-wide: the same ?e is the
// same id everywhere); `_` matches anything. Bound ?names and tN may also be used in
// tx data and components. EDN positions count from the start of the tx data: its
// first line is `transact`'s own if the data starts there, else the next one.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <map>
#include <sstream>

#include "datalith/db.h"
#include "golden_file.h"

#ifndef DATALITH_SOURCE_DIR
#define DATALITH_SOURCE_DIR "."
#endif

namespace datalith {
namespace {

namespace fs = std::filesystem;
using edn::Kind;
using edn::Node;

using golden::Block;
using golden::ReadBlocks;

Node TxSym(EntityId tx) { return Node::Symbol("t" + std::to_string(tx - kTx0)); }

// tN symbol → its tx id, or 0.
EntityId TxOfSym(const Node& n) {
  if (!n.is(Kind::kSymbol) || n.text.size() < 2 || n.text[0] != 't') return 0;
  if (n.text.find_first_not_of("0123456789", 1) != std::string::npos) return 0;
  return kTx0 + std::stoull(n.text.substr(1));
}

class Runner {
 public:
  explicit Runner(std::string file) : file_(std::move(file)) {}

  void Run() {
    for (const Block& b : ReadBlocks(file_)) {
      std::string actual;
      std::string expected = b.Expected();
      bool ok = Exec(b, &actual);
      if (!ok) {
        FAIL_CHECK(file_ << ":" << b.line << ": " << b.command << "\n--- expected:\n"
                         << expected << "\n--- actual:\n" << actual << "\n--- why: " << why_);
        return;  // later blocks depend on this one
      }
    }
  }

 private:
  // Replaces bound ?vars and tN symbols by numbers.
  Node Subst(Node n) {
    if (n.is(Kind::kSymbol)) {
      if (EntityId tx = TxOfSym(n)) return Node::Long(static_cast<int64_t>(tx));
      auto it = vars_.find(n.text);
      if (it != vars_.end()) return Subst(it->second);
    }
    for (Node& x : n.items) x = Subst(std::move(x));
    return n;
  }

  // Matches actual against a pattern, binding ?vars.
  bool Match(const Node& pat, const Node& act) {
    if (pat.IsSymbol("_")) return true;
    if (pat.is(Kind::kSymbol) && pat.text.size() > 1 && pat.text[0] == '?') {
      auto it = vars_.find(pat.text);
      if (it == vars_.end()) {
        vars_[pat.text] = act;
        return true;
      }
      return edn::Equal(it->second, act);
    }
    if (pat.kind != act.kind || pat.items.size() != act.items.size()) return edn::Equal(pat, act);
    if (pat.is(Kind::kMap)) {
      for (size_t i = 0; i < pat.items.size(); i += 2) {
        const Node* v = act.Get(pat.items[i]);
        if (!v || !Match(pat.items[i + 1], *v)) return false;
      }
      return true;
    }
    if (pat.is(Kind::kVector) || pat.is(Kind::kList)) {
      for (size_t i = 0; i < pat.items.size(); ++i)
        if (!Match(pat.items[i], act.items[i])) return false;
      return true;
    }
    return edn::Equal(pat, act);
  }

  Node DatomNode(const Db& db, const Datom& d) {
    const std::string* ident = db.schema().Ident(d.a);
    Node v = d.v.type() == ValueType::kRef && IsTxId(d.v.ref()) ? TxSym(d.v.ref()) : edn::FromValue(d.v);
    return Node::Coll(Kind::kVector,
                      {IsTxId(d.e) ? TxSym(d.e) : Node::Long(static_cast<int64_t>(d.e)),
                       ident ? Node::Keyword(*ident) : Node::Long(static_cast<int64_t>(d.a)), v,
                       TxSym(d.tx), Node::Bool(d.added)});
  }

  static std::string Lines(const Node& vec) {
    std::string s = "[";
    for (size_t i = 0; i < vec.items.size(); ++i) s += (i ? "\n " : "") + edn::Write(vec.items[i]);
    return s + "]";
  }

  Node AttrNode(const Attribute& a) {
    std::vector<Node> m;
    auto put = [&](const char* k, Node v) {
      m.push_back(Node::Keyword(k));
      m.push_back(std::move(v));
    };
    if (a.type != ValueType::kNil) put("db/valueType", Node::Keyword(ValueTypeKeyword(a.type)));
    if (a.many) put("db/cardinality", Node::Keyword("db.cardinality/many"));
    if (a.unique != Unique::kNone)
      put("db/unique", Node::Keyword(a.unique == Unique::kIdentity ? "db.unique/identity" : "db.unique/value"));
    if (a.component) put("db/isComponent", Node::Bool(true));
    if (!a.indexed) put("db/index", Node::Bool(false));
    if (a.no_history) put("db/noHistory", Node::Bool(true));
    if (!a.doc.empty()) put("db/doc", Node::String(a.doc));
    auto types = [](const std::vector<ValueType>& ts) {
      std::vector<Node> v;
      for (ValueType t : ts) v.push_back(Node::Keyword(ValueTypeKeyword(t)));
      return Node::Coll(Kind::kVector, std::move(v));
    };
    if (!a.tuple_attrs.empty()) {
      std::vector<Node> v;
      for (EntityId id : a.tuple_attrs) v.push_back(Node::Keyword(*conn_->db().schema().Ident(id)));
      put("db/tupleAttrs", Node::Coll(Kind::kVector, std::move(v)));
    }
    if (!a.tuple_types.empty()) put("db/tupleTypes", types(a.tuple_types));
    if (a.tuple_type != ValueType::kNil) put("db/tupleType", Node::Keyword(ValueTypeKeyword(a.tuple_type)));
    return Node::Coll(Kind::kMap, std::move(m));
  }

  bool Fail(std::string why) {
    why_ = std::move(why);
    return false;
  }

  // Compares `actual` with the block's EDN pattern.
  bool Expect(const Block& b, const Node& actual, std::string* out) {
    *out = actual.is(Kind::kVector) ? Lines(actual) : edn::Write(actual);
    auto pat = edn::ReadOne(b.Expected());
    if (!pat.ok()) return Fail("bad expected EDN: " + pat.status().ToString());
    return Match(*pat, actual) || Fail("mismatch");
  }

  // `ok`, or `error <substring>` against a status.
  bool ExpectStatus(const Block& b, const Status& s, std::string* out) {
    *out = s.ok() ? "ok" : "error " + s.ToString();
    std::string exp = b.expected.empty() ? "ok" : b.Expected();
    if (exp == "error") exp = "error ";  // any error
    if (exp == "ok") return s.ok() || Fail("unexpected error");
    if (exp.rfind("error ", 0) != 0) return Fail("expected output must be `ok` or `error <text>`");
    if (s.ok()) return Fail("expected an error");
    // Bound ?vars in the expected text stand for their values.
    std::string want;
    for (size_t i = 6; i < exp.size();) {
      size_t j = i + 1;
      while (exp[i] == '?' && j < exp.size() && (std::isalnum(static_cast<unsigned char>(exp[j])) || exp[j] == '-')) ++j;
      auto it = vars_.find(exp.substr(i, j - i));
      want += it != vars_.end() ? edn::Write(Subst(it->second)) : exp.substr(i, j - i);
      i = j;
    }
    return s.ToString().find(want) != std::string::npos || Fail("wrong error");
  }

  bool Exec(const Block& b, std::string* out) {
    std::string cmd = b.command, word;
    std::istringstream ws(cmd);
    Db db;
    if (conn_) db = conn_->db();
    // Time-view prefixes.
    for (;;) {
      ws >> word;
      if (word == "asof" || word == "since") {
        long long n = 0;
        ws >> n;
        db = word == "asof" ? db.AsOf(n) : db.Since(n);
      } else if (word == "history") {
        db = db.History();
      } else {
        break;
      }
    }
    std::string rest;
    std::getline(ws, rest, '\0');
    size_t nl = rest.find('\n');
    if (nl != std::string::npos && rest.find_first_not_of(" \t") == nl) rest = rest.substr(nl + 1);
    else rest.erase(0, std::min(rest.find_first_not_of(" \t"), rest.size()));
    if (word == "create") {
      CreateOptions o;
      if (rest.find_first_not_of(" \t\n") != std::string::npos) {
        auto m = edn::ReadOne(rest);
        if (!m.ok()) return Fail(m.status().ToString());
        if (const Node* f = m->GetKeyword("schema-flexibility"))
          o.schema_flexibility = f->IsKeyword("read") ? SchemaFlexibility::kRead : SchemaFlexibility::kWrite;
        if (const Node* h = m->GetKeyword("keep-history")) o.keep_history = h->b;
      }
      conn_.reset();
      store_ = MakeMemoryStore();
      auto c = Connection::Create(store_, o);
      if (!c.ok()) return Fail(c.status().ToString());
      conn_ = *c;
      vars_.clear();
      return true;
    }
    if (!conn_) return Fail("no database: start the file with `create`");
    if (word == "transact") {
      auto tx = edn::ReadOne(rest);
      Status s = tx.status();
      if (tx.ok()) {
        auto r = conn_->Transact(Subst(*tx));
        s = r.status();
        if (r.ok()) last_ = *r;
      }
      return ExpectStatus(b, s, out);
    }
    if (word == "flush") return ExpectStatus(b, conn_->Flush(), out);
    if (word == "reopen") {
      Status s = conn_->Flush();
      if (!s.ok()) return ExpectStatus(b, s, out);
      conn_.reset();
      auto c = Connection::Open(store_);
      if (c.ok()) conn_ = *c;
      return ExpectStatus(b, c.status(), out);
    }
    if (word == "tx-data") {
      std::vector<Node> v;
      for (const Datom& d : last_.tx_data) v.push_back(DatomNode(last_.db_after, d));
      return Expect(b, Node::Coll(Kind::kVector, std::move(v)), out);
    }
    if (word == "tempids") {
      std::vector<Node> m;
      for (const auto& [k, id] : last_.tempids) {
        m.push_back(Node::String(k));
        m.push_back(IsTxId(id) ? TxSym(id) : Node::Long(static_cast<int64_t>(id)));
      }
      return Expect(b, Node::Coll(Kind::kMap, std::move(m)), out);
    }
    if (word == "basis") return Expect(b, TxSym(db.basis_tx()), out);
    Node a;
    if (word == "attr" || word == "entid") {
      auto arg = edn::ReadOne(rest);
      if (!arg.ok()) return Fail("bad command argument: " + arg.status().ToString());
      a = Subst(*arg);
    }
    if (word == "attr") {
      const Attribute* at = db.schema().AttrByIdent(a.text);
      return Expect(b, at ? AttrNode(*at) : Node::Nil(), out);
    }
    auto to_value = [](const Node& n) -> Result<Value> { return edn::ToValue(n); };
    if (word == "entid") {
      auto v = to_value(a);
      auto e = v.ok() ? db.Entid(*v) : Result<EntityId>(v.status());
      if (!e.ok() || (b.expected.size() == 1 && b.expected[0].rfind("error ", 0) == 0))
        return ExpectStatus(b, e.status(), out);
      return Expect(b, Node::Long(static_cast<int64_t>(*e)), out);
    }
    if (word == "datoms") {
      // `datoms eavt [components]`: the first token is the index.
      std::istringstream as(rest);
      std::string ix_name, comps;
      as >> ix_name;
      std::getline(as, comps, '\0');
      IndexType ix;
      if (!ParseIndexName(ix_name, &ix)) return Fail("unknown index " + ix_name);
      auto cn = edn::ReadOne(comps.find_first_not_of(" \t\n") == std::string::npos ? "[]" : comps);
      if (!cn.ok() || !cn->is(Kind::kVector)) return Fail("components must be an EDN vector");
      std::vector<Value> cs;
      for (const Node& c : Subst(*cn).items) {
        auto v = to_value(c);
        if (!v.ok()) return Fail(v.status().ToString());
        cs.push_back(*v);
      }
      auto ds = db.Datoms(ix, cs);
      if (!ds.ok()) return ExpectStatus(b, ds.status(), out);
      std::vector<Node> v;
      for (const Datom& d : *ds) v.push_back(DatomNode(db, d));
      return Expect(b, Node::Coll(Kind::kVector, std::move(v)), out);
    }
    return Fail("unknown command `" + word + "`");
  }

  std::string file_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<Connection> conn_;
  TxReport last_;
  std::map<std::string, Node> vars_;
  std::string why_;
};

TEST_CASE("golden transactor files", "[tx]") {
  fs::path dir = fs::path(DATALITH_SOURCE_DIR) / "tests/golden/tx";
  if (!fs::exists(dir)) dir = fs::path(__FILE__).parent_path().parent_path() / "golden/tx";
  REQUIRE(fs::is_directory(dir));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".test") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());
  for (const std::string& f : files) {
    Runner(f).Run();
  }
}

}  // namespace
}  // namespace datalith
