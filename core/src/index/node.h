// B+tree nodes: immutable, content-addressed, lazily loaded.
//
// A node holds sorted byte keys (compared with memcmp). A leaf's keys are the
// entries; a branch's key i is the smallest key of child i. Nodes never change after
// construction except for the memoised address, which the single writer assigns when
// it persists the node (readers of unpersisted nodes never look at it).
//
// A node is one allocation: a header, then the key end offsets, the children (branch
// only) and the key bytes. Nodes are reference counted intrusively (NodePtr), so a
// small transaction's path copy costs one allocation and one copy per node.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datalith/status.h"
#include "datalith/store.h"
#include "storage/blob.h"

namespace datalith::index {

struct Node;

// Shared ownership of an immutable node (an intrusive, thread-safe reference count).
class NodePtr {
 public:
  NodePtr() = default;
  NodePtr(std::nullptr_t) {}  // NOLINT: as for shared_ptr
  NodePtr(const NodePtr& o) : p_(o.p_) { Retain(); }
  NodePtr(NodePtr&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  NodePtr& operator=(const NodePtr& o) {
    NodePtr copy(o);
    std::swap(p_, copy.p_);
    return *this;
  }
  NodePtr& operator=(NodePtr&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~NodePtr() { Release(); }

  const Node* get() const { return p_; }
  const Node* operator->() const { return p_; }
  const Node& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  friend class NodeBuilder;
  explicit NodePtr(const Node* adopt) : p_(adopt) {}  // takes over the initial reference
  inline void Retain() const;
  inline void Release();

  const Node* p_ = nullptr;
};

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

// Read access to keys stored back to back: key i is data[ends[i-1], ends[i]).
class Keys {
 public:
  Keys() = default;
  Keys(const uint32_t* ends, const char* data, size_t n) : ends_(ends), data_(data), n_(n) {}

  size_t size() const { return n_; }
  std::string_view operator[](size_t i) const {
    uint32_t b = begin_of(i);
    return std::string_view(data_ + b, ends_[i] - b);
  }
  size_t bytes() const { return begin_of(n_); }
  // Offset of key i's first byte (of the end, for i == size()).
  uint32_t begin_of(size_t i) const { return i == 0 ? 0 : ends_[i - 1]; }
  const uint32_t* ends() const { return ends_; }
  const char* data() const { return data_; }
  // Index of the first key >= k (size() if none).
  size_t LowerBound(std::string_view k) const { return LowerBound(k, 0, size()); }
  // Index of the first key >= k among [lo, hi) (hi if none).
  size_t LowerBound(std::string_view k, size_t lo, size_t hi) const;
  // Index of the first key > k.
  size_t UpperBound(std::string_view k) const;

 private:
  const uint32_t* ends_ = nullptr;
  const char* data_ = nullptr;
  size_t n_ = 0;
};

// A growable list of keys, for building nodes (merges, decoding).
class KeyList {
 public:
  size_t size() const { return ends_.size(); }
  Keys view() const { return Keys(ends_.data(), data_.data(), ends_.size()); }
  size_t bytes() const { return data_.size(); }
  void Add(std::string_view key) {
    data_.append(key);
    ends_.push_back(static_cast<uint32_t>(data_.size()));
  }
  // Appends keys [b, e) of `src` (one copy of their bytes).
  void AppendRange(Keys src, size_t b, size_t e);
  void Reserve(size_t n, size_t bytes) { ends_.reserve(n); data_.reserve(bytes); }
  void Clear() { data_.clear(); ends_.clear(); }

 private:
  std::string data_;
  std::vector<uint32_t> ends_;
};

struct Node {
  uint8_t level = 0;  // 0 = leaf
  uint64_t count = 0;  // entries in this subtree

  bool leaf() const { return level == 0; }
  size_t size() const { return n_; }
  Keys keys() const { return Keys(ends_ptr(), data_ptr(), n_); }
  std::span<const Child> children() const {
    return {children_ptr(), leaf() ? size_t{0} : size_t{n_}};
  }
  // Memory footprint, for the cache's byte budget.
  size_t MemoryBytes() const { return alloc_bytes_; }

  bool persisted() const { return persisted_; }
  const Address& address() const { return addr_; }
  void SetAddress(const Address& a) const { addr_ = a; persisted_ = true; }
  // Undoes SetAddress when the flush that persisted the node could not store it.
  void ClearAddress() const { persisted_ = false; }

 private:
  friend class NodePtr;
  friend class NodeBuilder;
  friend void DestroyNode(const Node* node);
  Node() = default;
  ~Node() = default;

  uint32_t* ends_ptr() const;
  Child* children_ptr() const;
  char* data_ptr() const;

  mutable std::atomic<uint32_t> refs_{1};
  uint32_t n_ = 0;
  uint32_t alloc_bytes_ = 0;  // the block's size
  mutable bool persisted_ = false;
  mutable Address addr_;
};

// Builds one node in place: the entry count and key bytes are fixed up front, then
// keys are appended in order and (for a branch) every child set, then Finish().
class NodeBuilder {
 public:
  NodeBuilder(uint8_t level, size_t n, size_t key_bytes);
  NodeBuilder(const NodeBuilder&) = delete;
  NodeBuilder& operator=(const NodeBuilder&) = delete;
  ~NodeBuilder();

  void Add(std::string_view key);
  // Appends keys [b, e) of `src`.
  void AppendRange(Keys src, size_t b, size_t e);
  // Branch children, default-constructed until set.
  Child* children() { return node_->children_ptr(); }
  // The finished node; every key must have been added.
  NodePtr Finish();

 private:
  Node* node_;
  size_t filled_ = 0;
};

// A persisted branch's copy whose children are addresses only (a leaf is returned as
// is). The node cache keeps these once a flush has stored them: a cached branch then
// pins none of its children, and copying it for a path copy takes no reference counts.
NodePtr Detached(const NodePtr& node);

// Frees a node whose last reference went away.
void DestroyNode(const Node* node);

inline void NodePtr::Retain() const {
  if (p_) p_->refs_.fetch_add(1, std::memory_order_relaxed);
}

inline void NodePtr::Release() {
  if (p_ && p_->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) DestroyNode(p_);
  p_ = nullptr;
}

// Node codec (docs/format.md §2). Encode gives the canonical bytes whose hash is the
// address; every child must be persisted first.
std::string EncodeNode(const Node& node);
// Decodes and validates canonical bytes (bounds, counts, strictly ascending keys).
Result<NodePtr> DecodeNode(std::string_view canonical, const Address& addr);

}  // namespace datalith::index
