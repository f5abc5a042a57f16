#include "shared_state.h"

namespace datalith::server {

void ServerState::Register(const std::shared_ptr<WebSocketSession>& s) {
  std::lock_guard<std::mutex> lock(mu);
  std::erase_if(sessions, [](const auto& w) { return w.expired(); });
  sessions.push_back(s);
}

std::vector<std::shared_ptr<WebSocketSession>> ServerState::LiveSessions() {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<std::shared_ptr<WebSocketSession>> out;
  for (const auto& w : sessions) {
    if (auto s = w.lock()) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace datalith::server
