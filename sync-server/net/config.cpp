#include "config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace datalith::server {

const char* const kUsage =
    "usage: datalith-server --data DIR [options]\n"
    "       datalith-server --postgres CONNINFO [options]\n"
    "  --config FILE         JSON config file (flags given after it override it)\n"
    "  --listen ADDR         listen address (default 127.0.0.1)\n"
    "  --port N              port (default 8080; 0 = any free port)\n"
    "  --threads N           I/O threads (default 2)\n"
    "  --data DIR            data directory: one store per database, DIR/<name>/\n"
    "  --postgres CONNINFO   instead, the databases in this Postgres database (libpq conninfo\n"
    "                        or postgres:// URI), shared with other datalith-servers\n"
    "  --static DIR          serve the files under DIR over HTTP GET\n"
    "  --db NAME             host database NAME (repeatable; created if missing)\n"
    "  --read-token T        read-only token for the --db databases (repeatable)\n"
    "  --write-token T       read-write token for the --db databases (repeatable)\n"
    "  --create-on-demand    host any valid name a client asks for, with the tokens above\n"
    "                        (a write token creates a missing one; a read token does not)\n"
    "  --metrics-token T     serve /metrics to requests bearing T (default: /metrics is off)\n"
    "  --max-message-bytes N --max-frame-bytes N --max-clients N --max-inflight-tx N\n"
    "  --max-queued-tx N --max-group N --write-queue-bytes N --write-queue-total-bytes N\n"
    "  --max-pending-clients N --max-hello-bytes N --hello-timeout-ms N\n"
    "  --message-timeout-ms N --max-databases N --idle-close-ms N\n"
    "  --no-frame-compression  send NODES frames uncompressed\n"
    "  --no-log-updates      push live replicas nodes, not the new commits' logs\n";

namespace {

using Json = nlohmann::json;

Status ParseSize(const std::string& flag, const std::string& text, size_t* out) {
  try {
    size_t pos = 0;
    unsigned long long v = std::stoull(text, &pos);
    if (pos != text.size() || v == 0) throw std::invalid_argument(text);
    *out = static_cast<size_t>(v);
    return Status::Ok();
  } catch (const std::exception&) {
    return Status::Invalid(flag + ": expected a positive integer, got '" + text + "'");
  }
}

// Limits by their flag / config-key name.
size_t* LimitField(sync::Limits& l, const std::string& name) {
  if (name == "max-message-bytes") return &l.max_message_bytes;
  if (name == "max-frame-bytes") return &l.max_frame_bytes;
  if (name == "max-clients") return &l.max_clients;
  if (name == "max-inflight-tx") return &l.max_inflight_tx;
  if (name == "max-queued-tx") return &l.max_queued_tx;
  if (name == "max-group") return &l.max_group;
  if (name == "write-queue-bytes") return &l.write_queue_bytes;
  if (name == "write-queue-total-bytes") return &l.write_queue_total_bytes;
  if (name == "max-pending-clients") return &l.max_pending_clients;
  if (name == "max-hello-bytes") return &l.max_hello_bytes;
  if (name == "hello-timeout-ms") return &l.hello_timeout_ms;
  if (name == "message-timeout-ms") return &l.message_timeout_ms;
  if (name == "max-databases") return &l.max_databases;
  if (name == "idle-close-ms") return &l.idle_close_ms;
  return nullptr;
}

std::vector<std::string> Strings(const Json& j, const std::string& where) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (!j.is_array()) throw std::invalid_argument(where + ": expected an array of strings");
  for (const Json& s : j) {
    if (!s.is_string()) throw std::invalid_argument(where + ": expected an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

sync::DatabaseConfig Tokens(const Json& j, const std::string& where) {
  if (!j.is_object()) throw std::invalid_argument(where + ": expected {\"read\": [...], \"write\": [...]}");
  return {Strings(j.value("read", Json()), where + ".read"), Strings(j.value("write", Json()), where + ".write")};
}

Status LoadFile(const std::string& path, ServerConfig* c) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  Json j = Json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Invalid(path + ": not a JSON object");
  try {
    for (const auto& [key, v] : j.items()) {
      if (key == "listen") c->listen = v.get<std::string>();
      else if (key == "port") c->port = v.get<uint16_t>();
      else if (key == "threads") c->threads = v.get<int>();
      else if (key == "data") c->registry.data_dir = v.get<std::string>();
      else if (key == "postgres") c->registry.postgres = v.get<std::string>();
      else if (key == "static") c->static_dir = v.get<std::string>();
      else if (key == "metrics_token") c->metrics_token = v.get<std::string>();
      else if (key == "create_on_demand") c->registry.create_on_demand = v.get<bool>();
      else if (key == "default_tokens") c->registry.default_tokens = Tokens(v, key);
      else if (key == "databases") {
        for (const auto& [name, t] : v.items()) c->registry.databases[name] = Tokens(t, key + "." + name);
      } else if (key == "limits") {
        for (const auto& [name, n] : v.items()) {
          if (name == "compress_frames") { c->registry.limits.compress_frames = n.get<bool>(); continue; }
          if (name == "log_updates") { c->registry.limits.log_updates = n.get<bool>(); continue; }
          std::string flag = name;  // the file's max_message_bytes is the flag's max-message-bytes
          std::replace(flag.begin(), flag.end(), '_', '-');
          size_t* f = LimitField(c->registry.limits, flag);
          if (!f || !n.is_number_unsigned() || n.get<size_t>() == 0)
            return Status::Invalid(path + ": limits." + name + ": unknown or not a positive integer");
          *f = n.get<size_t>();
        }
      } else {
        return Status::Invalid(path + ": unknown key \"" + key + "\"");
      }
    }
  } catch (const std::exception& e) {
    return Status::Invalid(path + ": " + e.what());
  }
  return Status::Ok();
}

}  // namespace

Result<ServerConfig> ParseArgs(int argc, char** argv) {
  ServerConfig c;
  std::vector<std::string> dbs, read, write;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--create-on-demand") { c.registry.create_on_demand = true; continue; }
    if (flag == "--no-frame-compression") { c.registry.limits.compress_frames = false; continue; }
    if (flag == "--no-log-updates") { c.registry.limits.log_updates = false; continue; }
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) return Status::Invalid("unknown or incomplete flag '" + flag + "'");
    std::string v = argv[++i];
    size_t n = 0;
    if (flag == "--config") { DL_RETURN_IF_ERROR(LoadFile(v, &c)); }
    else if (flag == "--listen") c.listen = v;
    else if (flag == "--port") {
      if (v != "0") DL_RETURN_IF_ERROR(ParseSize(flag, v, &n));
      if (n > 65535) return Status::Invalid("--port: out of range");
      c.port = static_cast<uint16_t>(n);
    } else if (flag == "--threads") {
      DL_RETURN_IF_ERROR(ParseSize(flag, v, &n));
      c.threads = static_cast<int>(std::min<size_t>(n, 64));
    } else if (flag == "--data") c.registry.data_dir = v;
    else if (flag == "--postgres") c.registry.postgres = v;
    else if (flag == "--static") c.static_dir = v;
    else if (flag == "--metrics-token") c.metrics_token = v;
    else if (flag == "--db") dbs.push_back(v);
    else if (flag == "--read-token") read.push_back(v);
    else if (flag == "--write-token") write.push_back(v);
    else if (size_t* f = LimitField(c.registry.limits, flag.substr(2))) DL_RETURN_IF_ERROR(ParseSize(flag, v, f));
    else return Status::Invalid("unknown flag '" + flag + "'");
  }
  for (const std::string& name : dbs) {
    if (!sync::ValidDatabaseName(name)) return Status::Invalid("--db: bad name '" + name + "' ([A-Za-z0-9_-]{1,64})");
    auto& t = c.registry.databases[name];
    t.read_tokens.insert(t.read_tokens.end(), read.begin(), read.end());
    t.write_tokens.insert(t.write_tokens.end(), write.begin(), write.end());
  }
  auto& d = c.registry.default_tokens;
  d.read_tokens.insert(d.read_tokens.end(), read.begin(), read.end());
  d.write_tokens.insert(d.write_tokens.end(), write.begin(), write.end());
  if (c.registry.data_dir.empty() == c.registry.postgres.empty())
    return Status::Invalid("give one of --data DIR and --postgres CONNINFO");
  return c;
}

}  // namespace datalith::server
