#include "server.h"

#include <boost/beast.hpp>
#include <csignal>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "log.h"
#include "client_sync.h"

namespace datalith::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Json = nlohmann::json;

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

namespace {

constexpr auto kHttpTimeout = std::chrono::seconds(30);

http::status StatusFor(sync::ErrorCode code) {
  using sync::ErrorCode;
  switch (code) {
    case ErrorCode::kBadToken: return http::status::unauthorized;
    case ErrorCode::kForbidden: return http::status::forbidden;
    case ErrorCode::kUnknownDatabase: return http::status::not_found;
    case ErrorCode::kMessageTooLarge: return http::status::payload_too_large;
    case ErrorCode::kOverloaded:
    case ErrorCode::kShuttingDown: return http::status::service_unavailable;
    case ErrorCode::kCommitFailed:
    case ErrorCode::kInternal: return http::status::internal_server_error;
    default: return http::status::bad_request;
  }
}

std::string_view MimeType(std::string_view path) {
  auto ext = path.substr(std::min(path.size(), path.rfind('.')));
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript"}, {".mjs", "text/javascript"},
      {".css", "text/css"}, {".json", "application/json"}, {".wasm", "application/wasm"},
      {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"}, {".map", "application/json"}};
  for (const auto& [e, t] : kTypes) {
    if (beast::iequals(ext, e)) return t;
  }
  return "application/octet-stream";
}

Json SummaryJson(const sync::LatencyHistogram& h) {
  auto s = h.Summarize();
  return {{"count", s.count}, {"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"max", s.max}};
}

std::string MetricsJson(ServerState& state) {
  Json dbs = Json::object();
  for (const auto& db : state.registry.databases()) {
    auto& m = db->metrics();
    auto head = db->head();
    dbs[db->name()] = {{"clients", m.clients.load()},
                       {"head", head.commit.Hex()},
                       {"tx", head.tx},
                       {"commits", m.commits.load()},
                       {"transactions", m.transactions.load()},
                       {"tx_errors", m.tx_errors.load()},
                       {"updates_sent", m.updates_sent.load()},
                       {"blobs_sent", m.blobs_sent.load()},
                       {"blob_bytes_sent", m.blob_bytes_sent.load()},
                       {"frame_bytes_sent", m.frame_bytes_sent.load()},
                       {"tx_latency_ms", SummaryJson(m.tx_latency)},
                       {"group_size", SummaryJson(m.group_size)}};
  }
  double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - state.started).count();
  Json j = {{"uptime_s", uptime},
            {"clients", state.ws_sessions.load()},
            {"http_requests", state.http_requests.load()},
            {"databases", dbs}};
  return j.dump();
}

template <class Body = http::string_body>
http::response<http::string_body> Response(http::status status, unsigned version, bool keep_alive,
                                           std::string body, std::string_view type = "application/json") {
  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "datalith-server");
  res.set(http::field::content_type, type);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace

// ---- WebSocket session ----

class WebSocketSession : public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
      : ws_(std::move(socket)), state_(std::move(state)), limits_(state_->registry.limits()) {
    beast::error_code ec;
    auto ep = ws_.next_layer().socket().remote_endpoint(ec);
    peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~WebSocketSession() {
    if (!accepted_) return;
    state_->ws_sessions--;
    Log("info", "ws_close", {{"peer", peer_},
                             {"db", sync_ && sync_->database() ? sync_->database()->name() : ""},
                             {"reason", end_reason_},
                             {"frames", std::to_string(frames_)},
                             {"bytes_out", std::to_string(bytes_out_)}});
  }

  void Run(http::request<http::string_body>&& req) {
    upgrade_ = std::move(req);
    net::dispatch(ws_.get_executor(), [self = shared_from_this()] { self->DoAccept(); });
  }

  // Called from any thread at shutdown: tells the client and closes with 1001.
  void Shutdown() {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      if (!self->sync_) return;
      self->sync_->Shutdown();
      self->Flush();
    });
  }

 private:
  void DoAccept() {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "datalith-server"); }));
    ws_.read_message_max(limits_.max_message_bytes);
    ws_.async_accept(*upgrade_, beast::bind_front_handler(&WebSocketSession::OnAccept, shared_from_this()));
  }

  void OnAccept(beast::error_code ec) {
    upgrade_.reset();
    if (ec) return Log("warn", "ws_accept_failed", {{"peer", peer_}, {"error", ec.message()}});
    accepted_ = true;
    state_->ws_sessions++;
    state_->Register(shared_from_this());
    auto post = [w = weak_from_this(), ex = ws_.get_executor()](std::function<void()> fn) {
      net::post(ex, [w, fn = std::move(fn)] {
        if (auto self = w.lock()) {
          fn();
          self->Flush();
        }
      });
    };
    sync_ = std::make_shared<sync::ClientSync>(state_->registry, std::move(post));
    Log("info", "ws_open", {{"peer", peer_}});
    if (state_->stopping) sync_->Shutdown();
    Flush();
    DoRead();
  }

  void DoRead() {
    if (closing_) return;
    ws_.async_read(buffer_, beast::bind_front_handler(&WebSocketSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) {
      end_reason_ = ec == websocket::error::closed ? "closed" : ec.message();
      if (ec == websocket::error::message_too_big)
        Log("warn", "ws_message_too_large", {{"peer", peer_}, {"limit", std::to_string(limits_.max_message_bytes)}});
      return;  // the session ends when the last handler lets go of it
    }
    std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    bool had_db = sync_->database() != nullptr;
    sync_->OnMessage(data, ws_.got_binary());
    buffer_.consume(buffer_.size());
    if (!had_db && sync_->database())
      Log("info", "hello", {{"peer", peer_}, {"db", sync_->database()->name()}});
    if (const auto& e = sync_->close_error())
      Log("info", "ws_error", {{"peer", peer_}, {"code", sync::ErrorName(e->code)}, {"message", e->message}});
    Flush();
    if (queue_bytes_ > limits_.write_queue_bytes) {
      read_paused_ = true;  // the client sends faster than it reads our answers
      return;
    }
    DoRead();
  }

  // Moves the protocol's output into the write queue, producing node frames while the
  // queue has room, and starts the next write (or the close).
  void Flush() {
    auto take = [&] {
      auto& out = sync_->outbox();
      while (!out.empty()) {
        queue_bytes_ += out.front().data.size();
        queue_.push_back(std::move(out.front()));
        out.pop_front();
      }
    };
    take();
    while (queue_bytes_ < limits_.write_queue_bytes && sync_->Pump()) take();
    if (sync_->close_error() && !closing_) {
      closing_ = true;
      close_code_ = sync::CloseCode(sync_->close_error()->code);
      end_reason_ = sync::ErrorName(sync_->close_error()->code);
    }
    if (!writing_ && !queue_.empty()) return DoWrite();
    if (closing_ && !writing_ && queue_.empty()) return DoClose();
    if (read_paused_ && queue_bytes_ < limits_.write_queue_bytes / 2) {
      read_paused_ = false;
      DoRead();
    }
  }

  void DoWrite() {
    writing_ = true;
    ws_.binary(queue_.front().binary);
    ws_.async_write(net::buffer(queue_.front().data),
                    beast::bind_front_handler(&WebSocketSession::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t n) {
    writing_ = false;
    if (ec) {
      end_reason_ = ec.message();
      return;
    }
    if (queue_.front().binary) frames_++;
    bytes_out_ += n;
    queue_bytes_ -= queue_.front().data.size();
    queue_.pop_front();
    Flush();
  }

  void DoClose() {
    if (close_sent_) return;
    close_sent_ = true;
    websocket::close_reason reason;
    reason.code = close_code_;
    reason.reason = sync::ErrorName(sync_->close_error()->code);
    ws_.async_close(reason, [self = shared_from_this()](beast::error_code) {});
  }

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

// ---- HTTP session ----

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
      : stream_(std::move(socket)), state_(std::move(state)) {}

  void Run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::DoRead, shared_from_this()));
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(state_->registry.limits().max_message_bytes);
    parser_->header_limit(16 << 10);
    stream_.expires_after(kHttpTimeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec == http::error::body_limit) {
      state_->http_busy++;
      return Send(Response(http::status::payload_too_large, 11, false,
                           sync::ErrorJson({sync::ErrorCode::kMessageTooLarge, "request body exceeds " +
                                                std::to_string(state_->registry.limits().max_message_bytes) + " bytes"})));
    }
    if (ec) return Close();
    auto req = parser_->release();
    if (websocket::is_upgrade(req) && Path(req) == "/sync") {
      if (state_->stopping || state_->ws_sessions >= state_->registry.limits().max_clients) {
        state_->http_busy++;
        auto code = state_->stopping ? sync::ErrorCode::kShuttingDown : sync::ErrorCode::kOverloaded;
        return Send(Response(http::status::service_unavailable, req.version(), false,
                             sync::ErrorJson({code, "no more WebSocket clients accepted"})));
      }
      stream_.expires_never();  // the WebSocket has its own timeouts
      std::make_shared<WebSocketSession>(stream_.release_socket(), state_)->Run(std::move(req));
      return;
    }
    state_->http_busy++;
    state_->http_requests++;
    started_ = std::chrono::steady_clock::now();
    Handle(std::move(req));
  }

  static std::string Path(const http::request<http::string_body>& req) {
    std::string_view t = req.target();
    return std::string(t.substr(0, t.find('?')));
  }

  void Handle(http::request<http::string_body>&& req) {
    method_ = std::string(req.method_string());
    path_ = Path(req);
    unsigned v = req.version();
    bool ka = req.keep_alive();
    auto json = [&](http::status s, std::string body) { Send(Response(s, v, ka, std::move(body))); };
    auto error = [&](sync::ErrorCode c, std::string m) { json(StatusFor(c), sync::ErrorJson({c, std::move(m)})); };
    const std::string& p = path_;
    if (p == "/health") {
      if (state_->stopping) return json(http::status::service_unavailable, R"({"status":"stopping"})");
      return json(http::status::ok, R"({"status":"ok"})");
    }
    if (p == "/metrics") return json(http::status::ok, MetricsJson(*state_));
    const std::string prefix = "/db/", suffix = "/transact";
    if (p.rfind(prefix, 0) == 0 && p.size() > prefix.size() + suffix.size() &&
        p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
      if (req.method() != http::verb::post) return error(sync::ErrorCode::kMalformedMessage, "use POST");
      return Transact(p.substr(prefix.size(), p.size() - prefix.size() - suffix.size()), std::move(req));
    }
    if (!state_->config.static_dir.empty() &&
        (req.method() == http::verb::get || req.method() == http::verb::head))
      return ServeFile(req);
    json(http::status::not_found, sync::ErrorJson({sync::ErrorCode::kMalformedMessage, "no such endpoint " + p}));
  }

  void Transact(const std::string& name, http::request<http::string_body>&& req) {
    unsigned v = req.version();
    bool ka = req.keep_alive();
    auto error = [&](const sync::ProtocolError& e) { Send(Response(StatusFor(e.code), v, ka, sync::ErrorJson(e))); };
    std::string auth(req[http::field::authorization]);
    const std::string bearer = "Bearer ";
    std::string token = auth.rfind(bearer, 0) == 0 ? auth.substr(bearer.size()) : "";
    auto grant = state_->registry.Authorize(name, token);
    if (auto* e = std::get_if<sync::ProtocolError>(&grant)) return error(*e);
    auto [db, access] = std::get<0>(grant);
    if (access != sync::Access::kWrite) return error({sync::ErrorCode::kForbidden, "this token is read-only"});
    auto tx = edn::ReadOne(req.body());
    if (!tx.ok()) return error({sync::ErrorCode::kTxFailed, tx.status().ToString()});
    auto self = shared_from_this();
    auto err = db->Submit(std::move(tx).value(), [self, v, ka](sync::TxOutcome o) {
      net::post(self->stream_.get_executor(), [self, v, ka, o = std::move(o)] {
        if (o.error) return self->Send(Response(StatusFor(o.error->code), v, ka, sync::ErrorJson(*o.error)));
        self->Send(Response(http::status::ok, v, ka, sync::TxOkJson(o.reply)));
      });
    });
    if (err) error(*err);
  }

  void ServeFile(const http::request<http::string_body>& req) {
    unsigned v = req.version();
    bool ka = req.keep_alive();
    std::string p = path_;
    if (p.empty() || p[0] != '/' || p.find("..") != std::string::npos || p.find('\0') != std::string::npos ||
        p.find('\\') != std::string::npos)
      return Send(Response(http::status::bad_request, v, ka, R"({"error":"bad path"})"));
    std::string full = state_->config.static_dir + p;
    std::error_code fec;
    if (std::filesystem::is_directory(full, fec)) full += (full.back() == '/' ? "" : "/") + std::string("index.html");
    http::file_body::value_type body;
    beast::error_code ec;
    body.open(full.c_str(), beast::file_mode::scan, ec);
    if (ec) return Send(Response(http::status::not_found, v, ka, R"({"error":"not found"})"));
    http::response<http::file_body> res{std::piecewise_construct, std::make_tuple(std::move(body)),
                                        std::make_tuple(http::status::ok, v)};
    res.set(http::field::server, "datalith-server");
    res.set(http::field::content_type, MimeType(full));
    res.content_length(res.body().size());
    res.keep_alive(ka);
    if (req.method() == http::verb::head) {
      http::response<http::empty_body> head{http::status::ok, v};
      head.set(http::field::content_type, MimeType(full));
      head.content_length(res.body().size());
      head.keep_alive(ka);
      return Send(std::move(head));
    }
    Send(std::move(res));
  }

  template <class Body>
  void Send(http::response<Body>&& res) {
    status_ = res.result_int();
    http::message_generator msg(std::move(res));
    bool keep_alive = msg.keep_alive();
    beast::async_write(stream_, std::move(msg),
                       [self = shared_from_this(), keep_alive](beast::error_code ec, size_t n) {
                         self->state_->http_busy--;
                         double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                                               self->started_).count();
                         Log("info", "http", {{"method", self->method_}, {"path", self->path_},
                                              {"status", std::to_string(self->status_)},
                                              {"bytes", std::to_string(n)}, {"ms", std::to_string(ms)}});
                         if (ec || !keep_alive) return self->Close();
                         self->DoRead();
                       });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<ServerState> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::string method_, path_;
  unsigned status_ = 0;
};

// ---- listener ----

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, std::shared_ptr<ServerState> state)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), state_(std::move(state)) {}

  beast::error_code Open(const tcp::endpoint& ep) {
    beast::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    return ec;
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void Run() { DoAccept(); }
  void Stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
    });
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }
  void OnAccept(beast::error_code ec, tcp::socket socket) {
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

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<ServerState> state_;
};

int Run(ServerConfig config) {
  auto state = std::make_shared<ServerState>(std::move(config));
  const ServerConfig& c = state->config;
  if (Status s = state->registry.OpenListed(); !s.ok()) {
    Log("error", "open_failed", {{"error", s.ToString()}});
    return 1;
  }
  beast::error_code ec;
  auto address = net::ip::make_address(c.listen, ec);
  if (ec) {
    Log("error", "bad_listen_address", {{"addr", c.listen}, {"error", ec.message()}});
    return 1;
  }
  net::io_context ioc(c.threads);
  auto listener = std::make_shared<Listener>(ioc, state);
  if ((ec = listener->Open({address, c.port}))) {
    Log("error", "listen_failed", {{"addr", c.listen}, {"port", std::to_string(c.port)}, {"error", ec.message()}});
    return 1;
  }
  listener->Run();
  std::string dbs;
  for (const auto& db : state->registry.databases()) dbs += (dbs.empty() ? "" : ",") + db->name();
  Log("info", "listening", {{"addr", c.listen}, {"port", std::to_string(listener->port())},
                            {"databases", dbs}, {"static", c.static_dir}});

  std::thread drain;
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int sig) {
    Log("info", "shutdown_begin", {{"signal", std::to_string(sig)}});
    state->stopping = true;
    listener->Stop();
    // Blocking work (joining the writers) happens off the I/O threads, which keep
    // delivering the answers of the last group commits meanwhile.
    drain = std::thread([&ioc, state] {
      state->registry.CloseAll();
      Log("info", "commits_drained");
      for (const auto& s : state->LiveSessions()) s->Shutdown();
      for (int i = 0; i < 100 && (state->ws_sessions > 0 || state->http_busy > 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ioc.stop();
    });
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < c.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  if (drain.joinable()) drain.join();
  Log("info", "stopped", {{"sessions_left", std::to_string(state->ws_sessions.load())}});
  return 0;
}

}  // namespace datalith::server
