// datalith-server: hosts Datalith databases over HTTP and the WebSocket sync protocol
// (docs/sync-protocol.md). Flags and config file: sync-server/README.md.
//
// main: parses the flags, opens the listed databases, starts the Listener, runs the
// io_context on --threads threads, and on SIGINT/SIGTERM shuts down gracefully.
#include <malloc.h>

#include <csignal>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <thread>
#include <vector>

#include "beast.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "shared_state.h"
#include "websocket_session.h"

namespace datalith::server {
namespace {

// Runs the server until SIGINT/SIGTERM, then shuts down gracefully: stop accepting,
// commit and answer every queued transaction, close every session with 1001.
int Run(ServerConfig config) {
  // Frames (up to max_frame_bytes) come from mmap and go back to the system when freed;
  // glibc's default threshold grows after the first such free and keeps them in the heap.
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
  auto state = std::make_shared<ServerState>(std::move(config));
  const ServerConfig& c = state->config;
  if (Status s = state->registry.OpenListed(); !s.ok()) {
    Log("error", "open_failed", {{"error", s.ToString()}});
    return 1;
  }
  beast::error_code ec;
  auto address = net::ip::make_address(c.listen, ec);
  if (ec) {
    Log("error", "bad_listen_address", {{"addr", c.listen}, {"error", ec.message()}});
    return 1;
  }
  net::io_context ioc(c.threads);
  auto listener = std::make_shared<Listener>(ioc, state);
  if ((ec = listener->Open({address, c.port}))) {
    Log("error", "listen_failed", {{"addr", c.listen}, {"port", std::to_string(c.port)}, {"error", ec.message()}});
    return 1;
  }
  listener->Run();

  // Closes the on-demand databases nobody has used for idle_close_ms (their writer
  // threads and stores), every second, off the I/O threads (closing joins a writer).
  std::mutex reaper_mu;
  std::condition_variable reaper_cv;
  std::thread reaper;
  if (c.registry.create_on_demand) {
    reaper = std::thread([&] {
      std::unique_lock<std::mutex> lock(reaper_mu);
      while (!reaper_cv.wait_for(lock, std::chrono::seconds(1), [&] { return state->stopping.load(); })) {
        for (const auto& name : state->registry.CloseIdle()) Log("info", "db_closed_idle", {{"db", name}});
      }
    });
  }

  std::thread drain;
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int sig) {
    Log("info", "shutdown_begin", {{"signal", std::to_string(sig)}});
    state->stopping = true;
    listener->Stop();
    reaper_cv.notify_all();
    // Blocking work (joining the writers) happens off the I/O threads, which keep
    // delivering the answers of the last group commits meanwhile.
    drain = std::thread([&ioc, state] {
      state->registry.CloseAll();
      Log("info", "commits_drained");
      for (const auto& s : state->LiveSessions()) s->Shutdown();
      for (int i = 0; i < 100 && (state->ws_sessions > 0 || state->http_busy > 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ioc.stop();
    });
  });
  // Only now, with SIGINT/SIGTERM handled, say the server is listening: a supervisor (or a
  // test) that signals it as soon as it reads this line gets a graceful shutdown.
  std::string dbs;
  for (const auto& db : state->registry.databases()) dbs += (dbs.empty() ? "" : ",") + db->name();
  Log("info", "listening", {{"addr", c.listen}, {"port", std::to_string(listener->port())},
                            {"databases", dbs}, {"static", c.static_dir}});
  std::vector<std::thread> threads;
  for (int i = 1; i < c.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  if (drain.joinable()) drain.join();
  if (reaper.joinable()) reaper.join();
  Log("info", "stopped", {{"sessions_left", std::to_string(state->ws_sessions.load())}});
  return 0;
}

}  // namespace
}  // namespace datalith::server

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
