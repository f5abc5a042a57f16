// Core write-side benchmark: DataScript's "people" workload on Datalith's native core.
// Also compiled to WebAssembly (wasm/CMakeLists.txt, datalith_wasm_bench_core; run under
// Node, bench/README.md): the same scenarios on the WASM core, without the file store.
//
// Prints one JSON object per scenario and backend (see bench/README.md); bench/run.sh
// runs DataScript on the same data and bench/compare.mjs prints the ratios.
//
//   datalith_bench_core --people people.json [--million people-1m.json] [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_util.h"

using namespace bench;

namespace {

struct Backend {
  std::string name;
  std::string dir;                  // file backend only
  std::string schema = kSchema;
  // false: the connection never flushes (no commits, no node encoding), as the npm
  // package's memory databases; the timed sections end without Flush.
  bool flush = true;
  std::shared_ptr<Store> Make() {
    if (dir.empty()) return MakeMemoryStore();
#ifdef __EMSCRIPTEN__
    std::cerr << "no file store in the WASM build\n";
    std::exit(2);
#else
    std::filesystem::remove_all(dir);
    return Check(OpenFileStore(dir, true), "open file store");
#endif
  }
};

// Ends a write: the flush that makes it durable (not for unflushed backends).
void Settle(Backend& b, const std::shared_ptr<Connection>& conn) {
  if (b.flush) Check(conn->Flush(), "flush");
}

std::shared_ptr<Connection> Fresh(Backend& b) {
  CreateOptions o;
  if (!b.flush) o.max_pending_tx = o.max_pending_bytes = SIZE_MAX;
  auto conn = Check(Connection::Create(b.Make(), o), "create");
  Check(conn->Transact(b.schema), "schema");
  Settle(b, conn);
  return conn;
}

// Datoms about entities (what DataScript counts): EAVT growth since the schema
// transaction, less one :db/txInstant per transaction.
uint64_t EntityDatoms(const std::shared_ptr<Connection>& conn, const Db& base) {
  Db db = conn->db();
  auto now = Check(db.Stats(), "stats").datoms[0];
  auto before = Check(base.Stats(), "stats").datoms[0];
  return now - before - (db.basis_tx() - base.basis_tx());
}

// One transaction of every entity map, then a flush: the bulk-load scenarios.
Sample BulkLoad(Backend& b, const edn::Node& tx) {
  auto conn = Fresh(b);
  Db base = conn->db();
  auto t0 = Clock::now();
  Check(conn->Transact(tx), "bulk");
  Settle(b, conn);
  auto t1 = Clock::now();
  if (!b.flush) return Sample{Ms(t0, t1), EntityDatoms(conn, base)};
  return Sample{Ms(t0, t1), EntityDatoms(conn, base),
                {{"nodes_written", conn->last_flush().nodes_written},
                 {"bytes_written", conn->last_flush().bytes_written}}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string people_path, million_path;
  int runs = 5;
  std::string only;  // run only scenarios whose name contains this
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--people" && i + 1 < argc) people_path = argv[++i];
    else if (a == "--million" && i + 1 < argc) million_path = argv[++i];
    else if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else {
      std::cerr << "usage: datalith_bench_core --people FILE [--million FILE] [--runs N] [--only NAME]\n";
      return 2;
    }
  }
  g_only = only;
  if (people_path.empty()) {
    std::cerr << "--people is required\n";
    return 2;
  }
  std::vector<Person> people = LoadPeople(people_path);
  std::vector<edn::Node> maps = PersonMaps(people);
  edn::Node all = Vec(maps);
  // The transactions of tx-one-entity, built before timing (as tx-one-datom's are).
  std::vector<edn::Node> one_entity_txs;
  for (const auto& m : maps) one_entity_txs.push_back(Vec({m}));
#ifdef __EMSCRIPTEN__
  std::vector<Backend> backends = {{"memory", ""}};
#else
  // Per process: concurrent benchmark runs must not wipe each other's store.
  std::string tmp = (std::filesystem::temp_directory_path() /
                     ("datalith-bench-" + std::to_string(getpid()))).string();
  std::vector<Backend> backends = {{"memory", ""}, {"file", tmp + "/store"}};
#endif
  // Memory again with every attribute `:db/index false`: the indices DataScript keeps.
  Backend no_avet{"memory, :db/index false", "", SchemaNoAvet()};
  // Memory without commits: the work of the npm package's memory databases, which
  // never flush (the native counterpart of bench/wasm-node.mjs's write rows).
  Backend unflushed{"memory, unflushed", ""};
  unflushed.flush = false;

  std::vector<Backend*> runs_on;
  for (Backend& b : backends) runs_on.push_back(&b);
  for (Backend* b : {&no_avet, &unflushed}) runs_on.push_back(b);
  for (Backend* bp : runs_on) {
    Backend& b = *bp;
    Run("bulk-load", b.name, runs, [&] { return BulkLoad(b, all); });
    Run("tx-one-entity", b.name, runs, [&] {
      auto conn = Fresh(b);
      Db base = conn->db();
      auto t0 = Clock::now();
      for (const auto& tx : one_entity_txs) Check(conn->Transact(tx), "tx");
      Settle(b, conn);
      auto t1 = Clock::now();
      return Sample{Ms(t0, t1), EntityDatoms(conn, base)};
    });
    if (bp == &no_avet || bp == &unflushed) continue;
    Run("tx-one-datom", b.name, runs, [&] {
      auto conn = Fresh(b);
      Db base = conn->db();
      auto report = Check(conn->Transact(all), "bulk");
      Check(conn->Flush(), "flush");
      std::vector<int64_t> eids;
      for (const auto& p : people) eids.push_back(static_cast<int64_t>(report.tempids.at(p.id)));
      std::vector<edn::Node> txs;
      for (int i = 0; i < 100000; ++i) {
        txs.push_back(Vec({Vec({Kw("db/add"), edn::Node::Long(eids[i % eids.size()]), Kw("age"),
                                edn::Node::Long(100 + i)})}));
      }
      auto t0 = Clock::now();
      for (const auto& tx : txs) Check(conn->Transact(tx), "tx");
      Check(conn->Flush(), "flush");
      auto t1 = Clock::now();
      return Sample{Ms(t0, t1), EntityDatoms(conn, base)};
    });
  }

#ifndef __EMSCRIPTEN__  // the million-datom scenarios run on the file store
  if (!million_path.empty()) {
    std::vector<Person> million = LoadPeople(million_path);
    edn::Node mall = Vec(PersonMaps(million));
    for (Backend& b : backends) {
      Run("bulk-load-1m", b.name, std::max(1, runs / 2), [&] { return BulkLoad(b, mall); });
    }
    // The 1M-datom database on the file backend, for the small-write and cold-open
    // figures.
    Backend& file = backends[1];
    {
      auto conn = Fresh(file);
      auto report = Check(conn->Transact(mall), "bulk 1m");
      Check(conn->Flush(), "flush");
      int64_t e1 = static_cast<int64_t>(report.tempids.at(million[10].id));
      int64_t e2 = static_cast<int64_t>(report.tempids.at(million[50000].id));
      int n = 0;
      Run("tx-10-datoms-on-1m", "file", runs, [&] {
        ++n;
        // A new person (6 attributes + 2 aliases) and two age changes: 10 assertions.
        std::string tx = "[{:name \"New\" :last-name \"Person\" :full-name \"New Person\" "
                         ":sex \"female\" :age 30 :salary " + std::to_string(1000 + n) +
                         " :alias [\"n" + std::to_string(n) + "\" \"m" + std::to_string(n) + "\"]}"
                         " [:db/add " + std::to_string(e1) + " :age " + std::to_string(200 + n) + "]"
                         " [:db/add " + std::to_string(e2) + " :age " + std::to_string(300 + n) + "]]";
        auto t0 = Clock::now();
        auto r = Check(conn->Transact(tx), "tx10");
        Check(conn->Flush(), "flush");
        auto t1 = Clock::now();
        uint64_t asserted = 0;
        for (const auto& d : r.tx_data) asserted += d.added && d.e != r.tx;
        return Sample{Ms(t0, t1), asserted,
                      {{"nodes_written", conn->last_flush().nodes_written},
                       {"bytes_written", conn->last_flush().bytes_written}}};
      });
    }
    Run("open-cold-1m", "file", runs, [&] {
      auto t0 = Clock::now();
      auto store = Check(OpenFileStore(file.dir, false), "open store");
      auto conn = Check(Connection::Open(store), "open");
      auto t1 = Clock::now();
      Db db = conn->db();
      // First point query: one entity's datoms by id.
      auto ds = Check(db.Datoms(IndexType::kEavt, {Value::Ref(kFirstUserEid + 500)}), "query");
      auto t2 = Clock::now();
      return Sample{Ms(t0, t1), ds.size(),
                    {{"first_query_ms", Ms(t1, t2)}, {"nodes_read", conn->cache_stats().loads}}};
    });
  }
  std::filesystem::remove_all(tmp);
#endif
  return 0;
}
