// Accepts TCP connections on the listen address, each onto its own strand, and starts
// an HttpSession for each (with TCP_NODELAY). A failed accept (no file descriptor left)
// is retried after a growing delay and logged at most every 10 s. Stop() closes the
// acceptor (at shutdown).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "beast.h"
#include "shared_state.h"

namespace datalith::server {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, std::shared_ptr<ServerState> state);

  // Opens, binds and listens; the error names what failed.
  beast::error_code Open(const tcp::endpoint& ep);
  uint16_t port() const;
  void Run();
  void Stop();  // any thread

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;  // on the acceptor's strand
  std::chrono::milliseconds delay_{0};
  uint64_t failures_ = 0;    // since the last accept_failed line
  std::chrono::steady_clock::time_point last_log_{};
  std::shared_ptr<ServerState> state_;
};

}  // namespace datalith::server
