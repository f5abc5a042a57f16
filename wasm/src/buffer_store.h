// BufferStore: the Store behind a browser database, fed by JS (docs/wasm.md).
//
// The core is synchronous and IndexedDB is not, so this store never waits: it answers
// from the blobs and heads JS has provided, and a Get of any other address returns
// kMissingNode and records the address for JS to fetch in one batch. Writes (Put,
// CasHead) are kept and also queued as *pending* until JS drains them into IndexedDB.
// Heads JS has not provided count as absent: JS provides a branch's head (or its
// absence) before it opens or creates the database.
// Single-threaded, like the WASM build.
#pragma once

#include <map>
#include <unordered_map>
#include <unordered_set>

#include "datalith/store.h"

namespace datalith::wasm {

class BufferStore final : public Store {
 public:
  // A blob or a head value read by JS. A head with no value is absent.
  void Provide(const Address& addr, std::string blob);
  void ProvideHead(const std::string& name, std::optional<std::string> value);
  // Whether the blob is here (without recording a miss).
  bool Has(const Address& addr) const { return blobs_.count(addr) > 0; }
  // Addresses asked for and missing since the last call.
  std::vector<Address> TakeMissing();
  // Blobs then heads written since the last call, in write order.
  struct Pending {
    std::vector<std::pair<Address, std::string>> blobs;
    std::vector<std::pair<std::string, std::string>> heads;
  };
  Pending TakePending();
  // Gets answered kMissingNode so far (never reset; for detecting misses in a call).
  size_t missing_recorded() const { return missing_recorded_; }

  Result<std::string> Get(const Address& addr) override;
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
  std::unordered_map<Address, std::string, AddressHash> blobs_;
  std::map<std::string, std::string> heads_;
  std::vector<Address> missing_;
  std::unordered_set<Address, AddressHash> missing_set_;
  size_t missing_recorded_ = 0;
  std::vector<Address> pending_blobs_;
  std::vector<std::string> pending_heads_;  // names; values are read at take time
};

}  // namespace datalith::wasm
