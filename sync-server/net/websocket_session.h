// One WebSocket client on /sync, after HttpSession handed over the upgrade: accepts it,
// feeds the client's messages to its sync::ClientSync (the protocol, without I/O) and
// writes what that produces through a write queue bounded by `write_queue_bytes` (node
// frames are produced only while the queue has room and, beyond one frame, while the
// server-wide budget has room; reading pauses while the queue is full). Before hello a
// client may send only `max_hello_bytes` and must send hello within `hello_timeout_ms`;
// any message must arrive whole within `message_timeout_ms` of its first byte. Lives on
// its connection's strand; logs ws_open, hello, ws_error, ws_timeout, ws_close.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "beast.h"
#include "client_sync.h"
#include "shared_state.h"

namespace datalith::server {

class WebSocketSession : public std::enable_shared_from_this<WebSocketSession> {
 public:
  // Counts itself in ServerState::ws_pending until its client's hello is accepted.
  WebSocketSession(tcp::socket&& socket, std::shared_ptr<ServerState> state);
  ~WebSocketSession();

  // Accepts the upgrade request (read by HttpSession) and starts the session.
  void Run(http::request<http::string_body>&& req);

  // Called from any thread at shutdown: tells the client and closes with 1001.
  void Shutdown();

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec);
  void DoRead();
  void OnRead(beast::error_code ec, size_t);
  void OnMessage();
  // The client's hello was accepted: it counts as a client, and may send full-size messages.
  void Authenticated();
  // No longer counted in ServerState::ws_pending (hello accepted, closing or gone).
  void LeavePending();
  // Moves the protocol's output into the write queue, producing node frames while the
  // queue (and the server's budget) has room, and starts the next write (or the close).
  void Flush();
  void DoWrite();
  void OnWrite(beast::error_code ec, size_t n);
  void DoClose();
  // Ends the session with a `timeout` error (`what` says which), closing the socket
  // outright if the close handshake cannot start.
  void TimeOut(const std::string& what);

  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<ServerState> state_;
  const sync::Limits limits_;
  std::optional<http::request<http::string_body>> upgrade_;
  beast::flat_buffer buffer_;
  std::shared_ptr<sync::ClientSync> sync_;
  std::deque<sync::ClientSync::Outgoing> queue_;
  size_t queue_bytes_ = 0;
  net::steady_timer hello_timer_, message_timer_;
  bool pending_ = true;         // counted in ws_pending (no hello accepted yet)
  bool in_message_ = false;     // part of a message has arrived
  bool budget_wait_ = false;    // waiting for the server's write budget
  bool accepted_ = false, writing_ = false, closing_ = false, close_sent_ = false, read_paused_ = false;
  uint16_t close_code_ = 1000;
  std::string peer_, end_reason_ = "closed";
  uint64_t frames_ = 0, bytes_out_ = 0;
};

}  // namespace datalith::server
