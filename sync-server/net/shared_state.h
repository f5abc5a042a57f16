// What every connection of datalith-server shares: the configuration, the hosted
// databases (sync::Registry), the counters behind /metrics and the graceful shutdown,
// and the live WebSocket sessions (told to close at shutdown). Per-database state is
// in sync::Database. Thread-safe: the flags and counters are atomic, the list of
// sessions is guarded by `mu`.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "config.h"

namespace datalith::server {

class WebSocketSession;

struct ServerState {
  explicit ServerState(ServerConfig c) : config(std::move(c)), registry(config.registry) {}
  const ServerConfig config;
  sync::Registry registry;
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> ws_sessions{0};   // live WebSocket sessions
  std::atomic<uint64_t> http_busy{0};     // HTTP requests being answered
  std::atomic<uint64_t> http_requests{0};

  std::mutex mu;
  std::vector<std::weak_ptr<WebSocketSession>> sessions;
  void Register(const std::shared_ptr<WebSocketSession>& s);
  std::vector<std::shared_ptr<WebSocketSession>> LiveSessions();
};

}  // namespace datalith::server
