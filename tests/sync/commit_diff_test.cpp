// Connection::BlobsToReach / CommitRoots / NodeChildren: the commit diff sync sends.
#include <zstd.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "datalith/db.h"

using namespace datalith;

namespace {

std::shared_ptr<Connection> People(const std::shared_ptr<Store>& store, int n) {
  auto conn = *Connection::Create(store);
  REQUIRE(conn->Transact(R"([{:db/ident :person/name :db/valueType :db.type/string
                              :db/unique :db.unique/identity}
                             {:db/ident :person/age :db/valueType :db.type/long}])").ok());
  std::string tx = "[";
  for (int i = 0; i < n; ++i)
    tx += "{:person/name \"p" + std::to_string(i) + "\" :person/age " + std::to_string(i % 90) + "}";
  REQUIRE(conn->Transact(tx + "]").ok());
  REQUIRE(conn->Flush().ok());
  return conn;
}

std::set<Address> AsSet(const std::vector<Address>& v) { return {v.begin(), v.end()}; }

// Every blob is in the store and hashes to its address.
void CheckVerifies(Store& store, const std::vector<Address>& addrs) {
  for (const Address& a : addrs) {
    auto blob = store.Get(a);
    REQUIRE(blob.ok());
    std::string canonical = blob->substr(1);
    if ((*blob)[0] == 1) {
      canonical.resize(ZSTD_getFrameContentSize(blob->data() + 1, blob->size() - 1));
      ZSTD_decompress(canonical.data(), canonical.size(), blob->data() + 1, blob->size() - 1);
    }
    CHECK(Address::Of(canonical) == a);
  }
}

}  // namespace

TEST_CASE("BlobsToReach sends exactly what the older commit lacks", "[sync][diff]") {
  auto store = MakeMemoryStore();
  auto conn = People(store, 5000);
  Address c1 = conn->head_commit();
  auto full1 = *conn->BlobsToReach(c1, Address());
  CHECK(full1.back() == c1);  // the commit record comes last
  CHECK(full1.size() > 100);
  CheckVerifies(*store, full1);
  CHECK(AsSet(full1).size() == full1.size());

  REQUIRE(conn->Transact(R"([{:db/id [:person/name "p42"] :person/age 43}
                             {:person/name "new" :person/age 1}])").ok());
  REQUIRE(conn->Flush().ok());
  Address c2 = conn->head_commit();
  CHECK(c2 != c1);
  auto full2 = *conn->BlobsToReach(c2, Address());
  auto diff = *conn->BlobsToReach(c2, c1);
  CHECK(diff.back() == c2);
  CheckVerifies(*store, diff);

  // Exactly full2 \ full1, plus nothing else.
  std::set<Address> expected;
  auto s1 = AsSet(full1);
  for (const Address& a : full2) {
    if (!s1.count(a)) expected.insert(a);
  }
  CHECK(AsSet(diff) == expected);
  // Two small edits touch a few root-to-leaf paths per tree, not the database.
  CHECK(diff.size() < 50);
  CHECK(diff.size() * 5 < full2.size());

  CHECK(conn->BlobsToReach(c2, c2)->empty());
  // Parents before children: every node's children come after it.
  std::map<Address, size_t> pos;
  for (size_t i = 0; i < diff.size(); ++i) pos[diff[i]] = i;
  for (size_t i = 0; i + 1 < diff.size(); ++i) {
    auto children = *conn->NodeChildren(diff[i]);
    for (const Address& child : children) {
      if (pos.count(child)) CHECK(pos[child] > i);
    }
  }
}

TEST_CASE("CommitRoots and NodeChildren walk the same nodes", "[sync][diff]") {
  auto store = MakeMemoryStore();
  auto conn = People(store, 3000);
  Address head = conn->head_commit();
  std::set<Address> walked;
  std::vector<Address> level = *conn->CommitRoots(head);
  CHECK(level.size() >= 3);  // EAVT AEVT AVET (no refs, no history yet)
  while (!level.empty()) {
    std::vector<Address> next;
    for (const Address& a : level) {
      walked.insert(a);
      auto children = conn->NodeChildren(a);
      REQUIRE(children.ok());
      next.insert(next.end(), children->begin(), children->end());
    }
    level = std::move(next);
  }
  walked.insert(head);
  CHECK(walked == AsSet(*conn->BlobsToReach(head, Address())));
}

TEST_CASE("BlobsToReach from a commit the store lacks is NotFound", "[sync][diff]") {
  auto conn = People(MakeMemoryStore(), 10);
  Address unknown = Address::Of("not a commit");
  auto r = conn->BlobsToReach(conn->head_commit(), unknown);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kNotFound);
  CHECK(conn->CommitRoots(unknown).status().code() == Code::kNotFound);
  CHECK(conn->NodeChildren(unknown).status().code() == Code::kNotFound);
}
