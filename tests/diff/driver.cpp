// Datalith side of the differential test against DataScript (tests/diff/README.md).
//
//   datalith_difftest CASES.json
//
// CASES.json: {"schema": EDN tx, "data": EDN tx,
//              "queries": [{"q": query text, "in": [input, ...]}, ...]}
// Each input is "$" (the database) or EDN text; inside it `#tempid "e3"` stands for the
// entity id that the data transaction gave tempid "e3".
//
// Prints `TEMPIDS {"e1": 1005, ...}`, then one line per query: the result as JSON
// (sets and vectors as arrays, keywords as ":kw" strings, nil as null) or
// `ERROR <message>`.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "datalith/query.h"

using namespace datalith;
using json = nlohmann::json;

namespace {

json ToJson(const edn::Node& n) {
  switch (n.kind) {
    case edn::Kind::kNil: return nullptr;
    case edn::Kind::kBool: return n.b;
    case edn::Kind::kLong: return n.i;
    case edn::Kind::kDouble: return n.d;
    case edn::Kind::kString: return n.text;
    case edn::Kind::kKeyword: return ":" + n.text;
    case edn::Kind::kList:
    case edn::Kind::kVector:
    case edn::Kind::kSet: {
      json a = json::array();
      for (const edn::Node& item : n.items) a.push_back(ToJson(item));
      return a;
    }
    case edn::Kind::kMap: {
      json o = json::object();
      for (size_t i = 0; i + 1 < n.items.size(); i += 2) {
        const edn::Node& k = n.items[i];
        o[k.is(edn::Kind::kString) ? k.text : edn::Write(k)] = ToJson(n.items[i + 1]);
      }
      return o;
    }
    default: return edn::Write(n);  // symbols, big numbers, chars, tags: as EDN text
  }
}

// Replaces `#tempid "name"` by the entity id; false if a name is unknown.
bool ResolveTempids(edn::Node* n, const std::map<std::string, EntityId>& tempids) {
  if (n->is(edn::Kind::kTagged) && n->text == "tempid") {
    auto it = tempids.find(n->items.empty() ? "" : n->items[0].text);
    if (it == tempids.end()) return false;
    *n = edn::Node::Long(static_cast<int64_t>(it->second));
    return true;
  }
  for (edn::Node& item : n->items)
    if (!ResolveTempids(&item, tempids)) return false;
  return true;
}

std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: datalith_difftest CASES.json\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "cannot read " << argv[1] << "\n";
    return 2;
  }
  json cases = json::parse(in);

  auto conn = Connection::Create(MakeMemoryStore());
  if (!conn.ok()) {
    std::cerr << "create: " << conn.status().ToString() << "\n";
    return 1;
  }
  std::map<std::string, EntityId> tempids;
  for (const char* key : {"schema", "data"}) {
    auto report = (*conn)->Transact(cases[key].get<std::string>());
    if (!report.ok()) {
      std::cerr << key << ": " << report.status().ToString() << "\n";
      return 1;
    }
    if (std::string(key) == "data") {
      json ids = json::object();
      for (const auto& [name, id] : report->tempids) ids[name] = id;
      std::cout << "TEMPIDS " << ids.dump() << "\n";
      tempids = report->tempids;
    }
  }
  Db db = (*conn)->db();

  for (const json& c : cases["queries"]) {
    std::vector<QueryInput> inputs;
    std::string error;
    for (const json& arg : c["in"]) {
      std::string text = arg.get<std::string>();
      if (text == "$") {
        inputs.push_back(QueryInput::Database(db));
        continue;
      }
      auto node = edn::ReadOne(text);
      if (!node.ok()) {
        error = "input: " + node.status().message();
        break;
      }
      if (!ResolveTempids(&*node, tempids)) {
        error = "input: unknown #tempid in " + text;
        break;
      }
      inputs.push_back(QueryInput::Data(*node));
    }
    if (error.empty()) {
      auto r = Q(c["q"].get<std::string>(), inputs);
      if (r.ok()) {
        std::cout << ToJson(*r).dump() << "\n";
        continue;
      }
      error = r.status().message();
    }
    std::cout << "ERROR " << OneLine(error) << "\n";
  }
  return 0;
}
