// In-process Store backend: two maps behind one mutex. Used by tests, the WASM build
// and ephemeral databases; nothing is shared with other processes.
#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

#include "datalith/store.h"
#include "storage/head_name.h"

namespace datalith {

namespace {

class MemoryStore final : public Store {
 public:
  Result<std::string> Get(const Address& addr) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blobs_.find(addr);
    if (it == blobs_.end()) return Status::NotFound("blob " + addr.Hex());
    return it->second;
  }

  Status Put(const std::vector<std::pair<Address, std::string>>& blobs) override {
    std::lock_guard<std::mutex> lock(mu_);
    // try_emplace keeps the first copy: content addressing makes repeats identical.
    for (const auto& [addr, bytes] : blobs) blobs_.try_emplace(addr, bytes);
    return Status::Ok();
  }

  Status Sync() override { return Status::Ok(); }  // memory is as durable as it gets

  Result<std::optional<std::string>> GetHead(const std::string& name) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = heads_.find(name);
    if (it == heads_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  Status CasHead(const std::string& name, const std::optional<std::string>& expected,
                 const std::string& value) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = heads_.find(name);
    std::optional<std::string> current;
    if (it != heads_.end()) current = it->second;
    if (current != expected) {
      return Status::Conflict("head `" + name + "` changed concurrently");
    }
    heads_[name] = value;
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListHeads() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    out.reserve(heads_.size());
    for (const auto& [name, _] : heads_) out.push_back(name);
    return out;
  }

  Status DeleteHead(const std::string& name) override {
    DL_RETURN_IF_ERROR(CheckHeadName(name));
    std::lock_guard<std::mutex> lock(mu_);
    heads_.erase(name);
    return Status::Ok();
  }

  Result<std::vector<Address>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Address> out;
    out.reserve(blobs_.size());
    for (const auto& [addr, _] : blobs_) out.push_back(addr);
    std::sort(out.begin(), out.end());  // deterministic, like the file store
    return out;
  }

  Status Delete(const Address& addr) override {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_.erase(addr);
    return Status::Ok();
  }

 private:
  std::mutex mu_;
  std::unordered_map<Address, std::string, AddressHash> blobs_;
  std::map<std::string, std::string> heads_;  // ordered so ListHeads is sorted
};

}  // namespace

std::shared_ptr<Store> MakeMemoryStore() { return std::make_shared<MemoryStore>(); }

}  // namespace datalith
