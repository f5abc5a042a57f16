#include "listener.h"

#include <algorithm>

#include "http_session.h"
#include "log.h"

namespace datalith::server {

namespace {

// After a failed accept (out of file descriptors, say) the next waits this long,
// doubling up to the maximum while they keep failing, instead of spinning on the error.
constexpr auto kRetryMin = std::chrono::milliseconds(10);
constexpr auto kRetryMax = std::chrono::seconds(1);
// At most one accept_failed line per this interval (with the count of the others).
constexpr auto kLogEvery = std::chrono::seconds(10);

}  // namespace

Listener::Listener(net::io_context& ioc, std::shared_ptr<ServerState> state)
    : ioc_(ioc), acceptor_(net::make_strand(ioc)), retry_(acceptor_.get_executor()), state_(std::move(state)) {}

beast::error_code Listener::Open(const tcp::endpoint& ep) {
  beast::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  return ec;
}

uint16_t Listener::port() const { return acceptor_.local_endpoint().port(); }

void Listener::Run() { DoAccept(); }

void Listener::Stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->retry_.cancel();
  });
}

void Listener::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
}

void Listener::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (!ec) {
    delay_ = std::chrono::milliseconds(0);
    // Small messages (a head after its NODES frame, tx_ok) must not wait for the
    // peer's delayed ACK (Nagle): that added ~40 ms to every pushed update.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<HttpSession>(std::move(socket), state_)->Run();
    return DoAccept();
  }
  delay_ = std::clamp(delay_ * 2, std::chrono::milliseconds(kRetryMin), std::chrono::milliseconds(kRetryMax));
  failures_++;
  auto now = std::chrono::steady_clock::now();
  if (now - last_log_ >= kLogEvery) {
    Log("warn", "accept_failed", {{"error", ec.message()}, {"failures", std::to_string(failures_)},
                                  {"retry_ms", std::to_string(delay_.count())}});
    last_log_ = now;
    failures_ = 0;
  }
  retry_.expires_after(delay_);
  retry_.async_wait([self = shared_from_this()](beast::error_code e) {
    if (!e && self->acceptor_.is_open()) self->DoAccept();
  });
}

}  // namespace datalith::server
