#include "listener.h"

#include "http_session.h"
#include "log.h"

namespace datalith::server {

Listener::Listener(net::io_context& ioc, std::shared_ptr<ServerState> state)
    : ioc_(ioc), acceptor_(net::make_strand(ioc)), state_(std::move(state)) {}

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
  });
}

void Listener::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
}

void Listener::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    Log("warn", "accept_failed", {{"error", ec.message()}});
  } else {
    // Small messages (a head after its NODES frame, tx_ok) must not wait for the
    // peer's delayed ACK (Nagle): that added ~40 ms to every pushed update.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<HttpSession>(std::move(socket), state_)->Run();
  }
  DoAccept();
}

}  // namespace datalith::server
