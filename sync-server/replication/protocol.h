// The sync protocol's messages and their codec (docs/sync-protocol.md, version 2).
//
// Text frames are JSON objects with a "type"; binary frames carry node blobs (NODES),
// address lists the server asks about (PROBE) and the client's answer (HAVE). Every
// decoder checks sizes against `Limits` before allocating and rejects anything
// malformed with a `ProtocolError`; nothing here throws or asserts on input.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "datalith/datom.h"
#include "datalith/store.h"

namespace datalith::sync {

constexpr int kProtocolVersion = 2;

// Every size the server enforces. Defaults are the documented ones.
struct Limits {
  size_t max_message_bytes = size_t{1} << 20;  // one client message, text or binary
  size_t max_frame_bytes = size_t{8} << 20;    // raw payload of one server NODES frame
  size_t frame_target_bytes = size_t{512} << 10;  // NODES frames are filled up to this
  size_t max_probe = 16384;                    // addresses in one PROBE frame
  size_t max_inflight_tx = 32;                 // unanswered tx per session
  size_t max_queued_tx = 4096;                 // queued tx per database (all sessions)
  size_t max_group = 256;                      // tx per group commit
  size_t max_clients = 1024;                   // authenticated WebSocket sessions per server
  size_t max_pending_clients = 256;            // WebSocket sessions still before hello
  size_t max_hello_bytes = 4096;               // a client message before hello
  size_t hello_timeout_ms = 10000;             // from the upgrade to hello
  size_t message_timeout_ms = 30000;           // from a message's first byte to its last
  size_t max_databases = 256;                  // open at once (create_on_demand)
  size_t idle_close_ms = 300000;               // an on-demand database unused this long closes
  size_t write_queue_bytes = size_t{4} << 20;  // a session stops producing frames above
  size_t write_queue_total_bytes = size_t{64} << 20;  // all sessions' queues beyond one frame each
  bool compress_frames = true;                 // zstd a NODES frame when it saves >= 5%
  bool log_updates = true;                     // live replicas get new commits as logs
};

// Do not renumber or rename: the names are on the wire.
enum class ErrorCode : uint8_t {
  kMalformedMessage = 0,
  kBadToken = 1,
  kUnknownDatabase = 2,
  kVersionMismatch = 3,
  kMessageTooLarge = 4,
  kUnexpectedMessage = 5,
  kForbidden = 6,
  kTxFailed = 7,
  kOverloaded = 8,
  kCommitFailed = 9,
  kShuttingDown = 10,
  kInternal = 11,
  kTimeout = 12,
};
const char* ErrorName(ErrorCode code);
// The WebSocket close code a fatal error closes with (docs/sync-protocol.md §6).
uint16_t CloseCode(ErrorCode code);

struct ProtocolError {
  ErrorCode code = ErrorCode::kMalformedMessage;
  std::string message;
};

// ---- client → server text messages ----
struct Hello {
  int protocol = 0;
  std::string db;
  std::string token;
  Address have;  // zero: the client has nothing
};
struct TxRequest {
  uint64_t id = 0;
  std::string tx;  // EDN tx data
  // The client id (idempotency key, §5.4) when the field is present. Its value is
  // checked by the core, so a bad one answers this tx with tx_failed: `client_error`
  // says why when it is not even a string.
  std::optional<std::string> client;
  std::string client_error;
};
struct Ack {
  Address commit;
};
// The datoms of a log update did not rebuild its head: send it as nodes.
struct Resend {
  Address commit;
  std::string reason;
};
using ClientMessage = std::variant<Hello, TxRequest, Ack, Resend>;

// Parses one client text frame. Errors are kMalformedMessage or kMessageTooLarge.
std::variant<ClientMessage, ProtocolError> ParseClientText(std::string_view text,
                                                           const Limits& limits);

// ---- server → client text messages ----
// What this server does beyond the base protocol, in `welcome.features`.
inline constexpr const char* kFeatures[] = {"client_ids"};
std::string WelcomeJson(const std::string& db, bool writable, const Address& head,
                        EntityId tx, const Limits& limits);
struct HeadInfo {
  Address commit;
  EntityId tx = 0;
  uint64_t blobs = 0;   // blobs sent for this update (all NODES frames since the last head)
  uint64_t bytes = 0;   // their stored bytes
  uint64_t frames = 0;
  // "log": the blobs are the log segments of the commits from the client's head to
  // this one, which it replays; "nodes": the blobs are what it lacks to hold the head.
  bool apply_log = false;
  // Per commit after the client's head, oldest first, its log segments; empty when the
  // server does not send the transactions (the chain is too long or has no log).
  std::vector<std::vector<Address>> log;
};
std::string HeadJson(const HeadInfo& head);
struct TxReply {
  uint64_t id = 0;
  EntityId tx = 0;
  std::map<std::string, EntityId> tempids;
  uint64_t datoms = 0;
  Address commit;  // the durable commit that contains the tx
  bool duplicate = false;  // the client id was committed before: tx and tempids are the original's
};
std::string TxOkJson(const TxReply& reply);
// `id` is set for errors that answer a tx request.
std::string ErrorJson(const ProtocolError& error, std::optional<uint64_t> id = std::nullopt);

// ---- binary frames ----
// Header: u8 type, u8 codec (0 raw, 1 zstd), u32 BE raw payload length; then the
// payload, raw or as one zstd frame. Do not renumber.
enum class FrameType : uint8_t { kNodes = 1, kProbe = 2, kHave = 3 };
constexpr size_t kFrameHeaderBytes = 6;

struct Blob {
  Address addr;
  std::string bytes;  // as stored: codec byte + payload (docs/format.md §2)
};

struct Frame {
  FrameType type = FrameType::kNodes;
  std::vector<Blob> blobs;           // kNodes
  std::vector<Address> addresses;    // kProbe
  std::vector<bool> have;            // kHave
};

// Raw payload size of a NODES frame holding blobs of these sizes.
inline size_t NodesPayloadBytes(size_t count, size_t blob_bytes) {
  return 4 + count * 20 + blob_bytes;
}
// Encodes a NODES frame. With `compress`, the payload is zstd-compressed when that
// saves at least 5%; `*compressed` tells whether it was.
std::string EncodeNodes(const std::vector<Blob>& blobs, bool compress, bool* compressed = nullptr);
std::string EncodeProbe(const std::vector<Address>& addresses);
std::string EncodeHave(const std::vector<bool>& have);
// Decodes any binary frame whose raw payload is at most `max_raw` bytes.
std::variant<Frame, ProtocolError> DecodeFrame(std::string_view data, size_t max_raw);

}  // namespace datalith::sync
