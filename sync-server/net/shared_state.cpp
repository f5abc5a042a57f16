#include "shared_state.h"

#include <malloc.h>

#include <filesystem>

namespace datalith::server {

namespace {

std::string Resolve(const std::string& dir) {
  if (dir.empty()) return "";
  std::error_code ec;
  auto p = std::filesystem::canonical(dir, ec);
  return ec ? dir : p.string();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ServerState::ServerState(ServerConfig c)
    : config(std::move(c)),
      registry(config.registry),
      static_root(Resolve(config.static_dir)),
      metrics_digest(config.metrics_token.empty() ? std::nullopt
                                                  : std::optional<sync::Digest>(sync::Sha256(config.metrics_token))) {}

void ServerState::Register(const std::shared_ptr<WebSocketSession>& s) {
  std::lock_guard<std::mutex> lock(mu);
  std::erase_if(sessions, [](const auto& w) { return w.expired(); });
  sessions.push_back(s);
}

std::vector<std::shared_ptr<WebSocketSession>> ServerState::LiveSessions() {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<std::shared_ptr<WebSocketSession>> out;
  for (const auto& w : sessions) {
    if (auto s = w.lock()) out.push_back(std::move(s));
  }
  return out;
}

void ServerState::Written(size_t bytes) {
  queued_ -= bytes;
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard<std::mutex> lock(mu);
    wake.swap(budget_waiters_);
  }
  for (auto& w : wake) w();
}

void ServerState::WaitForBudget(std::function<void()> wake) {
  {
    std::lock_guard<std::mutex> lock(mu);
    // If every queued byte was written between the refusal and here, nobody is left
    // to wake this one: wake it at once.
    if (queued_.load() > 0) {
      budget_waiters_.push_back(std::move(wake));
      return;
    }
  }
  wake();
}

void ServerState::TrimHeap() {
  int64_t now = NowMs(), last = last_trim_ms_.load();
  if (now - last < 1000 || !last_trim_ms_.compare_exchange_strong(last, now)) return;
  malloc_trim(0);
}

}  // namespace datalith::server
