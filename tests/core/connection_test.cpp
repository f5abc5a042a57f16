// Connections: commits, group commit, lazy open, followers, crash safety, GC.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "datalith/db.h"
#include "fault_injecting_store.h"
#include "flaky_put_store.h"

using namespace datalith;

namespace {

const char* kSchema = R"([{:db/ident :item/n :db/valueType :db.type/long :db/unique :db.unique/identity}
                          {:db/ident :item/tag :db/valueType :db.type/string}])";

std::string TempDir(const char* name) {
  auto dir = std::filesystem::temp_directory_path() /
             (std::string("datalith-") + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::string AddItem(int n) {
  return "[{:item/n " + std::to_string(n) + " :item/tag \"t" + std::to_string(n % 7) + "\"}]";
}

// Entity maps for items first..first+count-1 (with :item/tag if given), no brackets.
std::string Items(int first, int count, const std::string& tag = "") {
  std::string out;
  for (int n = first; n < first + count; ++n) {
    out += "{:item/n " + std::to_string(n) + (tag.empty() ? "" : " :item/tag \"" + tag + "\"") + "}";
  }
  return out;
}

// Every datom of the current EAVT but the wall-clock :db/txInstant, as text.
std::vector<std::string> Dump(const Db& db) {
  auto ds = db.Datoms(IndexType::kEavt, {});
  REQUIRE(ds.ok());
  std::vector<std::string> out;
  for (const auto& d : *ds) {
    if (d.a != sys::kTxInstant) out.push_back(db.DatomString(d));
  }
  return out;
}

// Creates a file-store database with the schema, then forks a process that reopens
// it and commits `txs(i)` for i = 0, 1, ... until `txs` returns an empty string
// (exit 0) or a write fails (exit 4). Returns the child's pid.
pid_t ForkWriter(const std::string& dir, const std::function<std::string(int)>& txs) {
  {
    auto c = *Connection::Create(*OpenFileStore(dir, true));
    REQUIRE(c->Transact(kSchema).ok());
  }
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto c = Connection::Open(*OpenFileStore(dir, false));
    if (!c.ok()) ::_exit(3);
    for (int i = 0;; ++i) {
      std::string tx = txs(i);
      if (tx.empty()) ::_exit(0);
      if (!(*c)->Transact(tx).ok() || !(*c)->Flush().ok()) ::_exit(4);
    }
  }
  return child;
}

uint64_t CountItems(const Db& db) {
  auto c = db.Count(IndexType::kAevt, {Value::Keyword("item/n")});
  REQUIRE(c.ok());
  return *c;
}

}  // namespace

TEST_CASE("create, open and exists", "[db]") {
  auto store = MakeMemoryStore();
  REQUIRE_FALSE(*Connection::Exists(*store));
  REQUIRE(Connection::Open(store).status().code() == Code::kNotFound);
  auto conn = Connection::Create(store);
  REQUIRE(conn.ok());
  REQUIRE(*Connection::Exists(*store));
  auto again = Connection::Create(store);
  REQUIRE(again.status().code() == Code::kConflict);
  REQUIRE((*conn)->Transact(kSchema).ok());
  REQUIRE((*conn)->Transact(AddItem(1)).ok());
  REQUIRE((*conn)->Flush().ok());
  auto other = Connection::Open(store);
  REQUIRE(other.ok());
  REQUIRE(Dump((*other)->db()) == Dump((*conn)->db()));
  REQUIRE((*other)->db().basis_tx() == (*conn)->db().basis_tx());
}

TEST_CASE("opening is lazy and a repeated read does no I/O", "[db]") {
  auto store = MakeMemoryStore();
  {
    auto conn = *Connection::Create(store);
    REQUIRE(conn->Transact(kSchema).ok());
    REQUIRE(conn->Transact("[" + Items(0, 20000) + "]").ok());
    REQUIRE(conn->Flush().ok());
  }
  auto conn = *Connection::Open(store);
  REQUIRE(conn->cache_stats().loads == 0);
  Db db = conn->db();
  auto e = db.Entid(Value::Tuple({Value::Keyword("item/n"), Value::Long(12345)}));
  REQUIRE(e.ok());
  auto first = conn->cache_stats().loads;
  REQUIRE(first > 0);
  REQUIRE(first <= 6);  // one root-to-leaf path of AVET
  auto ds = db.Datoms(IndexType::kEavt, {Value::Ref(*e)});
  REQUIRE(ds.ok());
  REQUIRE(ds->size() == 1);
  auto second = conn->cache_stats().loads;
  REQUIRE(db.Entid(Value::Tuple({Value::Keyword("item/n"), Value::Long(12345)})).ok());
  REQUIRE(db.Datoms(IndexType::kEavt, {Value::Ref(*e)}).ok());
  REQUIRE(conn->cache_stats().loads == second);
}

TEST_CASE("group commit writes pending transactions as one commit", "[db]") {
  auto store = MakeMemoryStore();
  CreateOptions o;
  o.max_pending_tx = 10;
  auto conn = *Connection::Create(store, o);
  REQUIRE(conn->Transact(kSchema).ok());
  for (int i = 0; i < 24; ++i) REQUIRE(conn->Transact(AddItem(i)).ok());
  // 25 transactions: two groups of 10 flushed by themselves, 5 pending.
  REQUIRE(conn->pending_tx() == 5);
  auto log = *conn->Log();
  REQUIRE(log.size() == 3);  // bootstrap + two groups
  REQUIRE(conn->Flush().ok());
  REQUIRE(conn->pending_tx() == 0);
  REQUIRE(conn->last_flush().transactions == 5);
  log = *conn->Log();
  REQUIRE(log.size() == 4);
  // Newest first; parents link the chain and the tx ranges are contiguous.
  for (size_t i = 0; i + 1 < log.size(); ++i) {
    REQUIRE(log[i].parent == log[i + 1].address);
    REQUIRE(log[i].first_tx == log[i + 1].last_tx + 1);
  }
  REQUIRE(log.back().parent.IsZero());
  REQUIRE(log.front().last_tx == conn->db().basis_tx());
  REQUIRE(log.front().instant >= log[1].instant);
  // Reopening sees every flushed transaction.
  auto other = *Connection::Open(store);
  REQUIRE(CountItems(other->db()) == 24);
}

TEST_CASE("a 10-datom transaction rewrites only the touched paths", "[db]") {
  auto store = MakeMemoryStore();
  auto conn = *Connection::Create(store);
  REQUIRE(conn->Transact(kSchema).ok());
  REQUIRE(conn->Transact("[" + Items(0, 50000, "x") + "]").ok());
  REQUIRE(conn->Flush().ok());
  auto blobs_before = store->List()->size();
  REQUIRE(conn->Transact("[{:item/n 100000 :item/tag \"a\"} {:item/n 100001 :item/tag \"b\"}"
                         " [:db/add [:item/n 5] :item/tag \"y\"] [:db/add [:item/n 40000] :item/tag \"z\"]]")
              .ok());
  REQUIRE(conn->Flush().ok());
  auto f = conn->last_flush();
  INFO("nodes " << f.nodes_written << " bytes " << f.bytes_written);
  REQUIRE(f.nodes_written < 60);
  REQUIRE(f.bytes_written < 200 * 1024);
  REQUIRE(store->List()->size() == blobs_before + f.nodes_written);
}

TEST_CASE("a follower in another store handle sees commits after Refresh", "[db]") {
  std::string dir = TempDir("follow");
  auto writer = *Connection::Create(*OpenFileStore(dir, true));
  REQUIRE(writer->Transact(kSchema).ok());
  REQUIRE(writer->Flush().ok());
  auto reader = *Connection::Open(*OpenFileStore(dir, false));
  REQUIRE(CountItems(reader->db()) == 0);
  REQUIRE(writer->Transact(AddItem(1)).ok());
  REQUIRE_FALSE(*reader->Refresh());  // not flushed yet
  REQUIRE(writer->Flush().ok());
  REQUIRE(*reader->Refresh());
  REQUIRE(CountItems(reader->db()) == 1);
  // A second writer on the same head loses the compare-and-set, cleanly.
  REQUIRE(reader->Transact(AddItem(2)).ok());
  REQUIRE(writer->Transact(AddItem(3)).ok());
  REQUIRE(writer->Flush().ok());
  auto st = reader->Flush();
  REQUIRE(st.code() == Code::kConflict);
  std::filesystem::remove_all(dir);
}

TEST_CASE("Reset drops unflushed transactions, writes nothing, and moves to the store's head", "[db]") {
  std::string dir = TempDir("reset");
  auto writer = *Connection::Create(*OpenFileStore(dir, true));
  REQUIRE(writer->Transact(kSchema).ok());
  REQUIRE(writer->Flush().ok());
  OpenOptions o;
  o.max_pending_tx = SIZE_MAX;  // an optimistic view: never flushed
  auto view = *Connection::Open(*OpenFileStore(dir, false), o);
  const Address head = view->head_commit();
  REQUIRE(view->Transact(AddItem(1)).ok());
  REQUIRE(view->Transact(AddItem(2)).ok());
  REQUIRE(CountItems(view->db()) == 2);
  REQUIRE(view->Reset().ok());
  REQUIRE(CountItems(view->db()) == 0);
  REQUIRE(view->pending_tx() == 0);
  REQUIRE(view->head_commit() == head);
  // The store's head moved: Reset follows it, and the view builds on it again.
  REQUIRE(writer->Transact(AddItem(3)).ok());
  REQUIRE(writer->Flush().ok());
  REQUIRE(view->Transact(AddItem(4)).ok());
  REQUIRE(view->Reset().ok());
  REQUIRE(view->head_commit() == writer->head_commit());
  REQUIRE(CountItems(view->db()) == 1);
  REQUIRE(view->Transact(AddItem(5)).ok());
  REQUIRE(CountItems(view->db()) == 2);
  // Released after a Reset, a connection flushes nothing: the store keeps the writer's head.
  REQUIRE(view->Reset().ok());
  view.reset();
  auto reader = *Connection::Open(*OpenFileStore(dir, false));
  REQUIRE(reader->head_commit() == writer->head_commit());
  REQUIRE(CountItems(reader->db()) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("another process reads the latest commit with no coordination", "[db]") {
  std::string dir = TempDir("twoproc");
  pid_t child = ForkWriter(dir, [](int i) { return i < 60 ? AddItem(i) : std::string(); });
  // Meanwhile: open the directory again and again; every snapshot is a whole commit.
  uint64_t last = 0;
  int status = 0;
  bool done = false;
  while (!done) {
    done = ::waitpid(child, &status, WNOHANG) == child;
    auto c = Connection::Open(*OpenFileStore(dir, false));
    REQUIRE(c.ok());
    Db db = (*c)->db();
    uint64_t n = CountItems(db);
    REQUIRE(n >= last);
    // Items arrive one per commit, numbered 0..n-1.
    REQUIRE(n == db.basis_tx() - kTx0 - 1);
    if (n > 0) REQUIRE(db.Entid(Value::Tuple({Value::Keyword("item/n"), Value::Long(n - 1)})).ok());
    last = n;
  }
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(last == 60);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a crash at any store operation leaves the last completed commit", "[db][crash]") {
  // The reference run: record the database after each completed flush.
  auto workload = [](const std::shared_ptr<Store>& store, std::vector<std::vector<std::string>>* snaps) {
    auto c = Connection::Create(store);
    if (!c.ok()) return;
    if (snaps) snaps->push_back(Dump((*c)->db()));
    if (!(*c)->Transact(kSchema).ok() || !(*c)->Flush().ok()) return;
    if (snaps) snaps->push_back(Dump((*c)->db()));
    for (int i = 0; i < 6; ++i) {
      std::string tx = "[" + Items(i * 1000, 300) + "[:db/add [:item/n 0] :item/tag \"v" +
                       std::to_string(i) + "\"]]";
      if (i == 0) tx = AddItem(0);
      if (!(*c)->Transact(tx).ok()) return;
      if (!(*c)->Flush().ok()) return;
      if (snaps) snaps->push_back(Dump((*c)->db()));
    }
  };
  std::vector<std::vector<std::string>> snaps;
  auto reference = MakeMemoryStore();
  auto counting = std::make_shared<FaultInjectingStore>(reference, INT64_MAX);
  workload(counting, &snaps);
  int64_t total_ops = counting->mutating_ops();
  REQUIRE(snaps.size() == 8);
  REQUIRE(total_ops > 10);

  for (int64_t budget = 0; budget <= total_ops; budget += std::max<int64_t>(1, total_ops / 150)) {
    auto base = MakeMemoryStore();
    auto faulty = std::make_shared<FaultInjectingStore>(base, budget);
    workload(faulty, nullptr);
    auto opened = Connection::Open(base);
    if (!opened.ok()) {
      // Crashed before the first commit's head moved: nothing to open, nothing broken.
      REQUIRE(opened.status().code() == Code::kNotFound);
      continue;
    }
    auto dump = Dump((*opened)->db());
    INFO("budget " << budget << " of " << total_ops);
    REQUIRE(std::find(snaps.begin(), snaps.end(), dump) != snaps.end());
  }
}

TEST_CASE("a flush whose nodes could not be stored writes them again on the next flush", "[db]") {
  auto store = std::make_shared<FlakyPutStore>();
  auto conn = *Connection::Create(store);
  REQUIRE(conn->Transact(kSchema).ok());
  REQUIRE(conn->Flush().ok());
  REQUIRE(conn->Transact("[" + Items(0, 500) + "]").ok());
  store->failing = true;
  Status failed = conn->Flush();
  store->failing = false;
  REQUIRE(failed.code() == Code::kIOError);
  REQUIRE(failed.message().find("disk full") != std::string::npos);
  REQUIRE(conn->pending_tx() == 1);
  REQUIRE(conn->Transact(AddItem(1000)).ok());
  REQUIRE(conn->Flush().ok());
  // A fresh connection (no shared cache) reads every node from the store.
  auto reopened = Connection::Open(store->base());
  REQUIRE(reopened.ok());
  REQUIRE(Dump((*reopened)->db()) == Dump(conn->db()));
  REQUIRE(CountItems((*reopened)->db()) == 501);
}

TEST_CASE("a writer process killed at random reopens at a completed commit", "[db][crash]") {
  std::mt19937 rng(1234);
  for (int round = 0; round < 4; ++round) {
    std::string dir = TempDir("kill");
    // Writes 50 items per commit until killed.
    pid_t child = ForkWriter(dir, [](int i) { return "[" + Items(i * 50, 50) + "]"; });
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 200));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    auto c = Connection::Open(*OpenFileStore(dir, false));
    REQUIRE(c.ok());
    Db db = (*c)->db();
    uint64_t n = CountItems(db);
    REQUIRE(n % 50 == 0);  // whole transactions only
    REQUIRE(n == 50 * (db.basis_tx() - kTx0 - 1));
    auto all = db.Datoms(IndexType::kAvet, {Value::Keyword("item/n")});
    REQUIRE(all.ok());
    REQUIRE(all->size() == n);
    for (uint64_t i = 0; i < n; ++i) REQUIRE((*all)[i].v.long_value() == static_cast<int64_t>(i));
    // The store stays writable after the crash.
    REQUIRE((*c)->Transact(AddItem(1000000)).ok());
    REQUIRE((*c)->Flush().ok());
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("DatomIterator::SkipTo lands on the first datom at or after a key, in every view", "[db]") {
  auto conn = *Connection::Create(MakeMemoryStore());
  REQUIRE(conn->Transact(kSchema).ok());
  REQUIRE(conn->Transact("[" + Items(0, 3000, "a") + "]").ok());
  EntityId mid = conn->db().basis_tx();
  // Retag every third item, so current and history trees both hold :item/tag datoms.
  std::string retag = "[";
  for (int n = 0; n < 3000; n += 3) retag += "[:db/add [:item/n " + std::to_string(n) + "] :item/tag \"b\"]";
  REQUIRE(conn->Transact(retag + "]").ok());
  REQUIRE(conn->Flush().ok());
  Db now = conn->db();
  std::mt19937 rng(5);
  for (const Db& db : {now, now.AsOf(mid), now.History(), now.Since(mid)}) {
    auto all = db.Datoms(IndexType::kAevt, {Value::Keyword("item/tag")});
    REQUIRE(all.ok());
    REQUIRE(!all->empty());
    auto it = db.DatomsIter(IndexType::kAevt, {Value::Keyword("item/tag")});
    REQUIRE(it.ok());
    size_t pos = 0;  // index in `all` of the iterator's datom
    while (it->Valid()) {
      REQUIRE(it->datom().e == (*all)[pos].e);
      REQUIRE(it->datom().v == (*all)[pos].v);
      // Skip to an entity a little ahead (sometimes the current one: stays put).
      EntityId target = (*all)[pos].e + rng() % 12;
      REQUIRE(it->SkipTo({Value::Keyword("item/tag"), Value::Ref(target)}).ok());
      while (pos < all->size() && (*all)[pos].e < target) ++pos;
      if (pos == all->size()) {
        REQUIRE_FALSE(it->Valid());
        break;
      }
      REQUIRE(it->Valid());
      if (rng() % 2) {
        it->Next();
        ++pos;
        if (pos == all->size()) REQUIRE_FALSE(it->Valid());
      }
    }
  }
}

TEST_CASE("GC keeps what retained commits reach and nothing else", "[db][gc]") {
  auto store = MakeMemoryStore();
  auto conn = *Connection::Create(store);
  REQUIRE(conn->Transact(kSchema).ok());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(conn->Transact("[" + Items(0, 200, "r" + std::to_string(i)) + "]").ok());
    REQUIRE(conn->Flush().ok());
  }
  auto before = Dump(conn->db());
  auto history_before = conn->db().History().Datoms(IndexType::kEavt, {});
  auto blobs = store->List()->size();
  auto gc = conn->Gc(GcOptions{2});
  REQUIRE(gc.ok());
  REQUIRE(gc->deleted > 0);
  REQUIRE(store->List()->size() == blobs - gc->deleted);
  REQUIRE(store->List()->size() == gc->marked);
  REQUIRE(conn->Log()->size() == 2);
  // A fresh connection reads everything, history included.
  auto fresh = *Connection::Open(store);
  REQUIRE(Dump(fresh->db()) == before);
  auto history_after = fresh->db().History().Datoms(IndexType::kEavt, {});
  REQUIRE(history_after.ok());
  REQUIRE(history_after->size() == history_before->size());
  REQUIRE(fresh->db().AsOf(3).Datoms(IndexType::kAevt, {Value::Keyword("item/tag")})->size() == 200);
}

TEST_CASE("a corrupt stored node is an error, not a crash", "[db]") {
  auto base = MakeMemoryStore();
  {
    auto conn = *Connection::Create(base);
    REQUIRE(conn->Transact(kSchema).ok());
    REQUIRE(conn->Transact(AddItem(1)).ok());
  }
  // Flip a byte in every blob but the commit the head names.
  auto head_r = base->GetHead("main");
  REQUIRE(head_r.ok());
  REQUIRE(head_r->has_value());
  std::string head = **head_r;
  auto list = base->List();
  REQUIRE(list.ok());
  auto copy = MakeMemoryStore();
  for (const Address& a : *list) {
    auto got = base->Get(a);
    REQUIRE(got.ok());
    std::string blob = *got;
    if (a.Hex() != head) blob[blob.size() - 1] ^= 1;
    REQUIRE(copy->Put({{a, blob}}).ok());
  }
  REQUIRE(copy->CasHead("main", std::nullopt, head).ok());
  auto conn = Connection::Open(copy);
  REQUIRE(conn.ok());  // opening reads only the head and the commit record
  auto ds = (*conn)->db().Datoms(IndexType::kEavt, {});
  REQUIRE_FALSE(ds.ok());
  REQUIRE(ds.status().code() == Code::kCorruption);
}

TEST_CASE("asOf and since by instant use the last transaction at or before it", "[db]") {
  auto conn = *Connection::Create(MakeMemoryStore());
  REQUIRE(conn->Transact(kSchema).ok());
  // Three transactions with explicit instants 1, 2 and 3 s after 2100-01-01 (instants
  // only move forward, and the schema transaction took the wall clock's).
  const int64_t base = 4102444800000;  // 2100-01-01T00:00:00Z in ms
  for (int i = 1; i <= 3; ++i) {
    auto r = conn->Transact("[{:item/n " + std::to_string(i) + "} {:db/id \"datomic.tx\" :db/txInstant #inst \"" +
                            "2100-01-01T00:00:0" + std::to_string(i) + ".000-00:00\"}]");
    INFO(r.status().ToString());
    REQUIRE(r.ok());
  }
  Db db = conn->db();
  auto items = [](const Db& d) {
    auto ds = d.Datoms(IndexType::kAevt, {Value::Keyword("item/n")});
    REQUIRE(ds.ok());
    std::vector<int64_t> out;
    for (const auto& x : *ds) out.push_back(x.v.long_value());
    return out;
  };
  using V = std::vector<int64_t>;
  for (auto [at, as_of, since] : {std::tuple{999, V{}, V{1, 2, 3}}, {1000, V{1}, V{2, 3}}, {2500, V{1, 2}, V{3}},
                                  {3000, V{1, 2, 3}, V{}}, {9000, V{1, 2, 3}, V{}}}) {
    INFO("instant base + " << at << " ms");
    auto a = db.AsOfInstant(base + at);
    auto s = db.SinceInstant(base + at);
    REQUIRE((a.ok() && s.ok()));
    CHECK(items(*a) == as_of);
    CHECK(items(*s) == since);
  }
  // An instant before the previous transaction's is refused, and changes nothing.
  auto late = conn->Transact(R"([{:item/n 4} {:db/id "datomic.tx" :db/txInstant #inst "2100-01-01T00:00:01.500-00:00"}])");
  REQUIRE_FALSE(late.ok());
  CHECK(late.status().message().find("before the previous transaction") != std::string::npos);
  CHECK(items(conn->db()) == V{1, 2, 3});
}

TEST_CASE("index access: SeekDatoms runs to the end of the index, IndexRange bounds AVET values", "[db]") {
  auto conn = *Connection::Create(MakeMemoryStore());
  REQUIRE(conn->Transact(kSchema).ok());
  REQUIRE(conn->Transact("[" + Items(0, 50, "x") + "]").ok());
  Db db = conn->db();
  auto values = [](const std::vector<Datom>& ds) {
    std::vector<int64_t> out;
    for (const auto& d : ds) out.push_back(d.v.long_value());
    return out;
  };
  auto range = [](int64_t lo, int64_t hi) {
    std::vector<int64_t> out;
    for (int64_t n = lo; n < hi; ++n) out.push_back(n);
    return out;
  };
  auto r = db.IndexRange("item/n", Value::Long(10), Value::Long(20));
  REQUIRE(r.ok());
  CHECK(values(*r) == range(10, 20));  // start inclusive, end exclusive
  r = db.IndexRange("item/n", std::nullopt, Value::Long(3));
  REQUIRE(r.ok());
  CHECK(values(*r) == range(0, 3));
  r = db.IndexRange("item/n", Value::Long(47), std::nullopt);
  REQUIRE(r.ok());
  CHECK(values(*r) == range(47, 50));
  r = db.IndexRange("item/n", Value::Long(30), Value::Long(30));
  REQUIRE(r.ok());
  CHECK(r->empty());
  CHECK(db.IndexRange("item/nope", std::nullopt, std::nullopt).status().code() == Code::kNotFound);

  // SeekDatoms starts at the components' position and does not stop at their prefix:
  // from :item/n 45 in AVET it runs on past :item/n into :item/tag.
  auto it = db.SeekDatoms(IndexType::kAvet, {Value::Keyword("item/n"), Value::Long(45)});
  REQUIRE(it.ok());
  std::vector<int64_t> seen;
  EntityId item_n = *db.AttrId("item/n");
  bool beyond = false;
  for (; it->Valid(); it->Next()) {
    if (it->datom().a == item_n) seen.push_back(it->datom().v.long_value());
    else beyond = true;
  }
  REQUIRE(it->status().ok());
  CHECK(seen == range(45, 50));
  CHECK(beyond);
}

TEST_CASE("a failed automatic flush undoes the transaction that triggered it and says so", "[db]") {
  CreateOptions o;
  o.max_pending_tx = 2;
  // A store that dies right after the bootstrap commit's writes.
  Result<std::shared_ptr<Connection>> conn = Status::Internal("not created");
  for (int ops = 1; ops < 10 && !conn.ok(); ++ops)
    conn = Connection::Create(std::make_shared<FaultInjectingStore>(MakeMemoryStore(), ops), o);
  REQUIRE(conn.ok());
  auto schema = (*conn)->Transact(kSchema);  // pending: the group is not full yet
  REQUIRE(schema.ok());
  EntityId basis = (*conn)->db().basis_tx();
  auto item = (*conn)->Transact(AddItem(1));  // fills the group; its flush cannot write
  REQUIRE(!item.ok());
  CHECK(item.status().message().rfind("transaction not applied: flush", 0) == 0);
  CHECK((*conn)->pending_tx() == 1);
  CHECK((*conn)->db().basis_tx() == basis);
  CHECK((*conn)->db().Datoms(IndexType::kAevt, {Value::Keyword("item/n")})->empty());
}
