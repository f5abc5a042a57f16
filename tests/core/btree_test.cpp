// Persistent B+tree: model-checked against std::set, persistence, sharing, diff.
#include <catch2/catch.hpp>

#include <functional>
#include <random>
#include <set>

#include "db/keys.h"
#include "index/btree.h"

using namespace datalith;
using namespace datalith::index;

namespace {

std::string Key(uint32_t i) {
  char buf[16];
  snprintf(buf, sizeof buf, "k%08u", i);
  return buf;
}

std::vector<std::string> All(NodeSource& src, const Child& root) {
  std::vector<std::string> out;
  Iterator it(&src, root);
  for (it.SeekToFirst(); it.Valid(); it.Next()) out.emplace_back(it.key());
  REQUIRE(it.status().ok());
  return out;
}

Child Commit(NodeSource& src, const Child& root, size_t* nodes = nullptr) {
  std::vector<std::pair<Address, std::string>> blobs;
  std::vector<NodePtr> fresh;
  Persist(root, &blobs, &fresh);
  REQUIRE(src.store()->Put(blobs).ok());
  if (nodes) *nodes = blobs.size();
  if (root.empty()) return root;
  return Child{nullptr, root.address(), root.count};
}

std::unordered_set<Address, AddressHash> Reachable(NodeSource& src, const Child& root) {
  std::unordered_set<Address, AddressHash> seen;
  REQUIRE(MarkReachable(src, root.address(), &seen).ok());
  return seen;
}

// Structural invariants: every node but the root holds between a quarter of its
// maximum and its maximum; a branch's key i is child i's first key and its count the
// sum of its children's; leaves are all at level 0. Returns the leaves' sizes.
std::vector<size_t> CheckShape(NodeSource& src, const Child& root) {
  std::vector<size_t> leaves;
  std::function<void(const Child&, bool, int)> walk = [&](const Child& c, bool is_root, int level) {
    auto r = src.Resolve(c);
    REQUIRE(r.ok());
    NodePtr n = *r;
    if (level >= 0) REQUIRE(n->level == level);
    size_t max = n->leaf() ? kMaxLeaf : kMaxBranch;
    REQUIRE(n->size() <= max);
    if (!is_root) REQUIRE(n->size() >= max / 4);
    REQUIRE(n->count == c.count);
    if (n->leaf()) {
      leaves.push_back(n->size());
      return;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < n->size(); ++i) {
      const Child& kid = n->children()[i];
      sum += kid.count;
      auto k = src.Resolve(kid);
      REQUIRE(k.ok());
      REQUIRE((*k)->keys()[0] == n->keys()[i]);
      walk(kid, false, n->level - 1);
    }
    REQUIRE(sum == n->count);
  };
  if (!root.empty()) walk(root, true, -1);
  return leaves;
}

}  // namespace

TEST_CASE("btree matches a std::set model under random edits", "[index]") {
  auto store = MakeMemoryStore();
  NodeSource src(store, 1 << 20);  // small cache: forces reloads
  std::mt19937 rng(7);
  std::set<std::string> model;
  Child root;
  for (int round = 0; round < 60; ++round) {
    std::set<std::string> batch_keys;
    int n = round % 10 == 0 ? 3000 : 1 + rng() % 200;
    for (int i = 0; i < n; ++i) batch_keys.insert(Key(rng() % 20000));
    std::vector<Edit> edits;
    for (const auto& k : batch_keys) {
      bool ins = rng() % 3 != 0;
      edits.push_back({k, ins});
      if (ins) model.insert(k); else model.erase(k);
    }
    auto r = Apply(src, root, edits);
    REQUIRE(r.ok());
    root = *r;
    REQUIRE(root.count == model.size());
    CheckShape(src, root);
    if (round % 7 == 0) root = Commit(src, root);  // mix in-memory and stored nodes
  }
  std::vector<std::string> expect(model.begin(), model.end());
  REQUIRE(All(src, root) == expect);

  SECTION("seek lands on the first key >= target") {
    for (int i = 0; i < 200; ++i) {
      std::string t = Key(rng() % 21000);
      Iterator it(&src, root);
      it.Seek(t);
      auto m = model.lower_bound(t);
      if (m == model.end()) {
        REQUIRE_FALSE(it.Valid());
      } else {
        REQUIRE(it.Valid());
        REQUIRE(std::string(it.key()) == *m);
      }
    }
  }
  SECTION("forward seeks land where a fresh seek would, and never move back") {
    for (int trial = 0; trial < 20; ++trial) {
      Iterator it(&src, root);
      it.SeekToFirst();
      std::string at = it.Valid() ? std::string(it.key()) : "";
      uint32_t t = 0;
      while (it.Valid()) {
        t += rng() % (trial < 10 ? 40 : 2000);  // near and far jumps
        std::string target = Key(t);
        it.SeekForward(target);
        REQUIRE(it.status().ok());
        auto m = model.lower_bound(std::max(target, at));
        if (m == model.end()) {
          REQUIRE_FALSE(it.Valid());
          break;
        }
        REQUIRE(it.Valid());
        REQUIRE(std::string(it.key()) == *m);
        // A target behind the current key leaves the iterator in place.
        it.SeekForward(Key(t / 2));
        REQUIRE(std::string(it.key()) == *m);
        at = *m;
        if (rng() % 3 == 0) {
          it.Next();
          auto n = std::next(m);
          if (n == model.end()) {
            REQUIRE_FALSE(it.Valid());
          } else {
            REQUIRE(std::string(it.key()) == *n);
            at = *n;
          }
        }
      }
    }
  }
  SECTION("range counts agree with the model") {
    for (int i = 0; i < 200; ++i) {
      std::string lo = Key(rng() % 20000), hi = Key(rng() % 20000);
      if (hi < lo) std::swap(lo, hi);
      auto c = CountRange(src, root, lo, hi);
      REQUIRE(c.ok());
      REQUIRE(*c == static_cast<uint64_t>(std::distance(model.lower_bound(lo), model.lower_bound(hi))));
    }
  }
  SECTION("deleting everything gives the empty tree") {
    std::vector<Edit> del;
    for (const auto& k : model) del.push_back({k, false});
    auto r = Apply(src, root, del);
    REQUIRE(r.ok());
    REQUIRE(r->empty());
    REQUIRE(All(src, *r).empty());
  }
}

TEST_CASE("keys appended one by one leave nodes three quarters full", "[index]") {
  auto store = MakeMemoryStore();
  NodeSource src(store, 64 << 20);
  Child root;
  for (uint32_t i = 0; i < 20000; ++i) {
    auto r = Apply(src, root, {{Key(i), true}});
    REQUIRE(r.ok());
    root = *r;
  }
  std::vector<size_t> leaves = CheckShape(src, root);
  REQUIRE(root.count == 20000);
  // Every leaf but the last is split off 3/4 full (a balanced split would leave them
  // half full).
  for (size_t i = 0; i + 1 < leaves.size(); ++i) {
    INFO("leaf " << i << " of " << leaves.size());
    REQUIRE(leaves[i] == kMaxLeaf + 1 - kMaxLeaf / 4);
  }
  // Random inserts still keep every node within bounds.
  std::mt19937 rng(3);
  std::set<std::string> added;
  for (int i = 0; i < 5000; ++i) {
    std::string k = Key(rng() % 40000) + "x";
    added.insert(k);
    auto r = Apply(src, root, {{k, true}});
    REQUIRE(r.ok());
    root = *r;
  }
  CheckShape(src, root);
  REQUIRE(root.count == 20000 + added.size());
}

TEST_CASE("a large batch appended to a tree leaves full nodes", "[index]") {
  auto store = MakeMemoryStore();
  NodeSource src(store, 64 << 20);
  auto seeded = Apply(src, Child(), {{Key(0), true}, {Key(1), true}});
  REQUIRE(seeded.ok());
  std::vector<Edit> batch;
  for (uint32_t i = 2; i < 50000; ++i) batch.push_back({Key(i), true});
  auto r = Apply(src, *seeded, batch);
  REQUIRE(r.ok());
  std::vector<size_t> leaves = CheckShape(src, *r);
  // All full but the last two (the last keeps the minimum).
  for (size_t i = 0; i + 2 < leaves.size(); ++i) REQUIRE(leaves[i] == kMaxLeaf);
  REQUIRE(leaves.back() >= kMaxLeaf / 4);
}

TEST_CASE("btree updates share structure and persist only touched paths", "[index]") {
  auto store = MakeMemoryStore();
  NodeSource src(store, 64 << 20);
  std::vector<Edit> bulk;
  for (uint32_t i = 0; i < 100000; ++i) bulk.push_back({Key(i * 2), true});
  auto built = Apply(src, Child(), bulk);
  REQUIRE(built.ok());
  size_t bulk_nodes = 0;
  Child v1 = Commit(src, *built, &bulk_nodes);
  REQUIRE(bulk_nodes > 100000 / kMaxLeaf);

  auto r = Apply(src, v1, {{Key(777), true}});
  REQUIRE(r.ok());
  size_t nodes = 0;
  Child v2 = Commit(src, *r, &nodes);
  // One leaf plus one node per level above it.
  REQUIRE(nodes >= 2);
  REQUIRE(nodes <= 4);
  REQUIRE(v2.count == v1.count + 1);

  SECTION("the diff of two versions is exactly the nodes only the newer one reaches") {
    auto diff = NodesOnlyIn(src, {v2.address()}, {v1.address()});
    REQUIRE(diff.ok());
    auto a = Reachable(src, v2), b = Reachable(src, v1);
    std::set<Address> expect;
    for (const auto& x : a) if (!b.count(x)) expect.insert(x);
    REQUIRE(std::set<Address>(diff->begin(), diff->end()) == expect);
    REQUIRE(diff->size() == nodes);
    // Against nothing, the diff is the whole tree; against itself, nothing.
    REQUIRE(NodesOnlyIn(src, {v2.address()}, {})->size() == a.size());
    REQUIRE(NodesOnlyIn(src, {v2.address()}, {v2.address()})->empty());
  }
  SECTION("the same contents give the same root address") {
    auto again = Apply(src, Child(), bulk);
    REQUIRE(again.ok());
    REQUIRE(Commit(src, *again).address() == v1.address());
  }
}

TEST_CASE("corrupt nodes are reported, not trusted", "[index]") {
  auto store = MakeMemoryStore();
  NodeSource src(store, 1 << 20);
  std::vector<Edit> edits;
  for (uint32_t i = 0; i < 1000; ++i) edits.push_back({Key(i), true});
  Child root = Commit(src, *Apply(src, Child(), edits));
  auto blob = store->Get(root.address());
  REQUIRE(blob.ok());
  std::string bad = *blob;
  bad[bad.size() / 2] ^= 0x5a;
  auto other = MakeMemoryStore();
  REQUIRE(other->Put({{root.address(), bad}}).ok());
  NodeSource fresh(other, 1 << 20);
  auto n = fresh.Load(root.address());
  REQUIRE_FALSE(n.ok());
  REQUIRE(n.status().code() == Code::kCorruption);
  REQUIRE_THAT(n.status().message(), Catch::Contains(root.address().Hex()));

  // Hand-made canonical bytes that hash correctly but decode badly.
  // version 1, leaf, level 0, two keys "b" then "a": not ascending.
  const char raw[] = {1, 1, 0, 2, 0, 1, 'b', 0, 1, 'a'};
  std::string canonical(raw, sizeof raw);
  Address addr = Address::Of(canonical);
  REQUIRE(other->Put({{addr, WrapBlob(canonical)}}).ok());
  auto m = fresh.Load(addr);
  REQUIRE_FALSE(m.ok());
  REQUIRE_THAT(m.status().message(), Catch::Contains("ascending"));
}

// Found by tests/fuzz/node_fuzzer.cpp (corpus: node/history-flag-2): a history key's
// flag byte decoded as "added" whatever its value, so a key the writer never makes (flag
// 2) read as an assertion that re-encodes to a different key.
TEST_CASE("a history key's flag must be 0 or 1", "[index]") {
  using internal::DecodeKey;
  using internal::EncodeKey;
  const Datom d{1000, 12, Value::Long(7), kTx0 + 3, true};
  for (int i = 0; i < kIndexCount; ++i) {
    const auto index = static_cast<IndexType>(i);
    Datom x = d;
    if (index == IndexType::kVaet) x.v = Value::Ref(1001);
    std::string key;
    EncodeKey(index, x, /*history=*/true, &key);
    Datom back;
    REQUIRE(DecodeKey(index, key, true, &back).ok());
    CHECK(back == x);
    key.back() = 0;  // a retraction
    REQUIRE(DecodeKey(index, key, true, &back).ok());
    CHECK_FALSE(back.added);
    key.back() = 2;
    Status s = DecodeKey(index, key, true, &back);
    CHECK(s.code() == Code::kCorruption);
    CHECK(s.message() == "malformed datom key");
  }
}

TEST_CASE("node cache stays within its byte budget", "[index]") {
  auto store = MakeMemoryStore();
  NodeSource src(store, 64 << 10);
  std::vector<Edit> edits;
  for (uint32_t i = 0; i < 50000; ++i) edits.push_back({Key(i), true});
  Child root = Commit(src, *Apply(src, Child(), edits));
  NodeSource cold(store, 64 << 10);
  REQUIRE(All(cold, root).size() == 50000);
  auto s = cold.stats();
  REQUIRE(s.cached_bytes <= (64 << 10) + 16384);
  REQUIRE(s.loads > 50000 / kMaxLeaf);
  // A second walk over one small range is served from the cache.
  Iterator it(&cold, root);
  it.Seek(Key(49990));
  auto loads = cold.stats().loads;
  it.Seek(Key(49995));
  REQUIRE(cold.stats().loads == loads);
}
