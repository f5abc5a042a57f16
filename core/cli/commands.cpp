// The commands that create, change and read databases (export/import: export.cpp).
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "datalith/query.h"

namespace datalith::cli {
namespace {

using edn::Kind;
using edn::Node;

Node Count(uint64_t n) { return Node::Long(static_cast<int64_t>(n)); }

// One EDN value given on the command line; errors name `what`.
Result<Value> ValueArg(const std::string& text, const std::string& what) {
  auto node = edn::ReadOne(text);
  if (!node.ok()) return node.status().WithContext(what);
  auto v = edn::ToValue(*node);
  if (!v.ok()) return v.status().WithContext(what);
  return v;
}

Node DatomNode(const Db& db, const Datom& d) {
  const std::string* ident = db.schema().Ident(d.a);
  return Vec({Count(d.e), ident ? Node::Keyword(*ident) : Count(d.a), edn::FromValue(d.v), Count(d.tx),
              Node::Bool(d.added)});
}

Node IndexCounts(const uint64_t (&counts)[kIndexCount]) {
  std::vector<std::pair<std::string, Node>> m;
  for (int i = 0; i < kIndexCount; ++i) m.emplace_back(IndexName(static_cast<IndexType>(i)), Count(counts[i]));
  return Map(std::move(m));
}

}  // namespace

Result<std::shared_ptr<Connection>> CreateDb(const Args& a, const std::string& dir) {
  CreateOptions o;
  o.schema_flexibility = a.Get("schema") == "read" ? SchemaFlexibility::kRead : SchemaFlexibility::kWrite;
  o.keep_history = !a.Has("no-history");
  DL_ASSIGN_OR_RETURN(auto store, OpenLocation(dir, true));
  DL_ASSIGN_OR_RETURN(bool exists, Connection::Exists(*store));
  if (exists) return Status::Conflict("a database already exists at " + dir);
  DL_ASSIGN_OR_RETURN(auto conn, Connection::Create(store, o));
  DL_RETURN_IF_ERROR(conn->Flush());
  return conn;
}

int CmdCreate(const Args& a) {
  auto conn = CreateDb(a, a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  Print(a, Map({{"created", Node::String(a.pos[0])},
                {"schema", Node::Keyword(a.Get("schema").value_or("write"))},
                {"history", Node::Bool(!a.Has("no-history"))}}));
  return kOk;
}

Result<std::vector<Node>> ReadForms(const std::string& path) {
  DL_ASSIGN_OR_RETURN(std::string text, ReadInput(path));
  auto forms = edn::ReadAll(text);
  if (!forms.ok()) return forms.status().WithContext(InputName(path));
  if (forms->empty()) return Status::Invalid(InputName(path) + ": no transaction data");
  return forms;
}

int TransactForms(const Args& a, Connection& conn, const std::vector<Node>& forms,
                  const std::string& source) {
  TxOptions options;
  options.client_id = a.Get("client");
  // One id names one transaction: several forms would all be duplicates of the first.
  if (options.client_id && forms.size() > 1)
    return Fail(Status::Invalid(source + ": --client takes one transaction, the input holds " +
                                std::to_string(forms.size())));
  int code = kOk;
  for (size_t i = 0; i < forms.size(); ++i) {
    auto r = conn.Transact(forms[i], options);
    if (!r.ok()) {
      std::string where = forms.size() > 1 ? " (transaction " + std::to_string(i + 1) + ")" : "";
      code = Fail(r.status().WithContext(source + where));
      break;
    }
    std::vector<Node> tempids;
    for (const auto& [name, id] : r->tempids) {
      tempids.push_back(Node::String(name));
      tempids.push_back(Count(id));
    }
    std::vector<std::pair<std::string, Node>> report = {
        {"tx", Count(r->tx)},
        {"tempids", Node::Coll(Kind::kMap, std::move(tempids))},
        {"datoms", Count(r->tx_data.size())}};
    if (r->duplicate) report.emplace_back("duplicate", Node::Bool(true));
    Print(a, Map(std::move(report)));
  }
  Status flushed = conn.Flush();  // what succeeded stays committed
  return flushed.ok() ? code : Fail(flushed);
}

int CmdTransact(const Args& a) {
  auto conn = OpenDb(a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  std::string path = a.pos.size() > 1 ? a.pos[1] : "-";
  auto forms = ReadForms(path);
  if (!forms.ok()) return Fail(forms.status());
  return TransactForms(a, **conn, *forms, InputName(path));
}

int CmdQuery(const Args& a) {
  if (a.Has("file") == !a.pos.empty())
    return Usage(a, a.pos.empty() ? "missing QUERY (or --file FILE)" : "give QUERY or --file, not both");
  std::string query = a.pos.empty() ? "" : a.pos[0];
  std::vector<std::shared_ptr<Connection>> conns;  // alive while the query runs
  std::vector<QueryInput> inputs;
  for (const auto& [flag, value] : a.opts) {
    if (flag == "file") {
      auto text = ReadInput(value);
      if (!text.ok()) return Fail(text.status());
      query = *text;
    } else if (flag == "db") {
      auto conn = OpenDb(value);
      if (!conn.ok()) return Fail(conn.status());
      conns.push_back(*conn);
      inputs.push_back(QueryInput::Database(conns.back()->db()));
    } else if (IsViewFlag(flag)) {
      if (inputs.empty() || inputs.back().kind != QueryInput::Kind::kDatabase)
        return Usage(a, "--" + flag + " must follow a --db");
      auto view = ApplyView(inputs.back().db, flag, value);
      if (!view.ok()) return Fail(view.status());
      inputs.back().db = *view;
    } else if (flag == "arg" || flag == "rules") {
      auto text = flag == "arg" ? Result<std::string>(value) : ReadInput(value);
      if (!text.ok()) return Fail(text.status());
      auto in = QueryInput::Edn(*text);
      std::string what = flag == "arg" ? "input " + std::to_string(inputs.size() + 1) + " (--arg)" : value;
      if (!in.ok()) return Fail(in.status().WithContext(what));
      inputs.push_back(*in);
    }
  }
  if (a.Has("explain")) {
    auto plan = Explain(query, inputs);
    if (!plan.ok()) return Fail(plan.status().WithContext("query"));
    if (a.json) Print(a, Node::String(*plan));
    else std::fputs((*plan + (plan->empty() || plan->back() != '\n' ? "\n" : "")).c_str(), stdout);
    return kOk;
  }
  auto result = Q(query, inputs);
  if (!result.ok()) return Fail(result.status().WithContext("query"));
  Print(a, *result);
  return kOk;
}

int CmdPull(const Args& a) {
  std::shared_ptr<Connection> conn;
  auto db = OpenView(a, a.pos[0], &conn);
  if (!db.ok()) return Fail(db.status());
  auto entity = ValueArg(a.pos[1], "entity");
  if (!entity.ok()) return Fail(entity.status());
  auto r = Pull(*db, a.pos[2], *entity);
  if (!r.ok()) return Fail(r.status());
  Print(a, *r);
  return kOk;
}

int CmdPullMany(const Args& a) {
  std::shared_ptr<Connection> conn;
  auto db = OpenView(a, a.pos[0], &conn);
  if (!db.ok()) return Fail(db.status());
  auto list = edn::ReadOne(a.pos[1]);
  if (!list.ok()) return Fail(list.status().WithContext("entities"));
  if (!list->is(Kind::kVector) && !list->is(Kind::kList))
    return Fail(Status::Invalid("entities: expected a vector of entity references"));
  std::vector<Value> entities;
  for (const Node& n : list->items) {
    auto v = edn::ToValue(n);
    if (!v.ok()) return Fail(v.status().WithContext("entities"));
    entities.push_back(*v);
  }
  auto r = PullMany(*db, a.pos[2], entities);
  if (!r.ok()) return Fail(r.status());
  Print(a, Vec(std::move(*r)));
  return kOk;
}

int CmdDatoms(const Args& a) {
  IndexType index;
  if (!ParseIndexName(a.pos[1], &index))
    return Usage(a, "unknown index '" + a.pos[1] + "' (eavt, aevt, avet or vaet)");
  std::vector<Value> components;
  for (size_t i = 2; i < a.pos.size(); ++i) {
    auto v = ValueArg(a.pos[i], "component " + std::to_string(i - 1));
    if (!v.ok()) return Fail(v.status());
    components.push_back(*v);
  }
  uint64_t limit = ParseCount(a.Get("limit").value_or("")).value_or(UINT64_MAX);
  std::shared_ptr<Connection> conn;
  auto db = OpenView(a, a.pos[0], &conn);
  if (!db.ok()) return Fail(db.status());
  auto it = db->DatomsIter(index, components);
  if (!it.ok()) return Fail(it.status());
  for (uint64_t n = 0; n < limit && it->Valid(); ++n, it->Next()) Print(a, DatomNode(*db, it->datom()));
  return it->status().ok() ? kOk : Fail(it->status());
}

int CmdStats(const Args& a) {
  auto conn = OpenDb(a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  Db db = (*conn)->db();
  auto stats = db.Stats();
  if (!stats.ok()) return Fail(stats.status());
  auto log = (*conn)->Log();
  if (!log.ok()) return Fail(log.status());
  Store& store = (*conn)->store();
  auto addrs = store.List();
  if (!addrs.ok()) return Fail(addrs.status());
  uint64_t bytes = 0;
  for (const Address& addr : *addrs) {
    auto blob = store.Get(addr);
    if (!blob.ok()) return Fail(blob.status().WithContext("blob " + addr.Hex()));
    bytes += blob->size();
  }
  uint64_t attrs = 0;
  for (const auto& [id, attr] : db.schema().attributes()) attrs += id >= kFirstUserEid;
  bool read = db.schema().flexibility() == SchemaFlexibility::kRead;
  Print(a, Map({{"datoms", IndexCounts(stats->datoms)},
                {"history-datoms", IndexCounts(stats->history_datoms)},
                {"attributes", Count(attrs)},
                {"schema", Node::Keyword(read ? "read" : "write")},
                {"max-eid", Count(stats->max_eid)},
                {"basis-tx", Count(db.basis_tx())},
                {"commits", Count(log->size())},
                {"nodes", Count(addrs->size())},
                {"bytes", Count(bytes)}}));
  return kOk;
}

int CmdLog(const Args& a) {
  auto conn = OpenDb(a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  auto log = (*conn)->Log(ParseCount(a.Get("limit").value_or("")).value_or(SIZE_MAX));
  if (!log.ok()) return Fail(log.status());
  for (const CommitInfo& c : *log) {
    Print(a, Map({{"commit", Node::String(c.address.Hex())},
                  {"parent", c.parent.IsZero() ? Node::Nil() : Node::String(c.parent.Hex())},
                  {"first-tx", Count(c.first_tx)},
                  {"last-tx", Count(c.last_tx)},
                  {"instant", Node::Inst(c.instant)},
                  {"datoms", Count(c.datoms)}}));
  }
  return kOk;
}

int CmdTxRange(const Args& a) {
  auto conn = OpenDb(a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  auto txs = (*conn)->TxRange(ParseCount(a.Get("from").value_or("")).value_or(0),
                              ParseCount(a.Get("to").value_or("")).value_or(0));
  if (!txs.ok()) return Fail(txs.status());
  const Db db = (*conn)->db();
  for (const LogEntry& t : *txs) {
    std::vector<Node> data;
    for (const Datom& d : t.datoms) data.push_back(DatomNode(db, d));
    Print(a, Map({{"tx", Count(t.tx)}, {"data", Node::Coll(edn::Kind::kVector, std::move(data))}}));
  }
  return kOk;
}

int CmdGc(const Args& a) {
  GcOptions o;
  o.keep_commits = ParseCount(a.Get("keep").value_or("1")).value_or(1);
  if (o.keep_commits == 0) return Usage(a, "--keep must be at least 1");
  auto conn = OpenDb(a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  auto gc = (*conn)->Gc(o);
  if (!gc.ok()) return Fail(gc.status());
  Print(a, Map({{"kept-commits", Count(o.keep_commits)},
                {"marked", Count(gc->marked)},
                {"deleted", Count(gc->deleted)}}));
  return kOk;
}

}  // namespace datalith::cli
