#include "http_session.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "log.h"
#include "websocket_session.h"

namespace datalith::server {

using Json = nlohmann::json;

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
                       {"tx_duplicates", m.tx_duplicates.load()},
                       {"commit_conflicts", m.commit_conflicts.load()},
                       {"external_commits", m.external_commits.load()},
                       {"updates_sent", m.updates_sent.load()},
                       {"log_updates_sent", m.log_updates_sent.load()},
                       {"log_resends", m.log_resends.load()},
                       {"blobs_sent", m.blobs_sent.load()},
                       {"blob_bytes_sent", m.blob_bytes_sent.load()},
                       {"frame_bytes_sent", m.frame_bytes_sent.load()},
                       {"tx_latency_ms", SummaryJson(m.tx_latency)},
                       {"group_size", SummaryJson(m.group_size)}};
  }
  double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - state.started).count();
  Json j = {{"uptime_s", uptime},
            {"clients", state.ws_sessions.load()},
            {"write_queue_bytes", state.queued_bytes()},
            {"http_requests", state.http_requests.load()},
            {"databases", dbs}};
  return j.dump();
}

// The token of an `Authorization: Bearer TOKEN` header (the scheme is
// case-insensitive, RFC 7235), or empty.
std::string BearerToken(const http::request<http::string_body>& req) {
  std::string_view auth = req[http::field::authorization];
  constexpr std::string_view kScheme = "bearer ";
  if (auth.size() <= kScheme.size() || !beast::iequals(auth.substr(0, kScheme.size()), kScheme)) return "";
  auth.remove_prefix(kScheme.size());
  while (!auth.empty() && auth.front() == ' ') auth.remove_prefix(1);
  return std::string(auth);
}

// Decodes %XX escapes; nullopt for a malformed escape or an escaped NUL or slash.
std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0' || c == '/') return std::nullopt;
    out += c;
    i += 2;
  }
  return out;
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

HttpSession::HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
    : stream_(std::move(socket)), state_(std::move(state)) {}

void HttpSession::Run() {
  net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::DoRead, shared_from_this()));
}

void HttpSession::DoRead() {
  parser_.emplace();
  parser_->body_limit(state_->registry.limits().max_message_bytes);
  parser_->header_limit(16 << 10);
  stream_.expires_after(kHttpTimeout);
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
}

void HttpSession::OnRead(beast::error_code ec, size_t) {
  if (ec == http::error::body_limit) {
    state_->http_busy++;
    return Send(Response(http::status::payload_too_large, 11, false,
                         sync::ErrorJson({sync::ErrorCode::kMessageTooLarge, "request body exceeds " +
                                              std::to_string(state_->registry.limits().max_message_bytes) + " bytes"})));
  }
  if (ec == http::error::header_limit) {
    state_->http_busy++;
    return Send(Response(http::status::request_header_fields_too_large, 11, false,
                         sync::ErrorJson({sync::ErrorCode::kMessageTooLarge, "request headers exceed 16384 bytes"})));
  }
  if (ec) return Close();
  auto req = parser_->release();
  if (websocket::is_upgrade(req) && Path(req) == "/sync") {
    // Sessions count toward max_clients once authenticated (hello); before that only
    // max_pending_clients of them may wait, each for at most hello_timeout_ms.
    const auto& limits = state_->registry.limits();
    if (state_->stopping || state_->ws_pending >= limits.max_pending_clients ||
        state_->registry.clients() >= limits.max_clients) {
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

std::string HttpSession::Path(const http::request<http::string_body>& req) {
  std::string_view t = req.target();
  return std::string(t.substr(0, t.find('?')));
}

void HttpSession::Handle(http::request<http::string_body>&& req) {
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
  if (p == "/metrics") {
    // Database names, heads and client counts are for the operator only.
    if (!state_->metrics_digest) return error(sync::ErrorCode::kForbidden, "/metrics is off: start the server with --metrics-token");
    if (!sync::DigestsEqual(sync::Sha256(BearerToken(req)), *state_->metrics_digest))
      return error(sync::ErrorCode::kBadToken, "/metrics needs the metrics token (Authorization: Bearer)");
    return json(http::status::ok, MetricsJson(*state_));
  }
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

void HttpSession::Transact(const std::string& name, http::request<http::string_body>&& req) {
  unsigned v = req.version();
  bool ka = req.keep_alive();
  auto error = [&](const sync::ProtocolError& e) { Send(Response(StatusFor(e.code), v, ka, sync::ErrorJson(e))); };
  auto grant = state_->registry.Authorize(name, BearerToken(req));
  if (auto* e = std::get_if<sync::ProtocolError>(&grant)) return error(*e);
  auto [db, access] = std::get<0>(grant);
  if (access != sync::Access::kWrite) return error({sync::ErrorCode::kForbidden, "this token is read-only"});
  // The header means what the `client` field of a WebSocket `tx` means (§5.4).
  std::optional<std::string> client;
  if (auto key = req.find("Idempotency-Key"); key != req.end()) {
    client = std::string(key->value());
    Status valid = CheckClientId(*client);
    if (!valid.ok()) return error({sync::ErrorCode::kTxFailed, "header Idempotency-Key: " + valid.message()});
  }
  auto tx = edn::ReadOne(req.body());
  if (!tx.ok()) return error({sync::ErrorCode::kTxFailed, tx.status().ToString()});
  auto self = shared_from_this();
  auto err = db->Submit(std::move(tx).value(), std::move(client), [self, v, ka](sync::TxOutcome o) {
    net::post(self->stream_.get_executor(), [self, v, ka, o = std::move(o)] {
      if (o.error) return self->Send(Response(StatusFor(o.error->code), v, ka, sync::ErrorJson(*o.error)));
      self->Send(Response(http::status::ok, v, ka, sync::TxOkJson(o.reply)));
    });
  });
  if (err) error(*err);
}

// The file under `root` (resolved: no symlink leads out of it) that the request path
// `p` names, a directory's index.html; empty if there is none or it is not a regular
// file (a FIFO or a device would block or never end).
static std::string StaticFile(const std::string& root, const std::string& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path full = fs::canonical(fs::path(root + p), ec);
  if (ec) return "";
  if (fs::is_directory(full, ec)) full = fs::canonical(full / "index.html", ec);
  if (ec) return "";
  const std::string f = full.string();
  if (f.size() <= root.size() || f.compare(0, root.size(), root) != 0 || f[root.size()] != '/') return "";
  return fs::is_regular_file(full, ec) && !ec ? f : "";
}

void HttpSession::ServeFile(const http::request<http::string_body>& req) {
  unsigned v = req.version();
  bool ka = req.keep_alive();
  std::optional<std::string> decoded = PercentDecode(path_);
  const std::string p = decoded.value_or("");
  if (!decoded || p.empty() || p[0] != '/' || p.find("..") != std::string::npos || p.find('\\') != std::string::npos)
    return Send(Response(http::status::bad_request, v, ka, R"({"error":"bad path"})"));
  std::string full = StaticFile(state_->static_root, p);
  if (full.empty()) return Send(Response(http::status::not_found, v, ka, R"({"error":"not found"})"));
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
void HttpSession::Send(http::response<Body>&& res) {
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

void HttpSession::Close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace datalith::server
