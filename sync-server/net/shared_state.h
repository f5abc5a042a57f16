// What every connection of datalith-server shares: the configuration, the hosted
// databases (sync::Registry), the counters behind /metrics and the graceful shutdown,
// the live WebSocket sessions (told to close at shutdown), and the budget all sessions'
// write queues share. Per-database state is in sync::Database. Thread-safe: the flags
// and counters are atomic, the lists are guarded by `mu`.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "sha256.h"

namespace datalith::server {

class WebSocketSession;

struct ServerState {
  explicit ServerState(ServerConfig c);
  const ServerConfig config;
  sync::Registry registry;
  // The static root, resolved (symlinks, `..`): served files must be under it. Empty
  // when there is none.
  const std::string static_root;
  // The SHA-256 of --metrics-token: /metrics answers only a request bearing it.
  const std::optional<sync::Digest> metrics_digest;
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> ws_sessions{0};   // live WebSocket sessions
  std::atomic<uint64_t> ws_pending{0};    // of those, before hello (max_pending_clients)
  std::atomic<uint64_t> http_busy{0};     // HTTP requests being answered
  std::atomic<uint64_t> http_requests{0};

  std::mutex mu;
  std::vector<std::weak_ptr<WebSocketSession>> sessions;
  void Register(const std::shared_ptr<WebSocketSession>& s);
  std::vector<std::shared_ptr<WebSocketSession>> LiveSessions();

  // The write budget: beyond one frame each, sessions produce frames only while all
  // their write queues together hold less than `write_queue_total_bytes`, so many slow
  // readers cannot hold more than that (plus a frame each). Sessions count what they
  // queue (Queued) and what was written or dropped (Written); one that found no budget
  // left registers `wake`, called once when bytes are written.
  void Queued(size_t bytes) { queued_ += bytes; }
  void Written(size_t bytes);
  bool BudgetLeft() const { return queued_.load() < registry.limits().write_queue_total_bytes; }
  void WaitForBudget(std::function<void()> wake);
  size_t queued_bytes() const { return queued_.load(); }

  // Gives freed heap pages back to the system (rate-limited): a burst of large frames
  // (many sessions' full syncs) otherwise stays in the process after they end.
  void TrimHeap();

 private:
  std::atomic<size_t> queued_{0};
  std::vector<std::function<void()>> budget_waiters_;  // guarded by mu
  std::atomic<int64_t> last_trim_ms_{0};
};

}  // namespace datalith::server
