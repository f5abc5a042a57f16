// The network half of datalith-server, in the shape of Beast's own server examples:
// a Listener accepts connections onto their own strand; an HttpSession serves health,
// metrics, static files and the transact endpoint, and hands WebSocket upgrades on
// /sync to a WebSocketSession, which runs the protocol (sync::ClientSync) with a bounded
// write queue. Shared state lives in ServerState; per-database state in sync::Database.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <memory>
#include <mutex>
#include <vector>

#include "config.h"

namespace datalith::server {

namespace net = boost::asio;

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

// Runs the server until SIGINT/SIGTERM, then shuts down gracefully: stop accepting,
// commit and answer every queued transaction, close every session with 1001.
int Run(ServerConfig config);

}  // namespace datalith::server
