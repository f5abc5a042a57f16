#include "websocket_session.h"

#include <functional>
#include <string_view>

#include "log.h"

namespace datalith::server {

namespace {

using std::chrono::milliseconds;

// Bytes read from the socket at a time: a message arrives in pieces, so the time from
// its first byte to its last can be bounded (message_timeout_ms).
constexpr size_t kReadChunk = 64 << 10;

// A large session's frames are given back to the system when it ends (ServerState::TrimHeap).
constexpr uint64_t kTrimAfterBytes = 8 << 20;

}  // namespace

WebSocketSession::WebSocketSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
    : ws_(std::move(socket)),
      state_(std::move(state)),
      limits_(state_->registry.limits()),
      hello_timer_(ws_.get_executor()),
      message_timer_(ws_.get_executor()) {
  state_->ws_pending++;
  beast::error_code ec;
  auto ep = ws_.next_layer().socket().remote_endpoint(ec);
  peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

WebSocketSession::~WebSocketSession() {
  LeavePending();
  if (queue_bytes_ > 0) state_->Written(queue_bytes_);  // dropped unwritten
  if (bytes_out_ > kTrimAfterBytes) state_->TrimHeap();
  if (!accepted_) return;
  state_->ws_sessions--;
  Log("info", "ws_close", {{"peer", peer_},
                           {"db", sync_ && sync_->database() ? sync_->database()->name() : ""},
                           {"reason", end_reason_},
                           {"frames", std::to_string(frames_)},
                           {"bytes_out", std::to_string(bytes_out_)}});
}

void WebSocketSession::Run(http::request<http::string_body>&& req) {
  upgrade_ = std::move(req);
  net::dispatch(ws_.get_executor(), [self = shared_from_this()] { self->DoAccept(); });
}

void WebSocketSession::Shutdown() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    if (!self->sync_) return;
    self->sync_->Shutdown();
    self->Flush();
  });
}

void WebSocketSession::DoAccept() {
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "datalith-server"); }));
  // Until hello is accepted, only a message the size of a hello is read.
  ws_.read_message_max(std::min(limits_.max_hello_bytes, limits_.max_message_bytes));
  ws_.async_accept(*upgrade_, beast::bind_front_handler(&WebSocketSession::OnAccept, shared_from_this()));
}

void WebSocketSession::OnAccept(beast::error_code ec) {
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
  hello_timer_.expires_after(milliseconds(limits_.hello_timeout_ms));
  hello_timer_.async_wait([w = weak_from_this()](beast::error_code ec) {
    auto self = w.lock();
    if (self && !ec && self->pending_)
      self->TimeOut("no hello within " + std::to_string(self->limits_.hello_timeout_ms) + " ms");
  });
  Flush();
  DoRead();
}

void WebSocketSession::DoRead() {
  if (closing_) return;
  ws_.async_read_some(buffer_, kReadChunk, beast::bind_front_handler(&WebSocketSession::OnRead, shared_from_this()));
}

void WebSocketSession::OnRead(beast::error_code ec, size_t) {
  if (ec) {
    if (!closing_) end_reason_ = ec == websocket::error::closed ? "closed" : ec.message();
    if (ec == websocket::error::message_too_big) {
      Log("warn", "ws_message_too_large",
          {{"peer", peer_}, {"limit", std::to_string(pending_ ? limits_.max_hello_bytes : limits_.max_message_bytes)}});
    }
    return;  // the session ends when the last handler lets go of it
  }
  if (!ws_.is_message_done()) {
    if (!in_message_) {  // its first bytes: the rest must follow in time
      in_message_ = true;
      message_timer_.expires_after(milliseconds(limits_.message_timeout_ms));
      message_timer_.async_wait([w = weak_from_this()](beast::error_code ec) {
        auto self = w.lock();
        if (self && !ec && self->in_message_)
          self->TimeOut("a message not completed within " + std::to_string(self->limits_.message_timeout_ms) + " ms");
      });
    }
    return DoRead();
  }
  if (in_message_) {
    in_message_ = false;
    message_timer_.cancel();
  }
  OnMessage();
}

void WebSocketSession::OnMessage() {
  std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  bool had_db = sync_->database() != nullptr;
  sync_->OnMessage(data, ws_.got_binary());
  buffer_.consume(buffer_.size());
  if (!had_db && sync_->database()) Authenticated();
  if (const auto& e = sync_->close_error())
    Log("info", "ws_error", {{"peer", peer_}, {"code", sync::ErrorName(e->code)}, {"message", e->message}});
  Flush();
  if (queue_bytes_ > limits_.write_queue_bytes) {
    read_paused_ = true;  // the client sends faster than it reads our answers
    return;
  }
  DoRead();
}

void WebSocketSession::Authenticated() {
  Log("info", "hello", {{"peer", peer_}, {"db", sync_->database()->name()}});
  LeavePending();
  hello_timer_.cancel();
  ws_.read_message_max(limits_.max_message_bytes);
}

void WebSocketSession::LeavePending() {
  if (!pending_) return;
  pending_ = false;
  state_->ws_pending--;
}

void WebSocketSession::TimeOut(const std::string& what) {
  Log("warn", "ws_timeout", {{"peer", peer_}, {"what", what}});
  in_message_ = false;
  sync_->Abort(sync::ErrorCode::kTimeout, what);
  Flush();
  // A peer that neither reads the error nor answers the close gets a second, then the socket closes.
  hello_timer_.expires_after(std::chrono::seconds(1));
  hello_timer_.async_wait([w = weak_from_this()](beast::error_code ec) {
    if (auto self = w.lock(); self && !ec) beast::get_lowest_layer(self->ws_).close();
  });
}

void WebSocketSession::Flush() {
  auto take = [&] {
    auto& out = sync_->outbox();
    while (!out.empty()) {
      queue_bytes_ += out.front().data.size();
      state_->Queued(out.front().data.size());
      queue_.push_back(std::move(out.front()));
      out.pop_front();
    }
  };
  take();
  while (queue_bytes_ < limits_.write_queue_bytes && sync_->HasFrames()) {
    // One frame always; more only within the server's budget (slow readers share it).
    if (!queue_.empty() && !state_->BudgetLeft()) {
      if (!budget_wait_) {
        budget_wait_ = true;
        state_->WaitForBudget([w = weak_from_this(), ex = ws_.get_executor()] {
          net::post(ex, [w] {
            if (auto self = w.lock()) {
              self->budget_wait_ = false;
              self->Flush();
            }
          });
        });
      }
      break;
    }
    if (!sync_->Pump()) break;
    take();
  }
  if (sync_->close_error() && !closing_) {
    closing_ = true;
    close_code_ = sync::CloseCode(sync_->close_error()->code);
    end_reason_ = sync::ErrorName(sync_->close_error()->code);
    LeavePending();  // a closing session waits for no hello: its room is free now
  }
  if (!writing_ && !queue_.empty()) return DoWrite();
  if (closing_ && !writing_ && queue_.empty()) return DoClose();
  if (read_paused_ && queue_bytes_ < limits_.write_queue_bytes / 2) {
    read_paused_ = false;
    DoRead();
  }
}

void WebSocketSession::DoWrite() {
  writing_ = true;
  ws_.binary(queue_.front().binary);
  ws_.async_write(net::buffer(queue_.front().data),
                  beast::bind_front_handler(&WebSocketSession::OnWrite, shared_from_this()));
}

void WebSocketSession::OnWrite(beast::error_code ec, size_t n) {
  writing_ = false;
  if (ec) {
    if (!closing_) end_reason_ = ec.message();
    return;
  }
  if (queue_.front().binary) frames_++;
  bytes_out_ += n;
  const size_t size = queue_.front().data.size();
  queue_bytes_ -= size;
  queue_.pop_front();
  state_->Written(size);
  Flush();
}

void WebSocketSession::DoClose() {
  if (close_sent_) return;
  close_sent_ = true;
  websocket::close_reason reason;
  reason.code = close_code_;
  reason.reason = sync::ErrorName(sync_->close_error()->code);
  ws_.async_close(reason, [self = shared_from_this()](beast::error_code) {});
}

}  // namespace datalith::server
