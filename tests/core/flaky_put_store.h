// A store for tests: delegates to a memory store, and its Puts fail while `failing` is
// set (a disk that fills, then frees). Test-only; header-only, so the sync server's
// tests use it too.
#pragma once

#include <atomic>
#include <memory>

#include "datalith/store.h"

namespace datalith {

class FlakyPutStore : public Store {
 public:
  std::atomic<bool> failing{false};
  Result<std::string> Get(const Address& a) override { return base_->Get(a); }
  Status Put(const std::vector<std::pair<Address, std::string>>& blobs) override {
    if (failing) return Status::IOError("test: disk full");
    return base_->Put(blobs);
  }
  Status Sync() override { return base_->Sync(); }
  Result<std::optional<std::string>> GetHead(const std::string& n) override { return base_->GetHead(n); }
  Status CasHead(const std::string& n, const std::optional<std::string>& expected, const std::string& v) override {
    return base_->CasHead(n, expected, v);
  }
  Result<std::vector<std::string>> ListHeads() override { return base_->ListHeads(); }
  Status DeleteHead(const std::string& n) override { return base_->DeleteHead(n); }
  Result<std::vector<Address>> List() override { return base_->List(); }
  Status Delete(const Address& a) override { return base_->Delete(a); }
  // What was stored, without the failures: for a fresh connection to read back.
  std::shared_ptr<Store> base() const { return base_; }

 private:
  std::shared_ptr<Store> base_ = MakeMemoryStore();
};

}  // namespace datalith
