#include "datalith/buffer_store.h"

#include <algorithm>

namespace datalith {

void BufferStore::Provide(const Address& addr, std::string blob) {
  size_t size = blob.size();
  if (blobs_.try_emplace(addr, Blob{std::move(blob)}).second) blob_bytes_ += size;
}

void BufferStore::ProvideHead(const std::string& name, std::optional<std::string> value) {
  if (value) heads_[name] = std::move(*value);
  else heads_.erase(name);
}

std::vector<Address> BufferStore::TakeMissing() {
  std::vector<Address> out;
  out.swap(missing_);
  missing_set_.clear();
  return out;
}

BufferStore::Pending BufferStore::TakePending() {
  Pending p;
  for (const Address& a : pending_blobs_) {
    auto it = blobs_.find(a);
    if (it == blobs_.end() || !it->second.pending) continue;
    p.blobs.emplace_back(a, Remove(it));
  }
  for (const std::string& name : pending_heads_) {
    auto it = heads_.find(name);
    if (it != heads_.end()) p.heads.emplace_back(name, it->second);
  }
  pending_blobs_.clear();
  pending_heads_.clear();
  return p;
}

void BufferStore::Trim() {
  for (const Address& a : read_) {
    auto it = blobs_.find(a);
    if (it != blobs_.end() && !it->second.pending) Remove(it);
  }
  read_.clear();
}

std::string BufferStore::Remove(std::unordered_map<Address, Blob, AddressHash>::iterator it) {
  blob_bytes_ -= it->second.bytes.size();
  std::string bytes = std::move(it->second.bytes);
  blobs_.erase(it);
  return bytes;
}

Result<std::string> BufferStore::Get(const Address& addr) {
  auto it = blobs_.find(addr);
  if (it != blobs_.end()) {
    if (!it->second.read && !it->second.pending && !retain_) {
      it->second.read = true;
      read_.push_back(addr);
    }
    return it->second.bytes;
  }
  if (missing_set_.insert(addr).second) missing_.push_back(addr);
  return Status::MissingNode("blob " + addr.Hex() + " is not loaded yet");
}

Status BufferStore::Put(const std::vector<std::pair<Address, std::string>>& blobs) {
  for (const auto& [addr, bytes] : blobs) {
    // A retaining buffer is the durable copy: nothing of it is pending.
    auto [it, fresh] = blobs_.try_emplace(addr, Blob{bytes, /*pending=*/!retain_});
    if (fresh) {
      blob_bytes_ += bytes.size();
      if (!retain_) pending_blobs_.push_back(addr);
    }
  }
  return Status::Ok();
}

Result<std::optional<std::string>> BufferStore::GetHead(const std::string& name) {
  auto it = heads_.find(name);
  if (it == heads_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status BufferStore::CasHead(const std::string& name, const std::optional<std::string>& expected,
                            const std::string& value) {
  auto it = heads_.find(name);
  std::optional<std::string> current;
  if (it != heads_.end()) current = it->second;
  if (current != expected) return Status::Conflict("head `" + name + "` changed concurrently");
  heads_[name] = value;
  // One entry per head: only its latest value needs to reach durable storage.
  if (!retain_ && std::find(pending_heads_.begin(), pending_heads_.end(), name) == pending_heads_.end())
    pending_heads_.push_back(name);
  return Status::Ok();
}

Result<std::vector<std::string>> BufferStore::ListHeads() {
  std::vector<std::string> out;
  for (const auto& [name, _] : heads_) out.push_back(name);
  return out;
}

Status BufferStore::DeleteHead(const std::string& name) {
  heads_.erase(name);
  return Status::Ok();
}

// Only what is held here: GC of the durable storage behind a buffer is its owner's.
Result<std::vector<Address>> BufferStore::List() {
  std::vector<Address> out;
  for (const auto& [addr, _] : blobs_) out.push_back(addr);
  std::sort(out.begin(), out.end());
  return out;
}

Status BufferStore::Delete(const Address& addr) {
  auto it = blobs_.find(addr);
  if (it != blobs_.end()) Remove(it);
  return Status::Ok();
}

}  // namespace datalith
