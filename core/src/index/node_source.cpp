#include "index/node_source.h"

namespace datalith::index {

NodeSource::NodeSource(std::shared_ptr<Store> store, size_t cache_bytes)
    : store_(std::move(store)), capacity_(cache_bytes) {}

Result<NodePtr> NodeSource::Load(const Address& addr) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(addr);
    if (it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++stats_.hits;
      return it->second->second;
    }
  }
  // Read and decode outside the lock: loads of different nodes proceed in parallel.
  Result<std::string> blob = store_->Get(addr);
  if (!blob.ok()) return blob.status().WithContext("loading node " + addr.Hex());
  DL_ASSIGN_OR_RETURN(std::string canonical, UnwrapBlob(*blob, addr));
  DL_ASSIGN_OR_RETURN(NodePtr node, DecodeNode(canonical, addr));
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.loads;
  stats_.load_bytes += blob->size();
  InsertLocked(addr, node);
  return node;
}

void NodeSource::Remember(const NodePtr& node) {
  std::lock_guard<std::mutex> lock(mu_);
  InsertLocked(node->address(), node);
}

NodeSourceStats NodeSource::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  NodeSourceStats s = stats_;
  s.cached_bytes = bytes_;
  s.cached_nodes = map_.size();
  return s;
}

void NodeSource::SetCacheBytes(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  capacity_ = bytes;
  while (bytes_ > capacity_ && !lru_.empty()) {
    bytes_ -= lru_.back().second->MemoryBytes();
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void NodeSource::InsertLocked(const Address& addr, const NodePtr& node) {
  auto it = map_.find(addr);
  if (it != map_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(addr, node);
  map_.emplace(addr, lru_.begin());
  bytes_ += node->MemoryBytes();
  // Evict least recent, but always keep the node just inserted.
  while (bytes_ > capacity_ && lru_.size() > 1) {
    bytes_ -= lru_.back().second->MemoryBytes();
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

}  // namespace datalith::index
