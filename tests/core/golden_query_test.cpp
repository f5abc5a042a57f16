// Golden tests of the query engine and pull: runs every tests/golden/query/*.test.
//
// The file format is golden_file.h's. Commands:
//   create NAME [{:schema-flexibility :read}]   a fresh memory database called NAME
//   transact NAME <EDN tx data>                 expected: `ok` (default) or `error <text>`
//   query [inputs...]                           the query follows on the next lines
//   pull NAME <entity> <pattern>
//   def NAME <EDN>                              names data (e.g. rules) for #def NAME
// Query inputs are one EDN vector starting on the `query` line (it may continue on
// the following lines; the query starts at the first line beginning with `[:find` or
// `{`), in :in order (default: the last created database). Inside it, `#db NAME` is a
// database, `#def NAME` the data of a `def`, `#asof [NAME t]`,
// `#since [NAME t]` and `#history NAME` its views (t counts transactions, t1 = the
// first); everything else is data, and vectors may mix data and databases:
// `[["acme" #db acme] ["globex" #db globex]]`.
// Expected output is EDN compared structurally (sets and maps unordered), or
// `error <text>` where <text> must occur in the error message, or
// `unordered <EDN vector>`: the result is a vector compared as a multiset (for
// collection finds, :keys results and aggregates whose order is unspecified), or
// `count N`: the result is a collection of N items (for sample and rand).
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>

#include "datalith/query.h"
#include "golden_file.h"

#ifndef DATALITH_SOURCE_DIR
#define DATALITH_SOURCE_DIR "."
#endif

namespace datalith {
namespace {

namespace fs = std::filesystem;

using golden::Block;
using golden::ReadBlocks;

class Runner {
 public:
  explicit Runner(std::string file) : file_(std::move(file)) {}

  void Run(const Block& b) {
    INFO(file_ << ":" << b.line << ": " << b.command);
    std::string cmd = b.command.substr(0, b.command.find_first_of(" \n"));
    std::string rest = b.command.size() > cmd.size() ? b.command.substr(cmd.size() + 1) : "";
    if (cmd == "create") return Create(rest);
    if (cmd == "transact") return Transact(rest, b);
    if (cmd == "query") return Query(rest, b);
    if (cmd == "pull") return PullCmd(rest, b);
    if (cmd == "def") return Def(rest);
    FAIL("unknown command " << cmd);
  }

 private:
  static std::pair<std::string, std::string> Word(const std::string& s) {
    size_t end = s.find_first_of(" \n");
    if (end == std::string::npos) return {s, ""};
    return {s.substr(0, end), s.substr(end + 1)};
  }

  void Create(const std::string& rest) {
    auto [name, opts_text] = Word(rest);
    CreateOptions opts;
    if (!opts_text.empty()) {
      auto opts_node = edn::ReadOne(opts_text);
      REQUIRE(opts_node.ok());
      const edn::Node* flex = opts_node->GetKeyword("schema-flexibility");
      if (flex && flex->IsKeyword("read")) opts.schema_flexibility = SchemaFlexibility::kRead;
    }
    auto conn = Connection::Create(MakeMemoryStore(), opts);
    REQUIRE(conn.ok());
    conns_[name] = *conn;
    last_ = name;
  }

  void Def(const std::string& rest) {
    auto [name, text] = Word(rest);
    auto node = edn::ReadOne(text);
    REQUIRE(node.ok());
    defs_[name] = *node;
  }

  void Transact(const std::string& rest, const Block& b) {
    auto [name, tx] = Word(rest);
    REQUIRE(conns_.count(name));
    auto r = conns_[name]->Transact(tx);
    CheckStatus(r.status(), b);
  }

  void CheckStatus(const Status& s, const Block& b) {
    std::string want = b.has_expected ? b.Expected() : "ok";
    if (want.rfind("error ", 0) == 0) {
      REQUIRE_FALSE(s.ok());
      CHECK_THAT(s.message(), Catch::Contains(want.substr(6)));
    } else {
      REQUIRE(want == "ok");
      CHECK(s.message() == "");
      REQUIRE(s.ok());
    }
  }

  Db Named(const edn::Node& n) {
    std::string name = n.text;
    if (!conns_.count(name)) FAIL("no database named " << name);
    return conns_[name]->db();
  }

  QueryInput Input(const edn::Node& n) {
    if (n.is(edn::Kind::kTagged)) {
      const edn::Node& arg = n.items[0];
      if (n.text == "db") return QueryInput::Database(Named(arg));
      if (n.text == "def") {
        if (!defs_.count(arg.text)) FAIL("no def named " << arg.text);
        return QueryInput::Data(defs_[arg.text]);
      }
      if (n.text == "history") return QueryInput::Database(Named(arg).History());
      if (n.text == "asof" || n.text == "since") {
        REQUIRE(arg.items.size() == 2);
        Db db = Named(arg.items[0]);
        EntityId t = static_cast<EntityId>(arg.items[1].i);
        return QueryInput::Database(n.text == "asof" ? db.AsOf(t) : db.Since(t));
      }
      FAIL("unknown tag #" << n.text);
    }
    if (n.is(edn::Kind::kVector) && ContainsDb(n)) {
      std::vector<QueryInput> items;
      for (const edn::Node& item : n.items) items.push_back(Input(item));
      return QueryInput::List(std::move(items));
    }
    return QueryInput::Data(n);
  }

  static bool ContainsDb(const edn::Node& n) {
    if (n.is(edn::Kind::kTagged)) return true;
    for (const edn::Node& item : n.items)
      if (ContainsDb(item)) return true;
    return false;
  }

  // Checks without aborting, so one failing block does not hide the rest of its file.
  void CheckResult(const Result<edn::Node>& r, const Block& b) {
    if (!b.has_expected) {
      FAIL_CHECK("no expected output (----)");
      return;
    }
    const std::string expected = b.Expected();
    if (expected.rfind("error ", 0) == 0) {
      if (r.ok()) {
        FAIL_CHECK("expected an error, got " << edn::Write(*r));
        return;
      }
      CHECK_THAT(r.status().message(), Catch::Contains(expected.substr(6)));
      return;
    }
    if (!r.ok()) {
      FAIL_CHECK("unexpected error: " << r.status().message());
      return;
    }
    INFO("got " << edn::Write(*r));
    if (expected.rfind("count ", 0) == 0) {
      CHECK(r->IsColl());
      CHECK(r->items.size() == std::stoul(expected.substr(6)));
      return;
    }
    bool unordered = expected.rfind("unordered ", 0) == 0;
    auto want = edn::ReadOne(unordered ? expected.substr(10) : expected);
    if (!want.ok()) {
      FAIL_CHECK("cannot read the expected output: " << want.status().message());
      return;
    }
    if (unordered) {
      CHECK(want->is(edn::Kind::kVector));
      if (!r->is(edn::Kind::kVector)) {
        FAIL_CHECK("expected a vector");
        return;
      }
      edn::Node got_bag = *r, want_bag = *want;
      got_bag.kind = want_bag.kind = edn::Kind::kSet;
      CHECK(edn::Equal(got_bag, want_bag));
      return;
    }
    CHECK(edn::Equal(*r, *want));
  }

  void Query(const std::string& rest, const Block& b) {
    std::vector<QueryInput> inputs;
    std::string text = rest;
    if (!rest.empty() && rest[0] == '[' && rest.find('\n') != std::string::npos &&
        rest.substr(0, 6) != "[:find") {
      // The inputs end before the first line that starts a query ([:find or {).
      size_t end = rest.find('\n');
      while (end != std::string::npos && rest.compare(end + 1, 6, "[:find") != 0 &&
             rest.compare(end + 1, 1, "{") != 0) {
        end = rest.find('\n', end + 1);
      }
      REQUIRE(end != std::string::npos);
      auto in = edn::ReadOne(rest.substr(0, end));
      REQUIRE(in.ok());
      for (const edn::Node& n : in->items) inputs.push_back(Input(n));
      text = rest.substr(end + 1);
    } else {
      REQUIRE(conns_.count(last_));
      inputs.push_back(QueryInput::Database(conns_[last_]->db()));
    }
    CheckResult(Q(text, inputs), b);
  }

  void PullCmd(const std::string& rest, const Block& b) {
    auto [name, args] = Word(rest);
    REQUIRE(conns_.count(name));
    auto forms = edn::ReadAll(args);
    REQUIRE(forms.ok());
    REQUIRE(forms->size() == 2);
    auto entity = edn::ToValue((*forms)[0]);
    REQUIRE(entity.ok());
    CheckResult(Pull(conns_[name]->db(), (*forms)[1], *entity), b);
  }

  std::string file_;
  std::map<std::string, std::shared_ptr<Connection>> conns_;
  std::map<std::string, edn::Node> defs_;  // `def` data, used as #def NAME
  std::string last_;
};

TEST_CASE("golden query files", "[query][golden]") {
  fs::path dir = fs::path(DATALITH_SOURCE_DIR) / "tests" / "golden" / "query";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".test") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());
  for (const fs::path& f : files) {
    SECTION(f.filename().string()) {
      Runner runner(f.filename().string());
      for (const Block& b : ReadBlocks(f.string())) runner.Run(b);
    }
  }
}

}  // namespace
}  // namespace datalith
