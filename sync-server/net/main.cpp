// datalith-server: hosts Datalith databases over HTTP and the WebSocket sync protocol
// (docs/sync-protocol.md). Flags and config file: sync-server/README.md.
#include <cstdio>

#include "config.h"
#include "server.h"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(datalith::server::kUsage, stdout);
      return 0;
    }
  }
  auto config = datalith::server::ParseArgs(argc, argv);
  if (!config.ok()) {
    std::fprintf(stderr, "datalith-server: %s\n%s", config.status().message().c_str(), datalith::server::kUsage);
    return 2;
  }
  return datalith::server::Run(std::move(config).value());
}
