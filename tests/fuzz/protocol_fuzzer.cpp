// Sync protocol codec (sync-server/replication/protocol.*, docs/sync-protocol.md §3-4).
// The first input byte picks the message kind: even, a client text message for
// ParseClientText; odd, a binary frame for DecodeFrame. Either decodes or fails with
// malformed_message / message_too_large and a message. A parsed text message obeys the
// documented field limits and, written again as JSON, parses to the same message; a
// decoded frame, encoded again (NODES both raw and compressed), decodes to the same
// frame. The server's own messages built from the parsed fields are valid JSON.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "protocol.h"

using namespace datalith;
using namespace datalith::sync;
using Json = nlohmann::json;

namespace {

constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;

void CheckError(const ProtocolError& e) {
  FUZZ_CHECK(e.code == ErrorCode::kMalformedMessage || e.code == ErrorCode::kMessageTooLarge,
             ErrorName(e.code));
  FUZZ_CHECK(!e.message.empty(), "an error without a message");
  // The answer the server sends is JSON whatever the message holds.
  Json answer = Json::parse(ErrorJson(e, 7), nullptr, false);
  FUZZ_CHECK(answer.is_object() && answer["code"] == ErrorName(e.code), ErrorJson(e, 7));
}

// The message as a client would write it.
Json ToJson(const ClientMessage& m) {
  if (auto* h = std::get_if<Hello>(&m)) {
    Json j = {{"type", "hello"}, {"protocol", h->protocol}, {"db", h->db}, {"token", h->token}};
    j["have"] = h->have.IsZero() ? Json(nullptr) : Json(h->have.Hex());
    return j;
  }
  if (auto* t = std::get_if<TxRequest>(&m)) {
    Json j = {{"type", "tx"}, {"id", t->id}, {"tx", t->tx}};
    if (t->client) j["client"] = *t->client;
    if (!t->client_error.empty()) j["client"] = 5;  // not a string
    return j;
  }
  if (auto* a = std::get_if<Ack>(&m)) return {{"type", "ack"}, {"commit", a->commit.Hex()}};
  const auto& r = std::get<Resend>(m);
  return {{"type", "resend"}, {"commit", r.commit.Hex()}, {"reason", r.reason}};
}

bool Same(const ClientMessage& a, const ClientMessage& b) {
  if (a.index() != b.index()) return false;
  if (auto* h = std::get_if<Hello>(&a)) {
    const auto& g = std::get<Hello>(b);
    return h->protocol == g.protocol && h->db == g.db && h->token == g.token && h->have == g.have;
  }
  if (auto* t = std::get_if<TxRequest>(&a)) {
    const auto& u = std::get<TxRequest>(b);
    return t->id == u.id && t->tx == u.tx && t->client == u.client &&
           t->client_error.empty() == u.client_error.empty();
  }
  if (auto* k = std::get_if<Ack>(&a)) return k->commit == std::get<Ack>(b).commit;
  const auto &r = std::get<Resend>(a), &s = std::get<Resend>(b);
  return r.commit == s.commit && r.reason == s.reason;
}

void CheckText(std::string_view text) {
  const Limits limits;
  auto m = ParseClientText(text, limits);
  if (auto* e = std::get_if<ProtocolError>(&m)) return CheckError(*e);
  const ClientMessage& msg = std::get<ClientMessage>(m);
  if (auto* h = std::get_if<Hello>(&msg)) {
    FUZZ_CHECK(h->db.size() <= 64 && h->token.size() <= 256, "hello field limits");
  } else if (auto* t = std::get_if<TxRequest>(&msg)) {
    FUZZ_CHECK(t->id <= kMaxSafeInteger, "tx id " + std::to_string(t->id));
    FUZZ_CHECK(!(t->client && !t->client_error.empty()), "a client id and a client error");
  } else if (auto* r = std::get_if<Resend>(&msg)) {
    FUZZ_CHECK(r->reason.size() <= 1024, "resend reason limit");
  }
  const std::string written = ToJson(msg).dump();
  auto again = ParseClientText(written, limits);
  FUZZ_CHECK(std::holds_alternative<ClientMessage>(again), written + " does not parse: " +
                                                                std::get<ProtocolError>(again).message);
  FUZZ_CHECK(Same(msg, std::get<ClientMessage>(again)), written + " parses differently");

  // Server messages that carry what the client sent.
  if (auto* t = std::get_if<TxRequest>(&msg)) {
    TxReply reply;
    reply.id = t->id;
    reply.tx = t->id;
    if (t->client) reply.tempids[*t->client] = 1000;
    reply.duplicate = t->client.has_value();
    Json ok = Json::parse(TxOkJson(reply), nullptr, false);
    FUZZ_CHECK(ok.is_object() && ok["id"] == t->id && ok.contains("duplicate") == reply.duplicate,
               TxOkJson(reply));
  }
  if (auto* h = std::get_if<Hello>(&msg)) {
    Json welcome = Json::parse(WelcomeJson(h->db, true, h->have, 0, limits), nullptr, false);
    FUZZ_CHECK(welcome.is_object() && welcome["db"] == h->db, "welcome for " + h->db);
  }
}

bool Same(const Frame& a, const Frame& b) {
  if (a.type != b.type || a.addresses != b.addresses || a.have != b.have || a.blobs.size() != b.blobs.size())
    return false;
  for (size_t i = 0; i < a.blobs.size(); ++i) {
    if (a.blobs[i].addr != b.blobs[i].addr || a.blobs[i].bytes != b.blobs[i].bytes) return false;
  }
  return true;
}

void CheckFrameEncoding(const Frame& f, const std::string& encoded, size_t max_raw) {
  auto again = DecodeFrame(encoded, max_raw);
  FUZZ_CHECK(std::holds_alternative<Frame>(again),
             "a re-encoded frame does not decode: " + std::get<ProtocolError>(again).message);
  FUZZ_CHECK(Same(f, std::get<Frame>(again)), "a re-encoded frame decodes differently");
}

void CheckBinary(std::string_view data) {
  const size_t max_raw = Limits().max_message_bytes;
  auto f = DecodeFrame(data, max_raw);
  if (auto* e = std::get_if<ProtocolError>(&f)) return CheckError(*e);
  const Frame& frame = std::get<Frame>(f);
  switch (frame.type) {
    case FrameType::kNodes:
      CheckFrameEncoding(frame, EncodeNodes(frame.blobs, false), max_raw);
      CheckFrameEncoding(frame, EncodeNodes(frame.blobs, true), max_raw);
      break;
    case FrameType::kProbe: CheckFrameEncoding(frame, EncodeProbe(frame.addresses), max_raw); break;
    case FrameType::kHave: CheckFrameEncoding(frame, EncodeHave(frame.have), max_raw); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    CheckText(rest);
  } else {
    CheckBinary(rest);
  }
  return 0;
}
