// NodeSource: where trees get their nodes. Store + codec + a byte-bounded LRU cache
// of decoded nodes, shared by every snapshot of a database. Thread-safe.
//
// Lazy loading: nothing is read until a tree walk needs it; a second walk over the
// same nodes does no I/O while they stay cached. A store that cannot answer
// synchronously (BufferStore) returns kMissingNode and records the address itself;
// Load passes that status up unchanged (with context), and the caller fetches what the
// store recorded and retries (docs/design.md, "Lazy loading").
#pragma once

#include <list>
#include <mutex>
#include <unordered_map>

#include "index/node.h"

namespace datalith::index {

struct NodeSourceStats {
  uint64_t loads = 0;       // nodes read from the store and decoded
  uint64_t load_bytes = 0;  // blob bytes read
  uint64_t hits = 0;        // cache hits
  uint64_t cached_bytes = 0;
  uint64_t cached_nodes = 0;
};

class NodeSource {
 public:
  NodeSource(std::shared_ptr<Store> store, size_t cache_bytes);

  // The node at `addr`, from the cache or the store (verified and decoded).
  Result<NodePtr> Load(const Address& addr);
  // The child's node: held pointer or Load().
  Result<NodePtr> Resolve(const Child& child) {
    if (child.ptr) return child.ptr;
    return Load(child.addr);
  }
  // Adds a node the caller already has decoded (e.g. just persisted) to the cache.
  void Remember(const NodePtr& node);
  Store* store() const { return store_.get(); }
  const std::shared_ptr<Store>& shared_store() const { return store_; }
  NodeSourceStats stats() const;
  void SetCacheBytes(size_t bytes);

 private:
  void InsertLocked(const Address& addr, const NodePtr& node);

  std::shared_ptr<Store> store_;
  mutable std::mutex mu_;
  size_t capacity_;
  size_t bytes_ = 0;
  std::list<std::pair<Address, NodePtr>> lru_;  // front = most recent
  std::unordered_map<Address, std::list<std::pair<Address, NodePtr>>::iterator, AddressHash> map_;
  NodeSourceStats stats_;
};

}  // namespace datalith::index
