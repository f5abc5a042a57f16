#include "index/node.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "util/varint.h"

namespace datalith::index {
namespace {

constexpr uint8_t kFormatVersion = 1;
// Node kinds in the canonical bytes. Do not renumber.
constexpr uint8_t kKindLeaf = 1;
constexpr uint8_t kKindBranch = 2;
constexpr size_t kMaxKeyBytes = 1 << 20;

int Cmp(std::string_view a, std::string_view b) { return a.compare(b); }

}  // namespace

Address Child::address() const { return ptr ? ptr->address() : addr; }

size_t Keys::LowerBound(std::string_view k, size_t lo, size_t hi) const {
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (Cmp((*this)[mid], k) < 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

size_t Keys::UpperBound(std::string_view k) const {
  size_t lo = 0, hi = size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (Cmp((*this)[mid], k) <= 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

void KeyList::AppendRange(Keys src, size_t b, size_t e) {
  if (b >= e) return;
  uint32_t from = src.begin_of(b);
  uint32_t base = static_cast<uint32_t>(data_.size());
  data_.append(src.data() + from, src.ends()[e - 1] - from);
  for (size_t i = b; i < e; ++i) ends_.push_back(src.ends()[i] - from + base);
}

// Layout after the header: uint32_t ends[n], padding to 8, Child children[n] (branch
// only), key bytes.
namespace {
size_t ChildrenOffset(size_t n) { return (sizeof(Node) + n * sizeof(uint32_t) + 7) & ~size_t{7}; }
size_t DataOffset(uint8_t level, size_t n) {
  return ChildrenOffset(n) + (level == 0 ? 0 : n * sizeof(Child));
}

// Node blocks are recycled through a small per-thread cache of free blocks per size
// class: path copies free and allocate nodes of the same few sizes over and over, and
// blocks of a few KB take the general allocator's slow path.
constexpr size_t kClassBytes = 256;
constexpr size_t kClasses = 64;  // blocks up to 16 KB are cached
constexpr uint32_t kMaxFreePerClass = 32;
// Under ASan or TSan every block goes back to the allocator: a node used after its
// block was recycled here would be invisible to ASan, and TSan tracks memory reuse
// only through the allocator.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kRecycleBlocks = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kRecycleBlocks = false;
#else
constexpr bool kRecycleBlocks = true;
#endif
#else
constexpr bool kRecycleBlocks = true;
#endif

struct FreeBlock {
  FreeBlock* next;
};
// Trivially destructible, so still usable while the thread's destructors run.
struct BlockCache {
  FreeBlock* head[kClasses];
  uint32_t count[kClasses];
  bool closed;
};
thread_local BlockCache t_blocks;
struct BlockCacheReaper {
  ~BlockCacheReaper() {
    t_blocks.closed = true;
    for (size_t c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = t_blocks.head[c]) {
        t_blocks.head[c] = b->next;
        ::operator delete(b);
      }
      t_blocks.count[c] = 0;
    }
  }
};
thread_local BlockCacheReaper t_reaper;

size_t RoundToClass(size_t bytes) { return (bytes + kClassBytes - 1) / kClassBytes * kClassBytes; }

void* AllocateBlock(size_t rounded) {
  size_t c = rounded / kClassBytes;
  if (kRecycleBlocks && c < kClasses && t_blocks.head[c]) {
    FreeBlock* b = t_blocks.head[c];
    t_blocks.head[c] = b->next;
    --t_blocks.count[c];
    return b;
  }
  return ::operator new(rounded);
}

void FreeBlockOf(void* p, size_t rounded) {
  size_t c = rounded / kClassBytes;
  if (kRecycleBlocks && c < kClasses && !t_blocks.closed && t_blocks.count[c] < kMaxFreePerClass) {
    (void)&t_reaper;  // registers the cache's cleanup for this thread
    auto* b = static_cast<FreeBlock*>(p);
    b->next = t_blocks.head[c];
    t_blocks.head[c] = b;
    ++t_blocks.count[c];
    return;
  }
  ::operator delete(p);
}

}  // namespace

uint32_t* Node::ends_ptr() const {
  return reinterpret_cast<uint32_t*>(const_cast<char*>(reinterpret_cast<const char*>(this)) + sizeof(Node));
}
Child* Node::children_ptr() const {
  return reinterpret_cast<Child*>(const_cast<char*>(reinterpret_cast<const char*>(this)) +
                                  ChildrenOffset(n_));
}
char* Node::data_ptr() const {
  return const_cast<char*>(reinterpret_cast<const char*>(this)) + DataOffset(level, n_);
}

NodeBuilder::NodeBuilder(uint8_t level, size_t n, size_t key_bytes) {
  size_t total = RoundToClass(DataOffset(level, n) + key_bytes);
  void* mem = AllocateBlock(total);
  node_ = new (mem) Node();
  node_->level = level;
  node_->n_ = static_cast<uint32_t>(n);
  node_->alloc_bytes_ = static_cast<uint32_t>(total);
  if (level == 0) {
    node_->count = n;
  } else {
    Child* c = node_->children_ptr();
    for (size_t i = 0; i < n; ++i) new (c + i) Child();
  }
}

NodeBuilder::~NodeBuilder() {
  if (node_) DestroyNode(node_);
}

void NodeBuilder::Add(std::string_view key) {
  uint32_t at = filled_ == 0 ? 0 : node_->ends_ptr()[filled_ - 1];
  std::memcpy(node_->data_ptr() + at, key.data(), key.size());
  node_->ends_ptr()[filled_++] = at + static_cast<uint32_t>(key.size());
}

void NodeBuilder::AppendRange(Keys src, size_t b, size_t e) {
  if (b >= e) return;
  uint32_t at = filled_ == 0 ? 0 : node_->ends_ptr()[filled_ - 1];
  uint32_t from = src.begin_of(b);
  std::memcpy(node_->data_ptr() + at, src.data() + from, src.ends()[e - 1] - from);
  uint32_t* ends = node_->ends_ptr();
  for (size_t i = b; i < e; ++i) ends[filled_++] = src.ends()[i] - from + at;
}

NodePtr NodeBuilder::Finish() {
  Node* n = node_;
  node_ = nullptr;
  if (!n->leaf()) {
    n->count = 0;
    for (const Child& c : n->children()) n->count += c.count;
  }
  return NodePtr(n);
}

NodePtr Detached(const NodePtr& node) {
  if (node->leaf()) return node;
  Keys keys = node->keys();
  NodeBuilder b(node->level, node->size(), keys.bytes());
  b.AppendRange(keys, 0, node->size());
  Child* kids = b.children();
  for (size_t i = 0; i < node->size(); ++i) {
    const Child& c = node->children()[i];
    kids[i].addr = c.address();
    kids[i].count = c.count;
  }
  NodePtr out = b.Finish();
  out->SetAddress(node->address());
  return out;
}

void DestroyNode(const Node* node) {
  if (!node->leaf()) {
    Child* c = node->children_ptr();
    for (size_t i = 0; i < node->n_; ++i) c[i].~Child();
  }
  size_t bytes = node->alloc_bytes_;
  node->~Node();
  FreeBlockOf(const_cast<Node*>(node), bytes);
}

std::string EncodeNode(const Node& node) {
  Keys keys = node.keys();
  const size_t n = node.size();
  // Written through a pointer into room for the largest encoding, then trimmed: one
  // allocation and no per-byte string calls (slow in the WASM build's libc++).
  std::string out(3 + kMaxVarint + n * 2 * kMaxVarint + keys.bytes() +
                      (node.leaf() ? 0 : n * (sizeof(Address::bytes) + kMaxVarint)),
                  '\0');
  char* p = out.data();
  *p++ = static_cast<char>(kFormatVersion);
  *p++ = static_cast<char>(node.leaf() ? kKindLeaf : kKindBranch);
  *p++ = static_cast<char>(node.level);
  p = StoreVarint(p, n);
  // Keys, prefix-compressed against the previous key.
  std::string_view prev;
  for (size_t i = 0; i < n; ++i) {
    std::string_view k = keys[i];
    size_t shared = 0, lim = std::min(prev.size(), k.size());
    while (shared < lim && prev[shared] == k[shared]) ++shared;
    p = StoreVarint(p, shared);
    p = StoreVarint(p, k.size() - shared);
    std::memcpy(p, k.data() + shared, k.size() - shared);
    p += k.size() - shared;
    prev = k;
  }
  if (!node.leaf()) {
    for (const Child& c : node.children()) {
      Address a = c.address();
      std::memcpy(p, a.bytes.data(), a.bytes.size());
      p = StoreVarint(p + a.bytes.size(), c.count);
    }
  }
  out.resize(static_cast<size_t>(p - out.data()));
  return out;
}

Result<NodePtr> DecodeNode(std::string_view in, const Address& addr) {
  size_t pos = 0;
  auto byte = [&](uint8_t* b) {
    if (pos >= in.size()) return false;
    *b = static_cast<uint8_t>(in[pos++]);
    return true;
  };
  uint8_t version, kind, level;
  if (!byte(&version) || !byte(&kind) || !byte(&level)) return Corrupt(addr, "truncated header");
  if (version != kFormatVersion)
    return Corrupt(addr, "unsupported format version " + std::to_string(version));
  if (kind != kKindLeaf && kind != kKindBranch)
    return Corrupt(addr, "unknown node kind " + std::to_string(kind));
  if ((kind == kKindLeaf) != (level == 0)) return Corrupt(addr, "level does not match kind");
  uint64_t n;
  if (!GetVarint(in, &pos, &n) || n > in.size()) return Corrupt(addr, "bad entry count");
  // Keys first (into a reused buffer), then the node at its exact size.
  thread_local KeyList keys;
  keys.Clear();
  std::string key;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t shared, rest;
    if (!GetVarint(in, &pos, &shared) || !GetVarint(in, &pos, &rest))
      return Corrupt(addr, "truncated key " + std::to_string(i));
    if (shared > key.size() || rest > in.size() - pos || shared + rest > kMaxKeyBytes)
      return Corrupt(addr, "key " + std::to_string(i) + " out of bounds");
    std::string_view tail = in.substr(pos, rest);
    pos += rest;
    // Both share their first `shared` bytes: compare the rest.
    if (i > 0 && Cmp(std::string_view(key).substr(shared), tail) >= 0)
      return Corrupt(addr, "keys not strictly ascending at entry " + std::to_string(i));
    key.resize(shared);
    key.append(tail);
    keys.Add(key);
  }
  if (kind == kKindBranch && n == 0) return Corrupt(addr, "empty branch");
  NodeBuilder b(level, n, keys.bytes());
  b.AppendRange(keys.view(), 0, n);
  if (kind == kKindBranch) {
    Child* kids = b.children();
    for (uint64_t i = 0; i < n; ++i) {
      Child& c = kids[i];
      if (in.size() - pos < c.addr.bytes.size())
        return Corrupt(addr, "truncated child address " + std::to_string(i));
      std::memcpy(c.addr.bytes.data(), in.data() + pos, c.addr.bytes.size());
      pos += c.addr.bytes.size();
      if (!GetVarint(in, &pos, &c.count) || c.count == 0)
        return Corrupt(addr, "bad count of child " + std::to_string(i));
    }
  }
  if (pos != in.size()) return Corrupt(addr, "trailing bytes after node");
  NodePtr node = b.Finish();
  node->SetAddress(addr);
  return node;
}

}  // namespace datalith::index
