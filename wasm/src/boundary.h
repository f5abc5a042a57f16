// The raw tier's boundary (docs/wasm.md, "Raw tier contract"): the handle registries
// and the one error convention every export follows.
//
// JS sees functions of strings, numbers and byte arrays; stores, connections and
// snapshots stay here in registries keyed by integer handles. Every error reaching JS
// carries the core's message and its status name as `code`:
// - calls that may touch storage or read user input (*R* in the contract) answer JSON
//   text: {"ok": value}, {"error": message, "code": name}, or {"missing": true} when
//   the status is kMissingNode (the call changed nothing; JS fetches the store's
//   missing addresses, provides the blobs and calls again);
// - the others throw a JS Error with `code` set, for a bad argument or handle.
// No C++ exception crosses into JS.
#pragma once

#include <emscripten/val.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "datalith/db.h"
#include "datalith/buffer_store.h"

namespace datalith::wasm {

using Json = nlohmann::ordered_json;

// ---- handles ----

struct StoreEntry {
  std::shared_ptr<Store> store;
  std::shared_ptr<BufferStore> buffer;  // null for a memory store
};

// A C++ exception carrying a Status, for non-R calls (Guard turns it into a JS Error).
struct StatusError : std::exception {
  explicit StatusError(Status s) : status(std::move(s)) {}
  const char* what() const noexcept override { return status.message().c_str(); }
  Status status;
};

int NextHandle();  // one sequence for every kind, so a handle of the wrong kind fails
Status UnknownHandle(const char* kind, int id);

template <class T>
class Registry {
 public:
  explicit Registry(const char* kind) : kind_(kind) {}
  int Add(T v) {
    int id = NextHandle();
    items_.emplace(id, std::move(v));
    return id;
  }
  Result<T*> Lookup(int id) {
    auto it = items_.find(id);
    if (it != items_.end()) return &it->second;
    return UnknownHandle(kind_, id);
  }
  // For non-R calls: an unknown handle throws (Guard makes it a JS Error).
  T& Get(int id) {
    Result<T*> v = Lookup(id);
    if (!v.ok()) throw StatusError(v.status());
    return **v;
  }
  void Release(int id) { items_.erase(id); }
  const std::unordered_map<int, T>& items() const { return items_; }

 private:
  const char* kind_;
  std::unordered_map<int, T> items_;
};

extern Registry<StoreEntry> stores;
extern Registry<std::shared_ptr<Connection>> conns;
extern Registry<Db> dbs;

// ---- calls ----

// A JSON value for an error message: a string quoted, anything else by its type.
std::string Describe(const Json& j);
Result<Json> ParseJson(const std::string& text, const char* what);

// Runs an R call whose value is JSON text (see above). After a call that did not end
// in kMissingNode, buffer stores drop the blobs it decoded (BufferStore::Trim).
std::string RespondText(const std::function<Result<std::string>()>& f);

[[noreturn]] void ThrowJs(const std::string& message, const char* code);
// Inside a catch block: the caught exception's message and code (the code of a
// StatusError, InvalidArgument for std::invalid_argument, Internal otherwise).
void DescribeCaught(std::string* message, const char** code);

// Runs a non-R call; a C++ exception becomes a JS Error. The message is copied out of
// the handler first so nothing C++ is live when JS unwinds; one catch per
// instantiation keeps each export small (DescribeCaught is out of line).
template <class F>
auto Guard(F&& f) -> decltype(f()) {
  std::string message;
  const char* code;
  try {
    return f();
  } catch (...) {
    DescribeCaught(&message, &code);
  }
  ThrowJs(message, code);
}

template <class T>
T OrThrow(Result<T> r) {
  if (!r.ok()) throw StatusError(r.status());
  return std::move(r).value();
}

// A copy of `s` as a Uint8Array (out of the wasm heap).
emscripten::val Bytes(std::string_view s);

}  // namespace datalith::wasm
