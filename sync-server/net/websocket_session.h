// One WebSocket client on /sync, after HttpSession handed over the upgrade: accepts it,
// feeds the client's messages to its sync::ClientSync (the protocol, without I/O) and
// writes what that produces through a write queue bounded by `write_queue_bytes`
// (node frames are produced only while the queue has room; reading pauses while it is
// full). Lives on its connection's strand; logs ws_open, hello, ws_error, ws_close.
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
  // Moves the protocol's output into the write queue, producing node frames while the
  // queue has room, and starts the next write (or the close).
  void Flush();
  void DoWrite();
  void OnWrite(beast::error_code ec, size_t n);
  void DoClose();

  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<ServerState> state_;
  const sync::Limits limits_;
  std::optional<http::request<http::string_body>> upgrade_;
  beast::flat_buffer buffer_;
  std::shared_ptr<sync::ClientSync> sync_;
  std::deque<sync::ClientSync::Outgoing> queue_;
  size_t queue_bytes_ = 0;
  bool accepted_ = false, writing_ = false, closing_ = false, close_sent_ = false, read_paused_ = false;
  uint16_t close_code_ = 1000;
  std::string peer_, end_reason_ = "closed";
  uint64_t frames_ = 0, bytes_out_ = 0;
};

}  // namespace datalith::server
