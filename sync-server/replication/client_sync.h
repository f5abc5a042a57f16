// ClientSync: the protocol state machine of one WebSocket client, without any I/O.
//
// The transport (the WebSocketSession in net/) feeds it the client's messages and drains
// its outbox; everything that happens on another thread (a commit, a finished
// transaction) comes back through `post`, which must run the closure on the WebSocket
// session's own thread (its strand) and then let the transport drain the outbox. So
// all methods run on that one thread. "Session" in sync-server names the network
// connection (HttpSession, WebSocketSession); this is the protocol it carries.
//
// State machine (docs/sync-protocol.md §5): kAwaitHello → kLive, with at most one
// update (NODES frames then a head) or one probe negotiation in flight. Node frames are
// produced one at a time by Pump(), which the transport calls only while its write
// queue has room, and the next update starts only after the client acknowledges the
// previous head: a slow client costs at most one frame and a few addresses, and when
// it catches up it receives one diff from its acknowledged commit to the newest head,
// skipping the commits in between.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "database.h"
#include "protocol.h"

namespace datalith::sync {

class ClientSync : public Subscriber, public std::enable_shared_from_this<ClientSync> {
 public:
  using Post = std::function<void(std::function<void()>)>;
  ClientSync(Registry& registry, Post post);
  ~ClientSync() override;

  enum class State : uint8_t { kAwaitHello, kLive, kClosed };
  struct Outgoing {
    std::string data;
    bool binary = false;
  };

  // One client message. A fatal error puts a final error message in the outbox and
  // sets close_error(); the transport then closes with CloseCode(code).
  void OnMessage(std::string_view data, bool binary);
  // Produces the next NODES frame (or the head that ends an update) if one is due.
  // Returns false when there is nothing to produce right now.
  bool Pump();
  // Whether Pump() has a frame (or the head ending an update) to produce now.
  bool HasFrames() const { return state_ == State::kLive && sent_ && !probing_ && next_blob_ <= to_send_.size(); }
  // Ends the sync because the server shuts down (an error message, then close).
  void Shutdown();
  // Ends it for a reason of the transport's (e.g. kTimeout): an error message, then close.
  void Abort(ErrorCode code, std::string message) { Fail(code, std::move(message)); }

  std::deque<Outgoing>& outbox() { return outbox_; }
  const std::optional<ProtocolError>& close_error() const { return close_error_; }
  State state() const { return state_; }
  Database* database() const { return db_.get(); }
  const Address& acked() const { return acked_; }
  size_t inflight_tx() const { return inflight_; }

  void OnCommit() override;  // Subscriber: any thread

 private:
  void OnHello(const Hello& h);
  void OnTx(TxRequest&& t);
  void OnAck(const Ack& a);
  void OnResend(const Resend& r);
  // What the client lacks for `head`: its log (the client replays it) or its nodes.
  Status PlanUpdate(const Database::Head& head);
  void OnHave(const std::vector<bool>& have);
  void OnTxDone(uint64_t id, TxOutcome o);
  void MaybeStartUpdate();
  void SendProbe();
  void Fail(ErrorCode code, std::string message);
  void Send(std::string data, bool binary) { outbox_.push_back({std::move(data), binary}); }

  Registry& registry_;
  const Limits limits_;
  Post post_;
  State state_ = State::kAwaitHello;
  std::shared_ptr<Database> db_;
  bool writable_ = false;
  bool admitted_ = false;  // counted in the registry's max_clients
  std::deque<Outgoing> outbox_;
  std::optional<ProtocolError> close_error_;
  size_t inflight_ = 0;
  std::atomic<bool> commit_posted_{false};

  // Replication state. `acked_` is what the client holds (zero: nothing, or unknown
  // while probing); `sent_` is the head of the update in flight.
  Address acked_;
  std::optional<Database::Head> sent_;
  bool nodes_only_ = false;  // the client could not rebuild a log update: send nodes next
  std::vector<Address> to_send_;  // the update's blobs
  size_t next_blob_ = 0;
  HeadInfo update_;
  // Probe negotiation (the client's commit is unknown here): the addresses of the
  // current level still to ask about, the slice asked, the next level, the result.
  bool probing_ = false;
  std::vector<Address> frontier_, asked_, next_level_, lacking_;
};

}  // namespace datalith::sync
