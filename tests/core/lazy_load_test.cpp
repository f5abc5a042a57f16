// Lazy loading from an asynchronous store (docs/wasm.md): reads that miss nodes fail
// with kMissingNode however deep the miss is, change nothing, and succeed once the
// nodes are provided; scans ask for sibling leaves in the same batch.
#include <catch2/catch.hpp>

#include <functional>
#include <set>

#include "datalith/query.h"
#include "index/btree.h"

using namespace datalith;

namespace {

// A store that, like the browser's, answers only what has been handed to it: any
// other Get is kMissingNode and is recorded. Writes go through to the base store.
class AsyncStore final : public Store {
 public:
  explicit AsyncStore(std::shared_ptr<Store> base) : base_(std::move(base)) {}

  // Hands over everything recorded as missing; returns how many addresses.
  size_t ProvideMissing() {
    size_t n = missing_.size();
    for (const Address& a : missing_) loaded_.insert(a);
    missing_.clear();
    return n;
  }

  Result<std::string> Get(const Address& addr) override {
    if (!loaded_.count(addr)) {
      missing_.insert(addr);
      return Status::MissingNode("not loaded: " + addr.Hex());
    }
    return base_->Get(addr);
  }
  Status Put(const std::vector<std::pair<Address, std::string>>& blobs) override {
    for (const auto& b : blobs) loaded_.insert(b.first);
    return base_->Put(blobs);
  }
  Status Sync() override { return base_->Sync(); }
  Result<std::optional<std::string>> GetHead(const std::string& name) override {
    return base_->GetHead(name);
  }
  Status CasHead(const std::string& name, const std::optional<std::string>& expected,
                 const std::string& value) override {
    return base_->CasHead(name, expected, value);
  }
  Result<std::vector<std::string>> ListHeads() override { return base_->ListHeads(); }
  Status DeleteHead(const std::string& name) override { return base_->DeleteHead(name); }
  Result<std::vector<Address>> List() override { return base_->List(); }
  Status Delete(const Address& addr) override { return base_->Delete(addr); }

 private:
  std::shared_ptr<Store> base_;
  std::set<Address> loaded_;
  std::set<Address> missing_;
};

struct Rounds {
  int rounds = 0;
  size_t fetched = 0;
};

// Runs `read` until it stops failing with kMissingNode, providing what it asked for.
// Any other failure, including a missing node reported under another code, fails.
template <class F>
auto Drive(AsyncStore& store, F read, Rounds* r) -> decltype(read()) {
  for (int round = 0; round < 500; ++round) {
    auto result = read();
    if (result.ok() || result.status().code() != Code::kMissingNode) {
      INFO(result.status().ToString());
      REQUIRE(result.ok());
      r->rounds += round;
      return result;
    }
    size_t n = store.ProvideMissing();
    REQUIRE(n > 0);
    r->fetched += n;
  }
  FAIL("no answer after 500 rounds");
  return read();
}

}  // namespace

TEST_CASE("a cold scan loads sibling leaves in batches; a lookup loads one path", "[index][lazy]") {
  using namespace datalith::index;
  auto base = MakeMemoryStore();
  NodeSource writer(base, 64 << 20);
  std::vector<Edit> edits;
  for (int i = 0; i < 40000; ++i) {
    char buf[16];
    snprintf(buf, sizeof buf, "k%08d", i);
    edits.push_back({buf, true});
  }
  auto root = Apply(writer, Child(), edits);
  REQUIRE(root.ok());
  std::vector<std::pair<Address, std::string>> blobs;
  std::vector<NodePtr> fresh;
  Persist(*root, &blobs, &fresh);
  REQUIRE(base->Put(blobs).ok());
  Child persisted{nullptr, root->address(), root->count};
  size_t leaves = 0;
  for (const NodePtr& n : fresh) leaves += n->leaf();
  REQUIRE(leaves > 3 * kPrefetchSiblings);

  auto async = std::make_shared<AsyncStore>(base);
  NodeSource src(async, 64 << 20);
  auto count_all = [&]() -> Result<uint64_t> {
    Iterator it(&src, persisted);
    uint64_t n = 0;
    for (it.SeekToFirst(); it.Valid(); it.Next()) ++n;
    if (!it.status().ok()) return it.status();
    return n;
  };
  auto lookup = [&]() -> Result<std::string> {
    Iterator it(&src, persisted);
    it.Seek("k00031337");
    if (!it.status().ok()) return it.status();
    return std::string(it.key());
  };

  Rounds point;
  REQUIRE(*Drive(*async, lookup, &point) == "k00031337");
  CHECK(point.fetched == static_cast<size_t>(point.rounds));  // one node per level, no siblings

  Rounds scan;
  REQUIRE(*Drive(*async, count_all, &scan) == 40000);
  CHECK(scan.fetched >= leaves);
  CHECK(scan.rounds <= static_cast<int>(leaves / kPrefetchSiblings + 2 * (leaves / kMaxBranch) + 4));
  Rounds again;
  REQUIRE(*Drive(*async, count_all, &again) == 40000);
  CHECK(again.rounds == 0);
}

TEST_CASE("kMissingNode survives every layer: queries, pull, transactions", "[lazy][query]") {
  auto base = MakeMemoryStore();
  {
    auto conn = Connection::Create(base);
    REQUIRE(conn.ok());
    REQUIRE((*conn)->Transact(R"([{:db/ident :name :db/valueType :db.type/string :db/unique :db.unique/identity}
                                  {:db/ident :age :db/valueType :db.type/long}
                                  {:db/ident :friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
                                  {:db/ident :tags :db/valueType :db.type/string :db/cardinality :db.cardinality/many}])")
                .ok());
    std::string tx = "[";
    for (int i = 0; i < 3000; ++i) {
      tx += "{:db/id \"p" + std::to_string(i) + "\" :name \"n" + std::to_string(i) + "\" :age " +
            std::to_string(i % 90) + (i % 5 ? " :tags \"t" + std::to_string(i % 3) + "\"" : "") +
            (i ? " :friend \"p" + std::to_string(i - 1) + "\"" : "") + "}";
    }
    REQUIRE((*conn)->Transact(tx + "]").ok());
    REQUIRE((*conn)->Transact(R"([{:name "n7" :age 70}])").ok());
    REQUIRE((*conn)->Flush().ok());
  }

  // Friends of friends, recursively, along a run of ages 0..3 (the closure stays small).
  const char* rules = R"([[(reach ?a ?b) [?a :friend ?b] [?b :age ?x] [(< ?x 4)]]
                           [(reach ?a ?b) [?a :friend ?m] [?m :age ?y] [(< ?y 4)] (reach ?m ?b)]])";
  const std::vector<std::pair<const char*, std::string>> queries = {
      {"join", "[:find ?n2 :where [?e :name \"n2000\"] [?e :friend ?f] [?f :name ?n2]]"},
      {"lookup-ref input", "[:find ?a . :in $ ?e :where [?e :age ?a]]"},
      {"rules", "[:find (count ?b) . :in $ % :where [?a :name \"n184\"] (reach ?a ?b)]"},
      {"not", "[:find (count ?e) . :where [?e :age 3] (not [?e :tags \"t0\"])]"},
      {"not-join", "[:find (count ?e) . :where [?e :age 4] (not-join [?e] [?e :friend ?f] [?f :age 3])]"},
      {"or", "[:find (count ?e) . :where (or [?e :age 1] [?e :tags \"t1\"])]"},
      {"or-join", "[:find (count ?e) . :where [?e :age 2] (or-join [?e] [?e :tags \"t2\"] [?e :friend ?x])]"},
      {"get-else", "[:find (sum ?t) . :where [?e :age 5] [(get-else $ ?e :name \"-\") ?n] [(count ?n) ?t]]"},
      {"get-some", "[:find (count ?v) . :where [?e :age 6] [(get-some $ ?e :tags :name) [?a ?v]]]"},
      {"missing?", "[:find (count ?e) . :where [?e :age 8] [(missing? $ ?e :tags)]]"},
      {"pull in find", "[:find (pull ?e [:name {:friend [:age]}]) :where [?e :age 9] [?e :tags \"t0\"]]"},
      {"aggregates", "[:find (max ?a) (min ?a) (avg ?a) (distinct ?a) :where [_ :age ?a]]"},
      {"ranges", "[:find (count ?e) . :where [?e :age ?a] [(< 10 ?a)] [(<= ?a 12)]]"},
      {"reverse ref", "[:find ?n . :where [?x :name \"n1500\"] [?e :friend ?x] [?e :name ?n]]"},
      {"history", "[:find ?a ?added :in $ :where [?e :name \"n7\"] [?e :age ?a _ ?added]]"},
  };
  auto async = std::make_shared<AsyncStore>(base);
  Rounds r;
  auto conn = Drive(*async, [&] { return Connection::Open(async); }, &r);
  Db db = (*conn)->db();
  for (const auto& [name, query] : queries) {
    INFO(name);
    std::vector<QueryInput> inputs = {QueryInput::Database(db)};
    if (std::string(name) == "lookup-ref input") inputs.push_back(*QueryInput::Edn("[:name \"n77\"]"));
    if (std::string(name) == "rules") inputs.push_back(*QueryInput::Edn(rules));
    if (std::string(name) == "history") inputs[0] = QueryInput::Database(db.History());
    auto cold = Drive(*async, [&] { return Q(query, inputs); }, &r);
    auto warm = Q(query, inputs);
    REQUIRE(warm.ok());
    CHECK(edn::Write(*cold) == edn::Write(*warm));
  }
  auto pulled = Drive(*async, [&] {
    return Pull(db, "[* {:friend [:name {:friend 2}]} {:_friend [:name]}]", Value::Long(1100));
  }, &r);
  CHECK(edn::Write(*pulled).find("n") != std::string::npos);
  auto instant = Drive(*async, [&] { return db.AsOfInstant(0); }, &r);
  // Transactions that need nodes (an upsert through a unique identity) are atomic.
  auto report = Drive(*async, [&] { return (*conn)->Transact("[{:name \"n2999\" :age 1}]"); }, &r);
  CHECK(report->tx_data.size() == 3);  // tx instant, retract age, add age
  REQUIRE((*conn)->Flush().ok());
}
