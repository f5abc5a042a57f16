#include "client_sync.h"

#include <algorithm>

namespace datalith::sync {

ClientSync::ClientSync(Registry& registry, Post post)
    : registry_(registry), limits_(registry.limits()), post_(std::move(post)) {}

ClientSync::~ClientSync() {
  if (db_) db_->metrics().clients--;
  if (admitted_) registry_.Leave();
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
  if (auto* r = std::get_if<Resend>(&msg)) return OnResend(*r);
  OnAck(std::get<Ack>(msg));
}

namespace {

// A log update replays at most this many segments (64 KiB each; a few hundred datoms
// per segment): beyond that the client stores nodes rather than rebuild them.
constexpr size_t kMaxApplySegments = 4;
// Transactions are sent for the listeners of a node update over at most this many
// commits and segments; beyond that the client learns only that it skipped some.
constexpr size_t kMaxLogCommits = 64;
constexpr size_t kMaxReportSegments = 64;

}  // namespace

void ClientSync::OnHello(const Hello& h) {
  if (h.protocol == 1)
    return Fail(ErrorCode::kVersionMismatch,
                "the server speaks protocol 2, the client 1: commits now carry their transaction log "
                "(commit format 2), which protocol-1 clients cannot read; upgrade the datalith package");
  if (h.protocol != kProtocolVersion)
    return Fail(ErrorCode::kVersionMismatch, "the server speaks protocol " +
                                                 std::to_string(kProtocolVersion) + ", the client " +
                                                 std::to_string(h.protocol));
  auto grant = registry_.Authorize(h.db, h.token);
  if (auto* e = std::get_if<ProtocolError>(&grant)) return Fail(e->code, e->message);
  if (!registry_.Admit())
    return Fail(ErrorCode::kOverloaded, std::to_string(limits_.max_clients) +
                                            " clients are connected, the most this server takes: try again later");
  admitted_ = true;
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
  update_ = HeadInfo();
  update_.commit = head.commit;
  update_.tx = head.tx;
  next_blob_ = 0;
  Status planned = PlanUpdate(head);
  if (planned.ok()) return;
  if (planned.code() != Code::kNotFound || acked_.IsZero())
    return Fail(ErrorCode::kInternal, planned.ToString());
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

Status ClientSync::PlanUpdate(const Database::Head& head) {
  const Connection& conn = db_->connection();
  to_send_.clear();
  // The commits since the client's head and their log segments, if the chain is short.
  std::vector<std::vector<Address>> log;
  size_t segments = 0;
  if (!acked_.IsZero()) {
    DL_ASSIGN_OR_RETURN(log, conn.LogsAfter(acked_, head.commit, kMaxLogCommits));
    for (const auto& segs : log) segments += segs.size();
    if (segments > kMaxReportSegments) log.clear();
  }
  if (!log.empty() && segments <= kMaxApplySegments && !nodes_only_ && limits_.log_updates) {
    update_.apply_log = true;
    for (const auto& segs : log) to_send_.insert(to_send_.end(), segs.begin(), segs.end());
    update_.log = std::move(log);
    return Status::Ok();
  }
  nodes_only_ = false;
  DL_ASSIGN_OR_RETURN(to_send_, conn.BlobsToReach(head.commit, acked_));
  // The commits' log segments go only with `log`, for the client's listeners, before
  // the commit record.
  std::vector<Address> segs;
  for (const auto& commit : log) segs.insert(segs.end(), commit.begin(), commit.end());
  to_send_.insert(to_send_.end() - 1, segs.begin(), segs.end());
  update_.log = std::move(log);
  return Status::Ok();
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
    if (update_.apply_log) db_->metrics().log_updates_sent++;
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

void ClientSync::OnResend(const Resend& r) {
  if (!sent_ || next_blob_ <= to_send_.size() || !update_.apply_log || r.commit != sent_->commit)
    return Fail(ErrorCode::kUnexpectedMessage, "resend of " + r.commit.Hex() + ", which is not the log update just sent");
  db_->metrics().log_resends++;
  nodes_only_ = true;  // the same update again, as nodes; acked_ is unchanged
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
  if (!t.client_error.empty()) return Send(ErrorJson({ErrorCode::kTxFailed, t.client_error}, t.id), false);
  if (t.client) {
    Status valid = CheckClientId(*t.client);
    if (!valid.ok())
      return Send(ErrorJson({ErrorCode::kTxFailed, "field \"client\": " + valid.message()}, t.id), false);
  }
  auto node = edn::ReadOne(t.tx);
  if (!node.ok()) return Send(ErrorJson({ErrorCode::kTxFailed, node.status().ToString()}, t.id), false);
  uint64_t id = t.id;
  auto err = db_->Submit(std::move(node).value(), std::move(t.client), [w = weak_from_this(), post = post_, id](TxOutcome o) {
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
