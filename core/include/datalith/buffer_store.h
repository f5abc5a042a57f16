// BufferStore: the Store of a database whose storage answers asynchronously (the
// browser's IndexedDB today; any store the core cannot wait on). docs/design.md,
// "Lazy loading", describes the whole path.
//
// The core is synchronous, so this store never waits. It answers from the blobs and
// heads its owner has provided; a Get of any other address returns kMissingNode (the
// one signal, carried up unchanged by every layer, that the call must be retried) and
// records the address, so the owner fetches everything a call lacked in one batch,
// provides it and calls again. The call changed nothing when it failed that way.
//
// Blobs are held only until they are decoded: once a call has read a provided blob and
// finished (Trim), the blob is dropped, since the node cache above holds the decoded
// node; a later miss fetches it again. Writes (Put, CasHead) are kept as *pending*
// until the owner takes them to durable storage (TakePending); taken blobs are dropped.
// Heads the owner has not provided count as absent.
// Single-threaded (the WASM build has one thread).
#pragma once

#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "datalith/store.h"

namespace datalith {

class BufferStore final : public Store {
 public:
  // `retain`: keep every provided blob (Trim does nothing), for a buffer that is the
  // only copy of its blobs (a replica kept in memory); its writes are not pending
  // either (TakePending has nothing to take): the buffer is where they are kept.
  explicit BufferStore(bool retain = false) : retain_(retain) {}

  // A blob or a head value the owner read. A head with no value is absent.
  void Provide(const Address& addr, std::string blob);
  void ProvideHead(const std::string& name, std::optional<std::string> value);
  // Addresses asked for and missing since the last call (each once).
  std::vector<Address> TakeMissing();
  // Blobs then heads written since the last call, in write order. The blobs leave the
  // buffer (the caller makes them durable; the decoded nodes stay cached above).
  struct Pending {
    std::vector<std::pair<Address, std::string>> blobs;
    std::vector<std::pair<std::string, std::string>> heads;
  };
  Pending TakePending();
  // Drops the provided blobs that Get has returned since the last Trim. Call it after a
  // call that did not end in kMissingNode: a call that is retried still finds every blob
  // it read in the rounds before (so a working set larger than the node cache cannot
  // make it refetch forever).
  void Trim();
  // Whether the blob is held now (records no miss).
  bool Holds(const Address& addr) const { return blobs_.count(addr) > 0; }
  // Blobs held (provided and not yet read and trimmed, or pending).
  size_t blob_count() const { return blobs_.size(); }
  size_t blob_bytes() const { return blob_bytes_; }

  Result<std::string> Get(const Address& addr) override;
  bool MayMissNodes() const override { return true; }
  Status Put(const std::vector<std::pair<Address, std::string>>& blobs) override;
  Status Sync() override { return Status::Ok(); }
  Result<std::optional<std::string>> GetHead(const std::string& name) override;
  Status CasHead(const std::string& name, const std::optional<std::string>& expected,
                 const std::string& value) override;
  Result<std::vector<std::string>> ListHeads() override;
  Status DeleteHead(const std::string& name) override;
  Result<std::vector<Address>> List() override;
  Status Delete(const Address& addr) override;

 private:
  struct Blob {
    std::string bytes;
    bool pending = false;  // written by the core, not yet taken
    bool read = false;     // returned by Get since the last Trim
  };
  // Takes the blob out of the buffer (and its bytes out of blob_bytes_).
  std::string Remove(std::unordered_map<Address, Blob, AddressHash>::iterator it);

  const bool retain_;
  std::unordered_map<Address, Blob, AddressHash> blobs_;
  size_t blob_bytes_ = 0;
  std::map<std::string, std::string> heads_;
  std::vector<Address> missing_;
  std::unordered_set<Address, AddressHash> missing_set_;
  std::vector<Address> read_;
  std::vector<Address> pending_blobs_;
  std::vector<std::string> pending_heads_;  // names; values are read at take time
};

}  // namespace datalith
