#include "index/node.h"

#include <zstd.h>  // decoder only when DATALITH_NO_ZSTD_COMPRESS (the WASM build)

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
// Blob codecs. Do not renumber.
constexpr uint8_t kCodecRaw = 0;
constexpr uint8_t kCodecZstd = 1;
#ifndef DATALITH_NO_ZSTD_COMPRESS
// Fast level: node blobs are small and written on every flush. Level -1 (zstd's
// first "fast" level) compresses prefix-compressed nodes within ~1% of level 1 and
// takes noticeably less time on a bulk load.
constexpr int kZstdLevel = -1;
#endif
constexpr size_t kMaxNodeBytes = 64 << 20;
constexpr size_t kMaxKeyBytes = 1 << 20;

Status Corrupt(const Address& addr, const std::string& what) {
  return Status::Corruption("node " + addr.Hex() + ": " + what);
}

int Cmp(std::string_view a, std::string_view b) { return a.compare(b); }

}  // namespace

Address Child::address() const { return ptr ? ptr->address() : addr; }

size_t KeyList::LowerBound(std::string_view k, size_t lo, size_t hi) const {
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (Cmp((*this)[mid], k) < 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

size_t KeyList::UpperBound(std::string_view k) const {
  size_t lo = 0, hi = size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (Cmp((*this)[mid], k) <= 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

size_t Node::MemoryBytes() const {
  return sizeof(Node) + keys.bytes() + keys.size() * sizeof(uint32_t) +
         children.size() * sizeof(Child);
}

std::string EncodeNode(const Node& node) {
  std::string out;
  out.reserve(node.keys.bytes() / 2 + node.size() * (node.leaf() ? 3 : 24) + 16);
  out.push_back(static_cast<char>(kFormatVersion));
  out.push_back(static_cast<char>(node.leaf() ? kKindLeaf : kKindBranch));
  out.push_back(static_cast<char>(node.level));
  PutVarint(&out, node.size());
  // Keys, prefix-compressed against the previous key.
  std::string_view prev;
  for (size_t i = 0; i < node.size(); ++i) {
    std::string_view k = node.keys[i];
    size_t shared = 0, lim = std::min(prev.size(), k.size());
    while (shared < lim && prev[shared] == k[shared]) ++shared;
    PutVarint(&out, shared);
    PutVarint(&out, k.size() - shared);
    out.append(k.substr(shared));
    prev = k;
  }
  if (!node.leaf()) {
    for (const Child& c : node.children) {
      Address a = c.address();
      out.append(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
      PutVarint(&out, c.count);
    }
  }
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
  auto node = std::make_shared<Node>();
  node->level = level;
  node->keys.Reserve(n, in.size() * 2);
  std::string key;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t shared, rest;
    if (!GetVarint(in, &pos, &shared) || !GetVarint(in, &pos, &rest))
      return Corrupt(addr, "truncated key " + std::to_string(i));
    if (shared > key.size() || rest > in.size() - pos || shared + rest > kMaxKeyBytes)
      return Corrupt(addr, "key " + std::to_string(i) + " out of bounds");
    std::string next = key.substr(0, shared);
    next.append(in.substr(pos, rest));
    pos += rest;
    if (i > 0 && Cmp(key, next) >= 0)
      return Corrupt(addr, "keys not strictly ascending at entry " + std::to_string(i));
    key = std::move(next);
    node->keys.Add(key);
  }
  if (kind == kKindLeaf) {
    node->count = n;
  } else {
    if (n == 0) return Corrupt(addr, "empty branch");
    node->children.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      Child& c = node->children[i];
      if (in.size() - pos < c.addr.bytes.size())
        return Corrupt(addr, "truncated child address " + std::to_string(i));
      std::memcpy(c.addr.bytes.data(), in.data() + pos, c.addr.bytes.size());
      pos += c.addr.bytes.size();
      if (!GetVarint(in, &pos, &c.count) || c.count == 0)
        return Corrupt(addr, "bad count of child " + std::to_string(i));
      node->count += c.count;
    }
  }
  if (pos != in.size()) return Corrupt(addr, "trailing bytes after node");
  node->SetAddress(addr);
  return NodePtr(std::move(node));
}

std::string WrapBlob(const std::string& canonical) {
#ifdef DATALITH_NO_ZSTD_COMPRESS
  // Builds without zstd's compressor (docs/wasm.md) write raw blobs; the address is
  // of the canonical bytes, so it is the same either way.
  std::string out(1, static_cast<char>(kCodecRaw));
  out.append(canonical);
  return out;
#else
  std::string out;
  size_t bound = ZSTD_compressBound(canonical.size());
  out.resize(1 + bound);
  // One compression context per thread: creating one per node costs more than
  // compressing a small node.
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(),
                                                                        ZSTD_freeCCtx);
  size_t n = ZSTD_compressCCtx(cctx.get(), out.data() + 1, bound, canonical.data(),
                               canonical.size(), kZstdLevel);
  if (ZSTD_isError(n) || n >= canonical.size()) {
    out.assign(1, static_cast<char>(kCodecRaw));
    out.append(canonical);
    return out;
  }
  out[0] = static_cast<char>(kCodecZstd);
  out.resize(1 + n);
  return out;
#endif
}

Result<std::string> UnwrapBlob(std::string_view blob, const Address& addr) {
  if (blob.empty()) return Corrupt(addr, "empty blob");
  std::string canonical;
  uint8_t codec = static_cast<uint8_t>(blob[0]);
  std::string_view payload = blob.substr(1);
  if (codec == kCodecRaw) {
    canonical.assign(payload);
  } else if (codec == kCodecZstd) {
    unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxNodeBytes)
      return Corrupt(addr, "bad zstd frame");
    canonical.resize(size);
    size_t n = ZSTD_decompress(canonical.data(), size, payload.data(), payload.size());
    if (ZSTD_isError(n) || n != size)
      return Corrupt(addr, std::string("zstd: ") + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch"));
  } else {
    return Corrupt(addr, "unknown blob codec " + std::to_string(codec));
  }
  if (Address::Of(canonical) != addr) return Corrupt(addr, "content does not match its address");
  return canonical;
}

}  // namespace datalith::index
