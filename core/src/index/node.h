// B+tree nodes: immutable, content-addressed, lazily loaded.
//
// A node holds sorted byte keys (compared with memcmp). A leaf's keys are the
// entries; a branch's key i is the smallest key of child i. Nodes never change after
// construction except for the memoised address, which the single writer assigns when
// it persists the node (readers of unpersisted nodes never look at it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "datalith/status.h"
#include "datalith/store.h"

namespace datalith::index {

struct Node;
using NodePtr = std::shared_ptr<const Node>;

// A reference to a subtree: the in-memory node if we hold it (always true for nodes
// built since the last flush), else only its address. `count` is the number of
// entries (leaf keys) in the subtree, kept in branches so ranges count in O(depth).
struct Child {
  NodePtr ptr;
  Address addr;  // valid when ptr is null, or once ptr has been persisted
  uint64_t count = 0;

  bool empty() const { return count == 0; }
  Address address() const;  // ptr's address if held (must be persisted), else addr
};

// Keys stored back to back: key i is data[ends[i-1], ends[i]).
class KeyList {
 public:
  size_t size() const { return ends_.size(); }
  std::string_view operator[](size_t i) const {
    uint32_t b = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(data_).substr(b, ends_[i] - b);
  }
  void Add(std::string_view key) {
    data_.append(key);
    ends_.push_back(static_cast<uint32_t>(data_.size()));
  }
  // Appends keys [b, e) of `src` (one copy of their bytes).
  void AppendRange(const KeyList& src, size_t b, size_t e) {
    if (b >= e) return;
    uint32_t from = b == 0 ? 0 : src.ends_[b - 1];
    uint32_t base = static_cast<uint32_t>(data_.size());
    data_.append(src.data_, from, src.ends_[e - 1] - from);
    for (size_t i = b; i < e; ++i) ends_.push_back(src.ends_[i] - from + base);
  }
  void Reserve(size_t n, size_t bytes) { ends_.reserve(n); data_.reserve(bytes); }
  size_t bytes() const { return data_.size(); }
  // Index of the first key >= k (size() if none).
  size_t LowerBound(std::string_view k) const { return LowerBound(k, 0, size()); }
  // Index of the first key >= k among [lo, hi) (hi if none).
  size_t LowerBound(std::string_view k, size_t lo, size_t hi) const;
  // Index of the first key > k.
  size_t UpperBound(std::string_view k) const;

 private:
  std::string data_;
  std::vector<uint32_t> ends_;
};

struct Node {
  uint8_t level = 0;  // 0 = leaf
  KeyList keys;
  std::vector<Child> children;  // branch only; parallel to keys
  uint64_t count = 0;           // entries in this subtree

  bool leaf() const { return level == 0; }
  size_t size() const { return keys.size(); }
  // Approximate memory footprint, for the cache's byte budget.
  size_t MemoryBytes() const;

  bool persisted() const { return persisted_; }
  const Address& address() const { return addr_; }
  void SetAddress(const Address& a) const { addr_ = a; persisted_ = true; }

 private:
  mutable Address addr_;
  mutable bool persisted_ = false;
};

// Node codec (docs/format.md §2). Encode gives the canonical bytes whose hash is the
// address; every child must be persisted first.
std::string EncodeNode(const Node& node);
// Decodes and validates canonical bytes (bounds, counts, strictly ascending keys).
Result<NodePtr> DecodeNode(std::string_view canonical, const Address& addr);
// Blob = 1 byte codec (0 raw, 1 zstd) + payload. Verifies the address on unwrap.
std::string WrapBlob(const std::string& canonical);
Result<std::string> UnwrapBlob(std::string_view blob, const Address& addr);

}  // namespace datalith::index
