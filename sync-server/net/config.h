// The server's configuration: command-line flags over an optional JSON config file
// (sync-server/README.md lists both).
#pragma once

#include <string>

#include "database.h"

namespace datalith::server {

struct ServerConfig {
  std::string listen = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (the "listening" log line names it)
  int threads = 2;       // I/O threads
  std::string static_dir;  // empty: no static files
  std::string metrics_token;  // empty: /metrics is off
  sync::RegistryConfig registry;
};

// Parses argv (and the --config file it names). Errors name the flag or the key.
Result<ServerConfig> ParseArgs(int argc, char** argv);
extern const char* const kUsage;

}  // namespace datalith::server
