// Property test of the transactor and the time views: random transactions against a
// simple model of current values and of the event log. Checks the current db after
// every tx, then db.AsOf(t) for every past t and db.History(), before and after a
// reopen of the (periodically flushed) memory store.
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "datalith/db.h"

namespace datalith {
namespace {

using Fact = std::tuple<EntityId, EntityId, int64_t, EntityId, bool>;  // e a v tx added

struct Model {
  // (e, a) → value → tx of its assertion.
  std::map<std::pair<EntityId, EntityId>, std::map<int64_t, EntityId>> cur;
  std::set<Fact> Snapshot() const {
    std::set<Fact> s;
    for (const auto& [ea, vals] : cur)
      for (const auto& [v, tx] : vals) s.insert({ea.first, ea.second, v, tx, true});
    return s;
  }
};

std::set<Fact> Facts(const Db& db, const std::vector<EntityId>& attrs) {
  std::set<Fact> s;
  for (EntityId a : attrs) {
    auto ds = db.Datoms(IndexType::kAevt, {Value::Ref(a)});
    REQUIRE(ds.ok());
    for (const Datom& d : *ds) s.insert({d.e, d.a, d.v.long_value(), d.tx, d.added});
  }
  return s;
}

std::string Show(const std::set<Fact>& s) {
  std::ostringstream o;
  for (const auto& [e, a, v, tx, added] : s)
    o << "[" << e << " " << a << " " << v << " t" << (tx - kTx0) << " " << added << "]\n";
  return o.str();
}

TEST_CASE("random transactions match a model, through asOf, history and reopen", "[tx]") {
  auto store = MakeMemoryStore();
  CreateOptions co;
  co.max_pending_tx = 1000;
  auto conn = *Connection::Create(store, co);
  auto schema = conn->Transact(
      "[{:db/ident :p/one :db/valueType :db.type/long}"
      " {:db/ident :p/many :db/valueType :db.type/long :db/cardinality :db.cardinality/many}"
      " {:db/ident :p/uniq :db/valueType :db.type/long :db/unique :db.unique/identity}]");
  REQUIRE(schema.ok());
  Db db0 = conn->db();
  const EntityId one = *db0.AttrId("p/one"), many = *db0.AttrId("p/many"), uniq = *db0.AttrId("p/uniq");
  const std::vector<EntityId> attrs{one, many, uniq};

  std::vector<EntityId> ents;
  {
    auto r = conn->Transact("[[:db/add \"a\" :p/one 0] [:db/add \"b\" :p/one 0] [:db/add \"c\" :p/one 0]"
                            " [:db/add \"d\" :p/one 0] [:db/add \"e\" :p/one 0] [:db/add \"f\" :p/one 0]]");
    REQUIRE(r.ok());
    for (const auto& [name, id] : r->tempids)
      if (name != "datomic.tx") ents.push_back(id);
  }
  Model model;
  std::set<Fact> log;  // every event
  for (EntityId e : ents) {
    model.cur[{e, one}][0] = conn->db().basis_tx();
    log.insert({e, one, 0, conn->db().basis_tx(), true});
  }
  std::map<EntityId, std::set<Fact>> snapshots;  // tx → model after it
  snapshots[conn->db().basis_tx()] = model.Snapshot();

  std::mt19937 rng(20240611);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const int kTxs = 300;
  int failures = 0;
  for (int i = 0; i < kTxs; ++i) {
    // 1-4 operations on distinct (e, a) pairs.
    std::string tx = "[";
    Model next = model;
    std::vector<Fact> events;
    std::set<std::pair<EntityId, EntityId>> used;
    EntityId t = conn->db().basis_tx() + 1;
    int nops = 1 + pick(4);
    for (int k = 0; k < nops; ++k) {
      EntityId e = ents[pick(static_cast<int>(ents.size()))];
      EntityId a = attrs[pick(3)];
      if (!used.insert({e, a}).second) continue;
      const char* an = a == one ? ":p/one" : a == many ? ":p/many" : ":p/uniq";
      auto& vals = next.cur[{e, a}];
      int64_t v = pick(5);
      int kind = pick(10);
      std::string es = std::to_string(e);
      if (kind < 5) {  // add
        tx += "[:db/add " + es + " " + an + " " + std::to_string(v) + "]";
        if (vals.count(v)) continue;
        if (a != many) {
          for (const auto& [old, otx] : vals) events.push_back({e, a, old, t, false});
          vals.clear();
        }
        vals[v] = t;
        events.push_back({e, a, v, t, true});
      } else if (kind < 8) {  // retract a value (often a current one)
        if (!vals.empty() && pick(3)) v = std::next(vals.begin(), pick(static_cast<int>(vals.size())))->first;
        tx += "[:db/retract " + es + " " + an + " " + std::to_string(v) + "]";
        if (vals.erase(v)) events.push_back({e, a, v, t, false});
      } else {  // retract the attribute
        tx += kind == 8 ? "[:db/retract " + es + " " + an + "]" : "[:db.fn/retractAttribute " + es + " " + an + "]";
        for (const auto& [old, otx] : vals) events.push_back({e, a, old, t, false});
        vals.clear();
      }
    }
    tx += "]";
    // A unique value held by two entities afterwards: the tx must fail as a whole.
    std::map<int64_t, int> holders;
    bool conflict = false;
    for (const auto& [ea, vals] : next.cur)
      if (ea.second == uniq)
        for (const auto& [v, _] : vals) conflict = conflict || ++holders[v] > 1;
    INFO("tx " << i << ": " << tx);
    auto r = conn->Transact(tx);
    if (conflict) {
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == Code::kConflict);
      CHECK(conn->db().basis_tx() == t - 1);
      ++failures;
    } else {
      REQUIRE(r.ok());
      REQUIRE(r->tx == t);
      // tx-data is exactly the events (plus the tx instant).
      std::set<Fact> txdata;
      for (const Datom& d : r->tx_data)
        if (d.a != sys::kTxInstant) txdata.insert({d.e, d.a, d.v.long_value(), d.tx, d.added});
      CHECK(txdata == std::set<Fact>(events.begin(), events.end()));
      model = next;
      log.insert(events.begin(), events.end());
      snapshots[t] = model.Snapshot();
    }
    std::set<Fact> now = Facts(conn->db(), attrs);
    if (now != model.Snapshot()) FAIL("db:\n" << Show(now) << "model:\n" << Show(model.Snapshot()));
    if (i % 25 == 24) REQUIRE(conn->Flush().ok());
  }
  CHECK(failures > 0);  // the unique conflicts were exercised
  CHECK(failures < kTxs / 2);

  auto check_all = [&](const Db& db) {
    for (const auto& [t, snap] : snapshots) {
      std::set<Fact> got = Facts(db.AsOf(t), attrs);
      if (got != snap) FAIL("asOf t" << (t - kTx0) << ":\n" << Show(got) << "model:\n" << Show(snap));
      // asOf by t count agrees with asOf by tx id.
      CHECK(Facts(db.AsOf(t - kTx0), attrs) == snap);
      // History as of t: the events up to t.
      std::set<Fact> upto;
      for (const Fact& f : log)
        if (std::get<3>(f) <= t) upto.insert(f);
      CHECK(Facts(db.History().AsOf(t), attrs) == upto);
    }
    std::set<Fact> hist = Facts(db.History(), attrs);
    if (hist != log) FAIL("history:\n" << Show(hist) << "model:\n" << Show(log));
    // since t: the current datoms asserted after t.
    EntityId mid = kTx0 + kTxs / 2;
    std::set<Fact> since;
    for (const Fact& f : snapshots.rbegin()->second)
      if (std::get<3>(f) > mid) since.insert(f);
    CHECK(Facts(db.Since(mid), attrs) == since);
    // The other indices agree with AEVT.
    for (IndexType ix : {IndexType::kEavt, IndexType::kAvet}) {
      auto ds = db.Datoms(ix, {});
      REQUIRE(ds.ok());
      std::set<Fact> s;
      for (const Datom& d : *ds)
        if (d.a == one || d.a == many || d.a == uniq) s.insert({d.e, d.a, d.v.long_value(), d.tx, d.added});
      CHECK(s == snapshots.rbegin()->second);
    }
  };
  check_all(conn->db());
  REQUIRE(conn->Flush().ok());
  conn.reset();
  auto reopened = Connection::Open(store);
  REQUIRE(reopened.ok());
  check_all((*reopened)->db());
}

}  // namespace
}  // namespace datalith
