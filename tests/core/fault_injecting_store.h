// A store for crash tests: wraps another and fails, as if the process had died, every
// operation after the first `ops_before_crash` mutating ones. Test-only.
#pragma once

#include <memory>

#include "datalith/store.h"

namespace datalith {

// Wraps a store and fails (as if the process died) every operation after
// the first `ops_before_crash` mutating operations (Put, Sync, CasHead, Delete,
// DeleteHead). A Put of many blobs may be cut in the middle. Reads keep working.
class FaultInjectingStore : public Store {
 public:
  FaultInjectingStore(std::shared_ptr<Store> base, int64_t ops_before_crash);
  bool crashed() const { return crashed_; }
  int64_t mutating_ops() const { return ops_; }

  Result<std::string> Get(const Address& addr) override;
  Status Put(const std::vector<std::pair<Address, std::string>>& blobs) override;
  Status Sync() override;
  Result<std::optional<std::string>> GetHead(const std::string& name) override;
  Status CasHead(const std::string& name, const std::optional<std::string>& expected,
                 const std::string& value) override;
  Result<std::vector<std::string>> ListHeads() override;
  Status DeleteHead(const std::string& name) override;
  Result<std::vector<Address>> List() override;
  Status Delete(const Address& addr) override;

 private:
  bool Step();  // counts one mutating op; false once crashed
  std::shared_ptr<Store> base_;
  int64_t budget_;
  int64_t ops_ = 0;
  bool crashed_ = false;
};

}  // namespace datalith
