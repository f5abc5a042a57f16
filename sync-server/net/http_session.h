// One HTTP connection (keep-alive): answers /health, /metrics, POST /db/NAME/transact
// and static files under --static, logging one `http` line per request, and hands a
// WebSocket upgrade on /sync to a new WebSocketSession (or refuses it with 503 while
// the server is stopping or full). Lives on its connection's strand.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "beast.h"
#include "shared_state.h"

namespace datalith::server {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state);

  void Run();

 private:
  void DoRead();
  void OnRead(beast::error_code ec, size_t);
  static std::string Path(const http::request<http::string_body>& req);
  void Handle(http::request<http::string_body>&& req);
  void Transact(const std::string& name, http::request<http::string_body>&& req);
  void ServeFile(const http::request<http::string_body>& req);
  template <class Body>
  void Send(http::response<Body>&& res);
  void Close();

  beast::tcp_stream stream_;
  std::shared_ptr<ServerState> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::string method_, path_;
  unsigned status_ = 0;
};

}  // namespace datalith::server
