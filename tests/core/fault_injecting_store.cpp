// FaultInjectingStore: simulates a process dying after N mutating operations, so
// tests can check that every prefix of a commit's writes leaves a readable store.
#include "fault_injecting_store.h"

namespace datalith {

namespace {

Status Crashed() { return Status::IOError("injected crash"); }

}  // namespace

FaultInjectingStore::FaultInjectingStore(std::shared_ptr<Store> base, int64_t ops_before_crash)
    : base_(std::move(base)), budget_(ops_before_crash) {}

bool FaultInjectingStore::Step() {
  if (crashed_) return false;
  if (ops_ >= budget_) {
    crashed_ = true;  // sticky: a dead process does not come back
    return false;
  }
  ++ops_;
  return true;
}

Result<std::string> FaultInjectingStore::Get(const Address& addr) { return base_->Get(addr); }

Status FaultInjectingStore::Put(const std::vector<std::pair<Address, std::string>>& blobs) {
  // One op per blob, forwarded one at a time, so a crash can land mid-batch with the
  // first k blobs stored and the rest not, as with a real interrupted write.
  for (const auto& blob : blobs) {
    if (!Step()) return Crashed();
    DL_RETURN_IF_ERROR(base_->Put({blob}));
  }
  if (blobs.empty() && crashed_) return Crashed();
  return Status::Ok();
}

Status FaultInjectingStore::Sync() {
  if (!Step()) return Crashed();
  return base_->Sync();
}

Result<std::optional<std::string>> FaultInjectingStore::GetHead(const std::string& name) {
  return base_->GetHead(name);
}

Status FaultInjectingStore::CasHead(const std::string& name,
                                    const std::optional<std::string>& expected,
                                    const std::string& value) {
  if (!Step()) return Crashed();
  return base_->CasHead(name, expected, value);
}

Result<std::vector<std::string>> FaultInjectingStore::ListHeads() { return base_->ListHeads(); }

Status FaultInjectingStore::DeleteHead(const std::string& name) {
  if (!Step()) return Crashed();
  return base_->DeleteHead(name);
}

Result<std::vector<Address>> FaultInjectingStore::List() { return base_->List(); }

Status FaultInjectingStore::Delete(const Address& addr) {
  if (!Step()) return Crashed();
  return base_->Delete(addr);
}

}  // namespace datalith
