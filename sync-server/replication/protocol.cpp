#include "protocol.h"

#include <zstd.h>

#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

namespace datalith::sync {
namespace {

using Json = nlohmann::json;
constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;  // exact in a JS number

ProtocolError Malformed(std::string message) {
  return {ErrorCode::kMalformedMessage, std::move(message)};
}

void PutU32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}

uint32_t GetU32(const char* p) {
  auto u = [&](int i) { return static_cast<uint32_t>(static_cast<uint8_t>(p[i])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}

void PutAddress(std::string* out, const Address& a) {
  out->append(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
}

Address GetAddress(const char* p) {
  Address a;
  std::memcpy(a.bytes.data(), p, a.bytes.size());
  return a;
}

// A field that must be a string, with a length limit.
std::optional<std::string> StringField(const Json& j, const char* key, size_t max,
                                       ProtocolError* err) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    *err = Malformed(std::string("field \"") + key + "\" must be a string");
    return std::nullopt;
  }
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max) {
    *err = Malformed(std::string("field \"") + key + "\" is longer than " + std::to_string(max));
    return std::nullopt;
  }
  return s;
}

std::optional<uint64_t> IdField(const Json& j, const char* key, ProtocolError* err) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() > kMaxSafeInteger) {
    *err = Malformed(std::string("field \"") + key + "\" must be an integer in [0, 2^53)");
    return std::nullopt;
  }
  return it->get<uint64_t>();
}

// A commit address field: 32 hex digits, or (when `nullable`) null or absent = zero.
std::optional<Address> AddressField(const Json& j, const char* key, bool nullable,
                                    ProtocolError* err) {
  auto it = j.find(key);
  if (nullable && (it == j.end() || it->is_null())) return Address();
  if (it == j.end() || !it->is_string()) {
    *err = Malformed(std::string("field \"") + key + "\" must be 32 hex digits" +
                     (nullable ? " or null" : ""));
    return std::nullopt;
  }
  auto a = Address::FromHex(it->get_ref<const std::string&>());
  if (!a.ok()) {
    *err = Malformed(std::string("field \"") + key + "\": " + a.status().message());
    return std::nullopt;
  }
  return *a;
}

}  // namespace

const char* ErrorName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformedMessage: return "malformed_message";
    case ErrorCode::kBadToken: return "bad_token";
    case ErrorCode::kUnknownDatabase: return "unknown_database";
    case ErrorCode::kVersionMismatch: return "version_mismatch";
    case ErrorCode::kMessageTooLarge: return "message_too_large";
    case ErrorCode::kUnexpectedMessage: return "unexpected_message";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kTxFailed: return "tx_failed";
    case ErrorCode::kOverloaded: return "overloaded";
    case ErrorCode::kCommitFailed: return "commit_failed";
    case ErrorCode::kShuttingDown: return "shutting_down";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kTimeout: return "timeout";
  }
  return "internal";
}

uint16_t CloseCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformedMessage: return 4400;
    case ErrorCode::kBadToken: return 4401;
    case ErrorCode::kForbidden: return 4403;
    case ErrorCode::kUnknownDatabase: return 4404;
    case ErrorCode::kVersionMismatch: return 4406;
    case ErrorCode::kUnexpectedMessage: return 4409;
    case ErrorCode::kTimeout: return 4408;
    case ErrorCode::kMessageTooLarge: return 1009;  // RFC 6455 "message too big"
    case ErrorCode::kShuttingDown: return 1001;     // RFC 6455 "going away"
    case ErrorCode::kOverloaded: return 1013;       // "try again later"
    default: return 1011;                           // "internal error"
  }
}

std::variant<ClientMessage, ProtocolError> ParseClientText(std::string_view text,
                                                           const Limits& limits) {
  if (text.size() > limits.max_message_bytes)
    return ProtocolError{ErrorCode::kMessageTooLarge,
                         "message of " + std::to_string(text.size()) + " bytes exceeds " +
                             std::to_string(limits.max_message_bytes)};
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Malformed("not valid JSON");
  if (!j.is_object()) return Malformed("a message must be a JSON object");
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return Malformed("missing \"type\"");
  const std::string& t = type->get_ref<const std::string&>();
  ProtocolError err;
  if (t == "hello") {
    auto p = j.find("protocol");
    if (p == j.end() || !p->is_number_integer()) return Malformed("field \"protocol\" must be an integer");
    Hello h;
    h.protocol = p->get<int64_t>() > 1000000 || p->get<int64_t>() < 0 ? -1 : p->get<int>();
    auto db = StringField(j, "db", 64, &err);
    auto token = db ? StringField(j, "token", 256, &err) : std::nullopt;
    auto have = token ? AddressField(j, "have", true, &err) : std::nullopt;
    if (!have) return err;
    h.db = std::move(*db);
    h.token = std::move(*token);
    h.have = *have;
    return ClientMessage(std::move(h));
  }
  if (t == "tx") {
    auto id = IdField(j, "id", &err);
    auto tx = id ? StringField(j, "tx", limits.max_message_bytes, &err) : std::nullopt;
    if (!tx) return err;
    TxRequest r;
    r.id = *id;
    r.tx = std::move(*tx);
    auto client = j.find("client");
    if (client != j.end() && !client->is_null()) {
      if (client->is_string()) r.client = client->get<std::string>();
      else r.client_error = "field \"client\" must be a string";
    }
    return ClientMessage(std::move(r));
  }
  if (t == "ack") {
    auto commit = AddressField(j, "commit", false, &err);
    if (!commit) return err;
    return ClientMessage(Ack{*commit});
  }
  if (t == "resend") {
    auto commit = AddressField(j, "commit", false, &err);
    auto reason = commit ? StringField(j, "reason", 1024, &err) : std::nullopt;
    if (!reason) return err;
    return ClientMessage(Resend{*commit, std::move(*reason)});
  }
  return Malformed("unknown message type \"" + t.substr(0, 32) + "\"");
}

std::string WelcomeJson(const std::string& db, bool writable, const Address& head, EntityId tx,
                        const Limits& limits) {
  Json j = {{"type", "welcome"},
            {"protocol", kProtocolVersion},
            {"db", db},
            {"access", writable ? "write" : "read"},
            {"head", head.Hex()},
            {"tx", tx},
            {"features", kFeatures},
            {"limits",
             {{"max_message_bytes", limits.max_message_bytes},
              {"max_frame_bytes", limits.max_frame_bytes},
              {"max_probe", limits.max_probe},
              {"max_inflight_tx", limits.max_inflight_tx}}}};
  return j.dump();
}

std::string HeadJson(const HeadInfo& h) {
  Json j = {{"type", "head"},  {"commit", h.commit.Hex()}, {"tx", h.tx},
            {"blobs", h.blobs}, {"bytes", h.bytes},         {"frames", h.frames},
            {"apply", h.apply_log ? "log" : "nodes"}};
  if (!h.log.empty()) {
    Json log = Json::array();
    for (const auto& commit : h.log) {
      Json segments = Json::array();
      for (const Address& a : commit) segments.push_back(a.Hex());
      log.push_back(std::move(segments));
    }
    j["log"] = std::move(log);
  }
  return j.dump();
}

std::string TxOkJson(const TxReply& r) {
  Json tempids = Json::object();
  for (const auto& [name, id] : r.tempids) tempids[name] = id;
  Json j = {{"type", "tx_ok"},   {"id", r.id},         {"tx", r.tx},
            {"tempids", tempids}, {"datoms", r.datoms}, {"commit", r.commit.Hex()}};
  if (r.duplicate) j["duplicate"] = true;
  // Tempids are the client's strings: never throw on one that is not UTF-8 (the answer
  // runs on the server's I/O thread, where an exception ends the process).
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string ErrorJson(const ProtocolError& e, std::optional<uint64_t> id) {
  Json j = {{"type", "error"}, {"code", ErrorName(e.code)}, {"message", e.message}};
  if (id) j["id"] = *id;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// ---- binary frames ----

namespace {

std::string Finish(FrameType type, const std::string& payload, bool compress, bool* compressed) {
  std::string out;
  out.push_back(static_cast<char>(type));
  if (compress && payload.size() >= 64) {
    std::string z(ZSTD_compressBound(payload.size()), '\0');
    size_t n = ZSTD_compress(z.data(), z.size(), payload.data(), payload.size(), 1);
    if (!ZSTD_isError(n) && n < payload.size() - payload.size() / 20) {
      out.push_back(1);
      PutU32(&out, static_cast<uint32_t>(payload.size()));
      out.append(z.data(), n);
      if (compressed) *compressed = true;
      return out;
    }
  }
  out.push_back(0);
  PutU32(&out, static_cast<uint32_t>(payload.size()));
  out += payload;
  if (compressed) *compressed = false;
  return out;
}

}  // namespace

std::string EncodeNodes(const std::vector<Blob>& blobs, bool compress, bool* compressed) {
  std::string p;
  size_t bytes = 0;
  for (const Blob& b : blobs) bytes += b.bytes.size();
  p.reserve(NodesPayloadBytes(blobs.size(), bytes));
  PutU32(&p, static_cast<uint32_t>(blobs.size()));
  for (const Blob& b : blobs) {
    PutAddress(&p, b.addr);
    PutU32(&p, static_cast<uint32_t>(b.bytes.size()));
    p += b.bytes;
  }
  return Finish(FrameType::kNodes, p, compress, compressed);
}

std::string EncodeProbe(const std::vector<Address>& addresses) {
  std::string p;
  PutU32(&p, static_cast<uint32_t>(addresses.size()));
  for (const Address& a : addresses) PutAddress(&p, a);
  return Finish(FrameType::kProbe, p, false, nullptr);
}

std::string EncodeHave(const std::vector<bool>& have) {
  std::string p;
  PutU32(&p, static_cast<uint32_t>(have.size()));
  p.append((have.size() + 7) / 8, '\0');
  for (size_t i = 0; i < have.size(); ++i) {
    if (have[i]) p[4 + i / 8] = static_cast<char>(p[4 + i / 8] | (1 << (i % 8)));
  }
  return Finish(FrameType::kHave, p, false, nullptr);
}

std::variant<Frame, ProtocolError> DecodeFrame(std::string_view data, size_t max_raw) {
  if (data.size() < kFrameHeaderBytes) return Malformed("binary frame shorter than its header");
  uint8_t type = static_cast<uint8_t>(data[0]), codec = static_cast<uint8_t>(data[1]);
  if (type < 1 || type > 3) return Malformed("unknown binary frame type " + std::to_string(type));
  if (codec > 1) return Malformed("unknown frame codec " + std::to_string(codec));
  size_t raw_len = GetU32(data.data() + 2);
  if (raw_len > max_raw)
    return ProtocolError{ErrorCode::kMessageTooLarge, "frame payload of " + std::to_string(raw_len) +
                                                          " bytes exceeds " + std::to_string(max_raw)};
  std::string_view body = data.substr(kFrameHeaderBytes);
  std::string raw;
  if (codec == 1) {
    unsigned long long size = ZSTD_getFrameContentSize(body.data(), body.size());
    if (size != raw_len) return Malformed("zstd frame content size does not match the header");
    raw.resize(raw_len);
    size_t n = ZSTD_decompress(raw.data(), raw.size(), body.data(), body.size());
    if (ZSTD_isError(n) || n != raw_len) return Malformed("zstd payload does not decompress");
    body = raw;
  } else if (body.size() != raw_len) {
    return Malformed("frame payload length does not match the header");
  }
  if (body.size() < 4) return Malformed("frame payload shorter than its count");
  size_t count = GetU32(body.data());
  size_t pos = 4;
  Frame f;
  f.type = static_cast<FrameType>(type);
  switch (f.type) {
    case FrameType::kNodes:
      if (count > (body.size() - 4) / 20) return Malformed("NODES count exceeds the payload");
      f.blobs.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        if (body.size() - pos < 20) return Malformed("NODES entry " + std::to_string(i) + " truncated");
        Blob b{GetAddress(body.data() + pos), {}};
        size_t len = GetU32(body.data() + pos + 16);
        pos += 20;
        if (body.size() - pos < len) return Malformed("NODES blob " + std::to_string(i) + " truncated");
        b.bytes.assign(body.data() + pos, len);
        pos += len;
        f.blobs.push_back(std::move(b));
      }
      break;
    case FrameType::kProbe:
      if (body.size() - 4 != count * 16) return Malformed("PROBE length does not match its count");
      for (size_t i = 0; i < count; ++i) f.addresses.push_back(GetAddress(body.data() + 4 + i * 16));
      pos = body.size();
      break;
    case FrameType::kHave:
      if (body.size() - 4 != (count + 7) / 8) return Malformed("HAVE length does not match its count");
      f.have.resize(count);
      for (size_t i = 0; i < count; ++i) f.have[i] = (static_cast<uint8_t>(body[4 + i / 8]) >> (i % 8)) & 1;
      pos = body.size();
      break;
  }
  if (pos != body.size()) return Malformed("trailing bytes after the frame's entries");
  return f;
}

}  // namespace datalith::sync
