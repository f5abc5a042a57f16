// Head names, the same rule in every store (docs/format.md): 1..128 characters from
// [A-Za-z0-9._-], not "." or "..". The file store makes them file names, so code that
// works on one store works on all.
#pragma once

#include <string>

#include "datalith/status.h"

namespace datalith {

constexpr size_t kMaxHeadName = 128;

inline bool ValidHeadName(const std::string& name) {
  if (name.empty() || name.size() > kMaxHeadName) return false;
  if (name == "." || name == "..") return false;  // would name a directory, not a file
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

inline Status CheckHeadName(const std::string& name) {
  if (ValidHeadName(name)) return Status::Ok();
  return Status::Invalid("invalid head name `" + name + "`: expected 1.." + std::to_string(kMaxHeadName) +
                         " characters from [A-Za-z0-9._-]");
}

}  // namespace datalith
