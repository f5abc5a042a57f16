// The live index (index/live.h): a tree merged with the edits of recent transactions
// reads exactly like the tree with those edits applied, at every snapshot, and a
// database whose trees carry live indices answers like the same database folded.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "datalith/db.h"
#include "datalith/query.h"
#include "db/db_state.h"
#include "index/live.h"

namespace datalith {
namespace {

using index::Child;
using index::KeyEdit;
using index::Live;
using index::LiveIterator;

std::string Key(int k) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%06d", k);
  return buf;
}

std::vector<std::string> Walk(index::NodeSource& src, const Child& root,
                              const std::shared_ptr<const Live>& live) {
  std::vector<std::string> out;
  LiveIterator it(&src, root, live);
  for (it.Seek(""); it.Valid(); it.Next()) out.emplace_back(it.key());
  REQUIRE(it.status().ok());
  return out;
}

TEST_CASE("live index: a tree with its live runs reads as the tree with the edits applied", "[index]") {
  index::NodeSource src(MakeMemoryStore(), 1 << 20);
  std::mt19937 rng(7);
  // A tree of the even keys, then rounds of edits (each an insert of an absent key or a
  // removal of a present one, as the transactor makes them) appended to a live index.
  std::set<std::string> model;
  std::vector<index::Edit> initial;
  for (int k = 0; k < 2000; k += 2) {
    initial.push_back({Key(k), true});
    model.insert(Key(k));
  }
  Child root = *index::Apply(src, Child(), initial);
  std::shared_ptr<const Live> live;
  struct Snapshot {
    std::shared_ptr<const Live> live;
    std::set<std::string> keys;
  };
  std::vector<Snapshot> snapshots;
  for (int round = 0; round < 300; ++round) {
    std::map<std::string, bool> edits;
    int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      std::string k = Key(static_cast<int>(rng() % 2200));
      if (edits.count(k)) continue;
      edits[k] = !model.count(k);
    }
    std::vector<KeyEdit> batch;
    for (const auto& [k, insert] : edits) {
      batch.push_back({k, insert});
      if (insert) model.insert(k);
      else model.erase(k);
    }
    live = Live::Append(live.get(), batch.data(), batch.data() + batch.size());
    if (round % 10 == 0) snapshots.push_back({live, model});
    // Runs stay logarithmic in the entries (live.h: going Live::kMergeWays runs back
    // from the newest at least doubles the entries).
    CHECK(live->runs().size() <= Live::kMergeWays * (1 + static_cast<size_t>(std::log2(live->size() + 1))));
    CHECK(static_cast<int64_t>(root.count) + live->delta() == static_cast<int64_t>(model.size()));
  }
  REQUIRE(Walk(src, root, live) == std::vector<std::string>(model.begin(), model.end()));
  // Each snapshot still reads what it held when it was taken.
  for (const Snapshot& s : snapshots)
    CHECK(Walk(src, root, s.live) == std::vector<std::string>(s.keys.begin(), s.keys.end()));

  // Range counts, Seek and SeekForward agree with the model.
  for (int i = 0; i < 200; ++i) {
    int a = static_cast<int>(rng() % 2300), b = a + static_cast<int>(rng() % 400);
    std::string lo = Key(a), hi = Key(b);
    auto first = model.lower_bound(lo);
    int64_t want = std::distance(first, model.lower_bound(hi));
    auto tree_count = index::CountRange(src, root, lo, hi);
    REQUIRE(tree_count.ok());
    CHECK(static_cast<int64_t>(*tree_count) + live->DeltaIn(lo, hi) == want);
    LiveIterator it(&src, root, live);
    it.Seek(lo);
    if (first == model.end()) {
      CHECK_FALSE(it.Valid());
      continue;
    }
    REQUIRE(it.Valid());
    CHECK(it.key() == *first);
    it.SeekForward(hi);
    auto after = model.lower_bound(std::max(hi, *first));
    CHECK(it.Valid() == (after != model.end()));
    if (after != model.end()) CHECK(it.key() == *after);
  }

  // Folding gives the tree of the model; the old root is unchanged.
  std::vector<std::string> before = Walk(src, root, nullptr);
  auto folded = index::Fold(src, root, *live);
  REQUIRE(folded.ok());
  CHECK(folded->count == model.size());
  CHECK(Walk(src, *folded, nullptr) == std::vector<std::string>(model.begin(), model.end()));
  CHECK(Walk(src, root, nullptr) == before);
}

// Every datom of every index, in the current view and in history.
std::vector<std::string> Everything(const Db& db) {
  std::vector<std::string> out;
  for (const Db& view : {db, db.History()}) {
    for (int i = 0; i < kIndexCount; ++i) {
      auto ds = view.Datoms(static_cast<IndexType>(i), {});
      REQUIRE(ds.ok());
      for (const Datom& d : *ds) out.push_back(std::to_string(i) + db.DatomString(d));
    }
  }
  return out;
}

// The same state read through its live runs: reads of a state with many live entries
// go to its folded twin (internal::Readable), so the copy claims none.
Db Merged(const Db& db) {
  auto s = std::make_shared<internal::DbState>(*db.state());
  REQUIRE(internal::HasLive(*s));
  s->live_entries = 0;
  return Db(s);
}

Db Folded(const Db& db) {
  auto s = std::make_shared<internal::DbState>(*db.state());
  REQUIRE(internal::FoldLive(s.get()).ok());
  REQUIRE_FALSE(internal::HasLive(*s));
  return Db(s);
}

TEST_CASE("live index: a database with live edits answers as the same database folded", "[index][tx]") {
  // Never flushed by itself: only the live index's own rules fold it.
  CreateOptions co;
  co.max_pending_tx = size_t{1} << 30;
  co.max_pending_bytes = SIZE_MAX;
  auto conn = *Connection::Create(MakeMemoryStore(), co);
  REQUIRE(conn->Transact("[{:db/ident :p/name :db/valueType :db.type/string :db/unique :db.unique/identity}"
                         " {:db/ident :p/age :db/valueType :db.type/long}"
                         " {:db/ident :p/tag :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}"
                         " {:db/ident :p/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]")
              .ok());
  std::mt19937 rng(11);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  std::vector<Db> snapshots;
  bool saw_live = false, saw_fold = false;
  size_t last_live = 0;
  // Enough one-entity writes that the live indices fold several times on their own,
  // with updates, retractions and refs between.
  for (int i = 0; i < 1500; ++i) {
    std::string p = "[:p/name \"p" + std::to_string(pick(400)) + "\"]";
    std::string tx;
    switch (pick(4)) {
      case 0:
        tx = "[{:p/name \"p" + std::to_string(pick(400)) + "\" :p/age " + std::to_string(pick(90)) +
             " :p/tag [:t" + std::to_string(pick(5)) + " :t" + std::to_string(pick(5)) + "]}]";
        break;
      case 1:
        tx = "[{:p/name \"p" + std::to_string(i % 400) + "\" :p/age " + std::to_string(pick(90)) + "}]";
        break;
      case 2:
        tx = "[[:db/retract " + p + " :p/tag :t" + std::to_string(pick(5)) + "]" +
             " [:db/add \"x\" :p/name \"p" + std::to_string(400 + i) + "\"] [:db/add \"x\" :p/friend " + p + "]]";
        break;
      default:
        tx = "[[:db/retractEntity [:p/name \"p" + std::to_string(400 + pick(i + 1)) + "\"]]]";
    }
    auto r = conn->Transact(tx);
    if (!r.ok()) {
      INFO(tx);
      // A lookup ref to an entity not made yet (or retracted).
      REQUIRE(r.status().message().find("names no entity") != std::string::npos);
      continue;
    }
    size_t live = 0;
    for (const auto& l : conn->db().state()->current_live)
      if (l) live += l->size();
    saw_live = saw_live || live > 0;
    saw_fold = saw_fold || live < last_live;
    last_live = live;
    if (i % 100 == 0) snapshots.push_back(conn->db());
  }
  REQUIRE(saw_live);
  REQUIRE(saw_fold);
  snapshots.push_back(conn->db());
  for (const Db& snapshot : snapshots) {
    Db db = Merged(snapshot), folded = Folded(snapshot);
    CHECK(Everything(db) == Everything(folded));
    for (EntityId t : {db.basis_tx() - 30, db.basis_tx() - 3}) {
      std::vector<std::string> a, b;
      for (int i = 0; i < kIndexCount; ++i) {
        auto da = db.AsOf(t).Datoms(static_cast<IndexType>(i), {});
        auto db_ = folded.AsOf(t).Datoms(static_cast<IndexType>(i), {});
        REQUIRE(da.ok());
        REQUIRE(db_.ok());
        for (const Datom& d : *da) a.push_back(db.DatomString(d));
        for (const Datom& d : *db_) b.push_back(db.DatomString(d));
      }
      CHECK(a == b);
    }
    // Counts: whole trees, prefixes and ranges.
    auto sa = db.Stats(), sb = folded.Stats();
    for (int i = 0; i < kIndexCount; ++i) {
      CHECK(sa->datoms[i] == sb->datoms[i]);
      CHECK(sa->history_datoms[i] == sb->history_datoms[i]);
      CHECK(sa->datoms[i] == db.Datoms(static_cast<IndexType>(i), {})->size());
    }
    for (const char* attr : {"p/name", "p/age", "p/tag", "p/friend"}) {
      std::vector<Value> a{Value::Keyword(attr)};
      CHECK(*db.Count(IndexType::kAevt, a) == *folded.Count(IndexType::kAevt, a));
      CHECK(*db.Count(IndexType::kAevt, a) == db.Datoms(IndexType::kAevt, a)->size());
    }
    std::vector<Value> lo{Value::Keyword("p/age"), Value::Long(20)}, hi{Value::Keyword("p/age"), Value::Long(40)};
    CHECK(*db.CountRange(IndexType::kAvet, lo, hi) == *folded.CountRange(IndexType::kAvet, lo, hi));
    // A query that skip-scans and probes reads the live edits too.
    auto q = [](const Db& d) {
      return Q("[:find ?n ?a ?t :where [?e :p/age ?a] [(< ?a 30)] [?e :p/name ?n] [?e :p/tag ?t]]",
               {QueryInput::Database(d)});
    };
    CHECK(edn::Write(*q(db)) == edn::Write(*q(folded)));
  }
  // A read of a state with many live entries folds it once, into a twin that the next
  // transaction builds on.
  Db last = conn->db();
  REQUIRE(last.state()->live_entries >= internal::kReadFoldAt);
  REQUIRE_FALSE(last.state()->folded.state);
  CHECK(Everything(last) == Everything(Folded(last)));
  REQUIRE(last.state()->folded.state);
  CHECK_FALSE(internal::HasLive(*last.state()->folded.state));
  REQUIRE(conn->Transact("[{:p/name \"after\" :p/age 1}]").ok());
  CHECK(conn->db().state()->live_entries < 10);
  CHECK(edn::Write(*Q("[:find ?a . :where [?e :p/name \"after\"] [?e :p/age ?a]]",
                      {QueryInput::Database(conn->db())})) == "1");
  // Large values fill a live index by their bytes long before its entry count: 20
  // transactions of a 1 MB string each fold it at least once (16 MB of keys).
  bool folded_by_bytes = false;
  size_t before = conn->db().state()->live_entries;
  for (int i = 0; i < 20; ++i) {
    REQUIRE(conn->Transact("[{:p/name \"big" + std::to_string(i) + "\" :p/tag :t" + std::to_string(i) +
                           "} [:db/add \"x\" :p/name \"" + std::string(1 << 20, 'a' + i) + "\"]]")
                .ok());
    size_t now = conn->db().state()->live_entries;
    folded_by_bytes = folded_by_bytes || now < before;
    before = now;
  }
  CHECK(folded_by_bytes);
  for (const auto& l : conn->db().state()->current_live)
    if (l) CHECK(l->bytes() < index::Live::kFoldBytes);
  // A flush folds: the commit's trees hold everything and no live index is left.
  std::vector<std::string> all = Everything(conn->db());
  REQUIRE(conn->Flush().ok());
  CHECK_FALSE(internal::HasLive(*conn->db().state()));
  CHECK(Everything(conn->db()) == all);
}

}  // namespace
}  // namespace datalith
