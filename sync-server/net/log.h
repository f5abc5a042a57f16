// Structured logging: one line per event on stderr, `key=value` pairs, values quoted
// when they hold spaces, quotes or `=`. Thread-safe (one write per line).
#pragma once

#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <string>
#include <utility>

namespace datalith::server {

using Field = std::pair<const char*, std::string>;

inline std::string LogValue(const std::string& v) {
  if (!v.empty() && v.find_first_of(" \"=\n\t") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') q += '\\';
    q += c == '\n' ? ' ' : c;
  }
  return q + "\"";
}

inline void Log(const char* level, const char* event, std::initializer_list<Field> fields = {}) {
  static std::mutex mu;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  std::string line = "ts=" + std::to_string(ms / 1000) + "." + std::to_string(1000 + ms % 1000).substr(1) +
                     " level=" + level + " event=" + event;
  for (const auto& [k, v] : fields) line += std::string(" ") + k + "=" + LogValue(v);
  line += "\n";
  std::lock_guard<std::mutex> lock(mu);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace datalith::server
