#include "client_sync.h"

#include <algorithm>

namespace datalith::sync {

ClientSync::ClientSync(Registry& registry, Post post)
    : registry_(registry), limits_(registry.limits()), post_(std::move(post)) {}

ClientSync::~ClientSync() {
  if (db_) db_->metrics().clients--;
}

void ClientSync::Fail(ErrorCode code, std::string message) {
  if (state_ == State::kClosed) return;
  ProtocolError e{code, std::move(message)};
  Send(ErrorJson(e), false);
  close_error_ = std::move(e);
  state_ = State::kClosed;
}

void ClientSync::Shutdown() { Fail(ErrorCode::kShuttingDown, "the server is shutting down"); }

void ClientSync::OnMessage(std::string_view data, bool binary) {
  if (state_ == State::kClosed) return;
  if (binary) {
    auto f = DecodeFrame(data, limits_.max_message_bytes);
    if (auto* e = std::get_if<ProtocolError>(&f)) return Fail(e->code, e->message);
    const Frame& frame = std::get<Frame>(f);
    if (frame.type != FrameType::kHave) return Fail(ErrorCode::kMalformedMessage, "clients send only HAVE frames");
    if (asked_.empty()) return Fail(ErrorCode::kUnexpectedMessage, "HAVE without a PROBE");
    return OnHave(frame.have);
  }
  auto m = ParseClientText(data, limits_);
  if (auto* e = std::get_if<ProtocolError>(&m)) return Fail(e->code, e->message);
  auto& msg = std::get<ClientMessage>(m);
  if (auto* h = std::get_if<Hello>(&msg)) {
    if (state_ != State::kAwaitHello) return Fail(ErrorCode::kUnexpectedMessage, "a second hello");
    return OnHello(*h);
  }
  if (state_ != State::kLive) return Fail(ErrorCode::kUnexpectedMessage, "send hello first");
  if (auto* t = std::get_if<TxRequest>(&msg)) return OnTx(std::move(*t));
  OnAck(std::get<Ack>(msg));
}

void ClientSync::OnHello(const Hello& h) {
  if (h.protocol != kProtocolVersion)
    return Fail(ErrorCode::kVersionMismatch, "the server speaks protocol " +
                                                 std::to_string(kProtocolVersion) + ", the client " +
                                                 std::to_string(h.protocol));
  auto grant = registry_.Authorize(h.db, h.token);
  if (auto* e = std::get_if<ProtocolError>(&grant)) return Fail(e->code, e->message);
  auto& [db, access] = std::get<0>(grant);
  db_ = db;
  db_->metrics().clients++;
  writable_ = access == Access::kWrite;
  state_ = State::kLive;
  Database::Head head = db_->head();
  Send(WelcomeJson(db_->name(), writable_, head.commit, head.tx, limits_), false);
  acked_ = h.have;
  db_->Subscribe(shared_from_this());
  MaybeStartUpdate();
}

void ClientSync::OnCommit() {
  if (commit_posted_.exchange(true)) return;  // one pending notification is enough
  post_([w = weak_from_this()] {
    if (auto s = w.lock()) {
      s->commit_posted_ = false;
      s->MaybeStartUpdate();
    }
  });
}

void ClientSync::MaybeStartUpdate() {
  if (state_ != State::kLive || sent_) return;
  Database::Head head = db_->head();
  if (head.commit == acked_) return;
  sent_ = head;
  update_ = HeadInfo{head.commit, head.tx};
  auto blobs = db_->connection().BlobsToReach(head.commit, acked_);
  if (blobs.ok()) {
    to_send_ = std::move(blobs).value();
    next_blob_ = 0;
    return;
  }
  if (blobs.status().code() != Code::kNotFound || acked_.IsZero())
    return Fail(ErrorCode::kInternal, blobs.status().ToString());
  // The client's commit is not in this store (another server, or GC'd): ask the client
  // which of the head's nodes it has, level by level from the roots.
  auto roots = db_->connection().CommitRoots(head.commit);
  if (!roots.ok()) return Fail(ErrorCode::kInternal, roots.status().ToString());
  probing_ = true;
  frontier_ = std::move(roots).value();
  lacking_.clear();
  next_level_.clear();
  SendProbe();
}

void ClientSync::SendProbe() {
  size_t n = std::min(frontier_.size(), limits_.max_probe);
  asked_.assign(frontier_.begin(), frontier_.begin() + n);
  frontier_.erase(frontier_.begin(), frontier_.begin() + n);
  Send(EncodeProbe(asked_), true);
}

void ClientSync::OnHave(const std::vector<bool>& have) {
  if (have.size() != asked_.size())
    return Fail(ErrorCode::kMalformedMessage, "HAVE answers " + std::to_string(have.size()) +
                                                  " addresses, the PROBE asked " +
                                                  std::to_string(asked_.size()));
  for (size_t i = 0; i < have.size(); ++i) {
    if (have[i]) continue;  // the client has the node, hence its whole subtree
    lacking_.push_back(asked_[i]);
    auto children = db_->connection().NodeChildren(asked_[i]);
    if (!children.ok()) return Fail(ErrorCode::kInternal, children.status().ToString());
    next_level_.insert(next_level_.end(), children->begin(), children->end());
  }
  asked_.clear();
  if (frontier_.empty()) std::swap(frontier_, next_level_);
  if (!frontier_.empty()) return SendProbe();
  probing_ = false;
  to_send_ = std::move(lacking_);
  to_send_.push_back(sent_->commit);
  next_blob_ = 0;
}

bool ClientSync::Pump() {
  if (state_ != State::kLive || !sent_ || probing_ || next_blob_ > to_send_.size()) return false;
  if (next_blob_ == to_send_.size()) {  // every blob is out: the head ends the update
    Send(HeadJson(update_), false);
    next_blob_++;
    db_->metrics().updates_sent++;
    return true;
  }
  std::vector<Blob> batch;
  size_t payload = NodesPayloadBytes(0, 0);
  while (next_blob_ < to_send_.size() && payload < limits_.frame_target_bytes) {
    const Address& a = to_send_[next_blob_];
    auto bytes = db_->store().Get(a);
    if (!bytes.ok()) {
      Fail(ErrorCode::kInternal, bytes.status().ToString());
      return true;
    }
    size_t grown = payload + NodesPayloadBytes(1, bytes->size()) - NodesPayloadBytes(0, 0);
    if (grown > limits_.max_frame_bytes) {
      if (batch.empty()) {
        Fail(ErrorCode::kInternal, "blob " + a.Hex() + " exceeds the frame limit");
        return true;
      }
      break;  // it starts the next frame
    }
    payload = grown;
    batch.push_back({a, std::move(bytes).value()});
    next_blob_++;
  }
  std::string frame = EncodeNodes(batch, limits_.compress_frames);
  update_.blobs += batch.size();
  update_.bytes += payload - NodesPayloadBytes(batch.size(), 0);
  update_.frames++;
  DatabaseMetrics& m = db_->metrics();
  m.blobs_sent += batch.size();
  m.blob_bytes_sent += payload - NodesPayloadBytes(batch.size(), 0);
  m.frame_bytes_sent += frame.size();
  Send(std::move(frame), true);
  return true;
}

void ClientSync::OnAck(const Ack& a) {
  if (!sent_ || next_blob_ <= to_send_.size() || probing_ || a.commit != sent_->commit)
    return Fail(ErrorCode::kUnexpectedMessage, "ack of " + a.commit.Hex() + ", which is not the head just sent");
  acked_ = a.commit;
  sent_.reset();
  to_send_.clear();
  next_blob_ = 0;
  MaybeStartUpdate();
}

void ClientSync::OnTx(TxRequest&& t) {
  if (!writable_)
    return Send(ErrorJson({ErrorCode::kForbidden, "this token is read-only"}, t.id), false);
  if (inflight_ >= limits_.max_inflight_tx)
    return Send(ErrorJson({ErrorCode::kOverloaded, std::to_string(inflight_) +
                                                       " transactions of this session are unanswered"},
                          t.id),
                false);
  auto node = edn::ReadOne(t.tx);
  if (!node.ok()) return Send(ErrorJson({ErrorCode::kTxFailed, node.status().ToString()}, t.id), false);
  uint64_t id = t.id;
  auto err = db_->Submit(std::move(node).value(), [w = weak_from_this(), post = post_, id](TxOutcome o) {
    post([w, id, o = std::move(o)]() mutable {
      if (auto s = w.lock()) s->OnTxDone(id, std::move(o));
    });
  });
  if (err) return Send(ErrorJson(*err, id), false);
  ++inflight_;
}

void ClientSync::OnTxDone(uint64_t id, TxOutcome o) {
  --inflight_;
  if (state_ == State::kClosed) return;
  if (o.error) return Send(ErrorJson(*o.error, id), false);
  o.reply.id = id;
  Send(TxOkJson(o.reply), false);
}

}  // namespace datalith::sync
