// Connections (docs/wasm.md, "Raw tier contract"): create, open, transact, flush,
// refresh, the commit log.
#include <emscripten/bind.h>

#include "boundary.h"
#include "edn/json_tx.h"
#include "json_writer.h"

namespace datalith::wasm {
namespace {

using emscripten::val;

// The wasm heap is small next to a server's: a byte-bounded node cache per connection.
constexpr size_t kCacheBytes = size_t{64} << 20;

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
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(StoreEntry * s, stores.Lookup(store));
    auto o = ConnectionOptions<CreateOptions>(*s);
    if (!opts_json.empty()) {
      DL_ASSIGN_OR_RETURN(Json opts, ParseJson(opts_json, "connection options"));
      if (!opts.is_object()) return Status::Invalid("connection options must be a JSON object");
      Json flex = opts.value("schemaFlexibility", Json("write"));
      if (flex != "read" && flex != "write")
        return Status::Invalid("schemaFlexibility must be \"read\" or \"write\", got " + Describe(flex));
      o.schema_flexibility = flex == "read" ? SchemaFlexibility::kRead : SchemaFlexibility::kWrite;
      Json history = opts.value("keepHistory", Json(true));
      if (!history.is_boolean()) return Status::Invalid("keepHistory must be true or false");
      o.keep_history = history.get<bool>();
    }
    DL_ASSIGN_OR_RETURN(auto conn, Connection::Create(s->store, o));
    return std::to_string(conns.Add(std::move(conn)));
  });
}

std::string ConnOpen(int store) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(StoreEntry * s, stores.Lookup(store));
    DL_ASSIGN_OR_RETURN(auto conn, Connection::Open(s->store, ConnectionOptions<OpenOptions>(*s)));
    return std::to_string(conns.Add(std::move(conn)));
  });
}

#ifndef DATALITH_WASM_LOCAL  // replicas only
// A connection that never flushes by itself, on any store: a replica's optimistic view
// (its pending writes stay unflushed until connReset drops them).
std::string ConnOpenView(int store) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(StoreEntry * s, stores.Lookup(store));
    OpenOptions o = ConnectionOptions<OpenOptions>(*s);
    o.max_pending_tx = SIZE_MAX;
    o.max_pending_bytes = SIZE_MAX;
    DL_ASSIGN_OR_RETURN(auto conn, Connection::Open(s->store, o));
    return std::to_string(conns.Add(std::move(conn)));
  });
}
#endif

std::string ConnExists(int store) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(StoreEntry * s, stores.Lookup(store));
    DL_ASSIGN_OR_RETURN(bool exists, Connection::Exists(*s->store));
    return std::string(exists ? "true" : "false");
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
// connections do not flush by themselves either): nothing would read the commits, and
// every flushed version's blobs would stay in memory.
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

#ifndef DATALITH_WASM_LOCAL  // 2.6 KB: the local module takes EDN text only
// connApply for transaction data as JSON text (edn/json_tx.h: an array of entity maps,
// read without the EDN reader). Positions in its errors mean nothing: the JS tier sends
// a failed transaction again as EDN text, for the error that says where.
std::string ConnApplyJson(int conn, std::string tx_json) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_ASSIGN_OR_RETURN(edn::Node tx, edn::ReadJsonTx(tx_json));
    DL_ASSIGN_OR_RETURN(TxReport report, (*c)->Transact(tx));
    return ReportJson(report);
  });
}
#endif

// Makes the pending transactions one commit: {"commit": hex, "transactions", "nodes",
// "bytes"} (transactions 0 and the old commit when nothing was pending).
std::string ConnFlush(int conn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    FlushStats f{0, 0, 0, (*c)->head_commit()};
    if ((*c)->pending_tx() > 0) {
      DL_RETURN_IF_ERROR((*c)->Flush());
      f = (*c)->last_flush();
    }
    return "{\"commit\":\"" + f.commit.Hex() + "\",\"transactions\":" + std::to_string(f.transactions) +
           ",\"nodes\":" + std::to_string(f.nodes_written) + ",\"bytes\":" + std::to_string(f.bytes_written) + "}";
  });
}

// Re-reads the head (a replica whose head JS moved): true if the snapshot moved.
std::string ConnRefresh(int conn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_ASSIGN_OR_RETURN(bool moved, (*c)->Refresh());
    return std::string(moved ? "true" : "false");
  });
}

#ifndef DATALITH_WASM_LOCAL  // replicas only
// Drops the unflushed transactions and moves to the store's head (a replica's
// optimistic view, rebuilt over a new server snapshot).
std::string ConnReset(int conn) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_RETURN_IF_ERROR((*c)->Reset());
    return std::string("true");
  });
}
#endif

// The durable head commit (hex; "" before the first commit).
std::string ConnHead(int conn) {
  return Guard([&] {
    Address a = conns.Get(conn)->head_commit();
    return a.IsZero() ? std::string() : a.Hex();
  });
}

// Transactions of the log as [{"txId", "txData"}, ...] (idents from `db`).
std::string LogJson(const Db& db, const std::vector<LogEntry>& entries) {
  JsonOut out;
  out.put('[');
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out.put(',');
    out.put("{\"txId\":");
    AppendLong(static_cast<int64_t>(entries[i].tx), &out);
    out.put(",\"txData\":");
    AppendDatoms(db, entries[i].datoms, &out);
    out.put('}');
  }
  out.put(']');
  return out.Take();
}

// The transactions with start <= tx < end (0: unbounded), oldest first.
std::string ConnTxRange(int conn, double start, double end) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_ASSIGN_OR_RETURN(auto entries, (*c)->TxRange(static_cast<EntityId>(start), static_cast<EntityId>(end)));
    return LogJson((*c)->db(), entries);
  });
}

#ifndef DATALITH_WASM_LOCAL  // replicas only
// JSON [[hex, ...], ...] (per commit, its log segments) or [hex, ...].
Result<std::vector<std::vector<Address>>> SegmentLists(const std::string& json) {
  DL_ASSIGN_OR_RETURN(Json j, ParseJson(json, "log segments"));
  std::vector<std::vector<Address>> out;
  if (!j.is_array()) return Status::Invalid("log segments must be a JSON array");
  for (const Json& commit : j) {
    out.emplace_back();
    for (const Json& a : commit.is_array() ? commit : Json::array({commit})) {
      if (!a.is_string()) return Status::Invalid("a log segment address must be a hex string");
      DL_ASSIGN_OR_RETURN(Address addr, Address::FromHex(a.get<std::string>()));
      out.back().push_back(addr);
    }
  }
  return out;
}

// A replica: replays the logs of the commits after its head (segments in the store) and,
// if that rebuilds `want`, writes the nodes, the commit and the head `want` to the store
// (Corruption if not; nothing changes). The connection itself moves on connRefresh.
std::string ConnApplyLog(int conn, std::string want_hex, std::string segments_json) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_ASSIGN_OR_RETURN(Address want, Address::FromHex(want_hex));
    DL_ASSIGN_OR_RETURN(auto segments, SegmentLists(segments_json));
    // The connection moves only when JS has stored it all (connRefresh after persist).
    Db built = (*c)->db();
    DL_ASSIGN_OR_RETURN(auto entries, (*c)->ApplyLog(want, segments, /*adopt=*/false, &built));
    return LogJson(built, entries);
  });
}

// The transactions in log segments the store holds (a replica after a node update).
std::string ConnReadLog(int conn, std::string segments_json) {
  return RespondText([&]() -> Result<std::string> {
    DL_ASSIGN_OR_RETURN(auto* c, conns.Lookup(conn));
    DL_ASSIGN_OR_RETURN(auto lists, SegmentLists(segments_json));
    std::vector<Address> segments;
    for (const auto& l : lists) segments.insert(segments.end(), l.begin(), l.end());
    DL_ASSIGN_OR_RETURN(auto entries, (*c)->ReadLog(segments));
    return LogJson((*c)->db(), entries);
  });
}
#endif

int ConnDb(int conn) { return Guard([&] { return dbs.Add(conns.Get(conn)->db()); }); }

void ConnRelease(int conn) { conns.Release(conn); }

}  // namespace
}  // namespace datalith::wasm

EMSCRIPTEN_BINDINGS(datalith_connections) {
  using namespace datalith::wasm;
  using emscripten::function;
  function("connCreate", &ConnCreate);
  function("connOpen", &ConnOpen);
#ifndef DATALITH_WASM_LOCAL
  function("connOpenView", &ConnOpenView);
#endif
  function("connExists", &ConnExists);
  function("connTransact", &ConnTransact);
  function("connApply", &ConnApply);
#ifndef DATALITH_WASM_LOCAL
  function("connApplyJson", &ConnApplyJson);
#endif
  function("connFlush", &ConnFlush);
  function("connRefresh", &ConnRefresh);
#ifndef DATALITH_WASM_LOCAL
  function("connReset", &ConnReset);
#endif
  function("connHead", &ConnHead);
  function("connDb", &ConnDb);
  function("connTxRange", &ConnTxRange);
#ifndef DATALITH_WASM_LOCAL
  function("connApplyLog", &ConnApplyLog);
  function("connReadLog", &ConnReadLog);
#endif
  function("connRelease", &ConnRelease);
}
